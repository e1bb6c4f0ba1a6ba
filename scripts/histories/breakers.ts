/**
 * Breaker-workflow paths (breakerWorkflow, long-running): trip and recovery by probe or by trial
 * calls, a failed trial, the slow-call rule, operator overrides, continue-as-new; and (rules
 * revision 3) a one-model outage, a known-answer probe failing on garbage, the half-open deadline,
 * settings sent to a running breaker. Each scenario
 * runs on a stack of its own, so the breaker's history holds that path only. Breakers never end:
 * the worker is stopped and the history taken as it stands, as a new deployment would replay it.
 */
import { parseConfig } from '../../config/load';
import { BREAKER_MEMO_KEY, type BreakerPublished } from '../../contracts/breaker';
import { breakerIdFor, breakerInput } from '../../shared/breakers';
import { startGateway } from '../gateway';
import { chat, type TestStack, type TestStackOptions } from '../../test/support/stack';
import { job, waitFor, type RecordedRun, type Scenario, type ScenarioContext } from './scenario';

const PRIMARY = 'openai-us-east-1';

function breakerStack(ctx: ScenarioContext, breaker: Record<string, unknown> = {}, more?: TestStackOptions['edit']): Promise<TestStack> {
  return ctx.fresh({
    edit(raw) {
      raw.breaker = {
        minCalls: 6,
        errorRateThreshold: 0.3,
        consecutiveFailures: 4,
        slowCallMs: 400,
        slowCallRateThreshold: 0.5,
        cooldownMs: 1_000,
        maxCooldownMs: 8_000,
        halfOpenTrials: 2,
        probes: false,
        probeIntervalMs: 60_000,
        probeOpenIntervalMs: 300,
        windowMs: 20_000,
        bucketMs: 1_000,
        ...breaker,
      };
      raw.routing = { ...raw.routing, flushIntervalMs: 200, refreshIntervalMs: 200 };
      raw.timeouts = { ...raw.timeouts, callMs: 10_000 };
      more?.(raw);
    },
  });
}

async function breaker(s: TestStack): Promise<{ state: string; forced?: string }> {
  return (await s.api(`/v1/providers/${PRIMARY}`)).body.breaker;
}

async function state(s: TestStack, want: string, forced?: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      const b = await breaker(s);
      return b.state === want && b.forced === forced;
    },
    `breaker of ${PRIMARY} to be ${want}${forced ? ` (forced ${forced})` : ''}`,
    timeoutMs,
  );
}

/** Rounds of 8 jobs at ~20/s until the primary's breaker opens. */
async function tripByLoad(s: TestStack, text: string): Promise<void> {
  for (let round = 0; round < 5; round++) {
    const jobs: Array<Promise<unknown>> = [];
    for (let i = 0; i < 8; i++) {
      jobs.push(job(s, chat('gpt-4o', `${text} ${round}.${i}`), 'completed'));
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(jobs);
    if (
      await state(s, 'open', undefined, 3_000).then(
        () => true,
        () => false,
      )
    )
      return;
  }
  await state(s, 'open');
}

/** Stops the worker (the breaker keeps running in Temporal) and names its latest run. */
async function taken(s: TestStack): Promise<RecordedRun> {
  // A moment for the last outcome batch and memo update, then no worker touches the history.
  await new Promise((r) => setTimeout(r, 500));
  await s.gateway.stop();
  return { workflowId: breakerIdFor(s.config, PRIMARY) };
}

const override = (s: TestStack, action: string) => s.api(`/v1/providers/${PRIMARY}/breaker`, { method: 'POST', json: { action } });

export const breakerScenarios: Scenario[] = [
  {
    name: 'breaker-recovered-by-probe',
    describe: 'primary down under load: closed → open; probes fail while down; fault cleared: half-open → closed by a passing probe',
    fixtures: ['breaker-open-half-open-closed-by-probe'],
    async run(ctx) {
      const s = await breakerStack(ctx, { probes: true });
      s.mocks[PRIMARY].setFaults({ down: true });
      await tripByLoad(s, 'trip');
      await new Promise((r) => setTimeout(r, 700)); // a failing probe or two while open
      s.mocks[PRIMARY].clearFaults();
      await state(s, 'closed');
      return { 'breaker-open-half-open-closed-by-probe': await taken(s) };
    },
  },
  {
    name: 'breaker-recovered-by-trials',
    describe: 'no probes: open → half-open after the cooldown → closed by successful trial calls',
    fixtures: ['breaker-closed-by-trial-calls'],
    async run(ctx) {
      const s = await breakerStack(ctx);
      s.mocks[PRIMARY].setFaults({ down: true });
      await tripByLoad(s, 'trip');
      s.mocks[PRIMARY].clearFaults();
      await state(s, 'half-open');
      for (let i = 0; i < 4 && (await breaker(s)).state !== 'closed'; i++) await job(s, chat('gpt-4o', `trial ${i}`), 'completed');
      await state(s, 'closed');
      return { 'breaker-closed-by-trial-calls': await taken(s) };
    },
  },
  {
    name: 'breaker-trial-fails',
    describe: 'no probes: half-open, the trial call fails → open again (with a longer cooldown)',
    fixtures: ['breaker-half-open-trial-fails'],
    async run(ctx) {
      const s = await breakerStack(ctx);
      s.mocks[PRIMARY].setFaults({ down: true });
      await tripByLoad(s, 'trip');
      await state(s, 'half-open');
      await job(s, chat('gpt-4o', 'trial'), 'completed');
      await state(s, 'open');
      return { 'breaker-half-open-trial-fails': await taken(s) };
    },
  },
  {
    name: 'breaker-slow-calls',
    describe: 'a latency spike: the slow-call rule opens the breaker while calls still hang',
    fixtures: ['breaker-slow-call-trip'],
    async run(ctx) {
      const s = await breakerStack(ctx);
      s.mocks[PRIMARY].setFaults({ latencyMs: 2_000 });
      const jobs: Array<Promise<unknown>> = [];
      for (let i = 0; i < 8; i++) {
        jobs.push(job(s, chat('gpt-4o', `slow ${i}`), 'completed'));
        await new Promise((r) => setTimeout(r, 50));
      }
      await state(s, 'open', undefined, 10_000);
      await Promise.all(jobs);
      return { 'breaker-slow-call-trip': await taken(s) };
    },
  },
  {
    name: 'breaker-operator-override',
    describe: 'operator forces open, then close (holds under failures), then reset',
    fixtures: ['breaker-operator-override'],
    async run(ctx) {
      const s = await breakerStack(ctx);
      await state(s, 'closed');
      await override(s, 'open');
      await state(s, 'open', 'open');
      await job(s, chat('gpt-4o', 'forced open'), 'completed');
      await override(s, 'close');
      await state(s, 'closed', 'close');
      s.mocks[PRIMARY].setFaults({ down: true });
      for (let i = 0; i < 5; i++) await job(s, chat('gpt-4o', `forced closed ${i}`), 'completed');
      s.mocks[PRIMARY].clearFaults();
      await override(s, 'reset');
      await state(s, 'closed');
      return { 'breaker-operator-override': await taken(s) };
    },
  },
  {
    name: 'breaker-continue-as-new',
    describe: 'continueAsNewAfterEvents 50: outcome batches until the breaker continues as new; both runs',
    fixtures: ['breaker-continue-as-new-first-run', 'breaker-continue-as-new-next-run'],
    async run(ctx) {
      const s = await breakerStack(
        ctx,
        { continueAsNewAfterEvents: 50, probes: true, probeIntervalMs: 1_000 },
        (raw) => (raw.routing = { ...raw.routing, flushIntervalMs: 100 }),
      );
      const handle = ctx.client.workflow.getHandle(breakerIdFor(s.config, PRIMARY));
      await waitFor(async () => (await handle.describe().catch(() => undefined)) !== undefined, 'the breaker to start');
      const firstRunId = (await handle.describe()).runId;
      let i = 0;
      const record = () =>
        s.gateway.routing.record({
          target: PRIMARY,
          model: 'gpt-4o',
          outcome: i++ % 5 === 0 ? 'ProviderServerError' : 'ok',
          durationMs: 20,
          streaming: false,
        });
      let nextRunId = firstRunId;
      await waitFor(
        async () => {
          record();
          await new Promise((r) => setTimeout(r, 60));
          nextRunId = (await handle.describe()).runId;
          return nextRunId !== firstRunId;
        },
        'the breaker to continue as new',
        60_000,
      );
      // A few more batches into the next run (it starts from the carried state), then an override.
      for (let k = 0; k < 3; k++) {
        record();
        await new Promise((r) => setTimeout(r, 120));
      }
      await override(s, 'open');
      await state(s, 'open', 'open');
      const { workflowId } = await taken(s);
      return {
        'breaker-continue-as-new-first-run': { workflowId, runId: firstRunId },
        'breaker-continue-as-new-next-run': { workflowId, runId: nextRunId },
      };
    },
  },
  {
    name: 'breaker-model-outage',
    describe:
      'gpt-4o answers 503 while gpt-4o-mini works: the gpt-4o cell opens (not the target), the probe covers both models; fault cleared: the model closes by probe',
    fixtures: ['breaker-model-outage'],
    async run(ctx) {
      const s = await breakerStack(ctx, { probes: true });
      s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o'] });
      const jobs: Array<Promise<unknown>> = [];
      for (let i = 0; i < 8; i++) {
        jobs.push(job(s, chat(i % 2 ? 'gpt-4o-mini' : 'gpt-4o', `model ${i}`), 'completed'));
        await new Promise((r) => setTimeout(r, 50));
      }
      await Promise.all(jobs);
      const model = async () => (await s.api(`/v1/providers/${PRIMARY}`)).body.breaker.models?.['gpt-4o'];
      await waitFor(async () => (await model())?.state === 'open', 'gpt-4o to open', 20_000);
      s.mocks[PRIMARY].clearFaults();
      await waitFor(
        async () => (await model())?.transitions.some((t: { to: string }) => t.to === 'closed') === true,
        'gpt-4o to close',
        20_000,
      );
      return { 'breaker-model-outage': await taken(s) };
    },
  },
  {
    name: 'breaker-probe-garbage',
    describe:
      'down: open; up again with garbage answers: the half-open known-answer probe fails (open again); answers right: closed by probe',
    fixtures: ['breaker-probe-known-answer-fails'],
    async run(ctx) {
      const s = await breakerStack(ctx, { probes: true });
      s.mocks[PRIMARY].setFaults({ down: true });
      await tripByLoad(s, 'trip');
      s.mocks[PRIMARY].setFaults({ garbageAnswers: true });
      const reasons = async () =>
        ((await s.api(`/v1/providers/${PRIMARY}`)).body.breaker.recentTransitions as Array<{ reason: string }>).map((t) => t.reason);
      await waitFor(async () => (await reasons()).some((r) => /known-answer check/.test(r)), 'a failed known-answer probe', 20_000);
      s.mocks[PRIMARY].clearFaults();
      await state(s, 'closed');
      return { 'breaker-probe-known-answer-fails': await taken(s) };
    },
  },
  {
    name: 'breaker-half-open-deadline',
    describe: 'no probes, no traffic: half-open after the cooldown, no trial result by halfOpenTimeoutMs: open again (same trip count)',
    fixtures: ['breaker-half-open-deadline'],
    async run(ctx) {
      const s = await breakerStack(ctx, { halfOpenTimeoutMs: 1_000 });
      s.mocks[PRIMARY].setFaults({ down: true });
      await tripByLoad(s, 'trip');
      const reasons = async () =>
        ((await s.api(`/v1/providers/${PRIMARY}`)).body.breaker.recentTransitions as Array<{ reason: string }>).map((t) => t.reason);
      await waitFor(async () => (await reasons()).some((r) => r.startsWith('no decision')), 'the half-open deadline', 20_000);
      return { 'breaker-half-open-deadline': await taken(s) };
    },
  },
  {
    name: 'breaker-settings-signal',
    describe:
      'the worker restarts with other breaker.* settings and sends them: the running breaker applies them (a trip at 2 failures in a row)',
    fixtures: ['breaker-settings-signal'],
    async run(ctx) {
      const s = await breakerStack(ctx);
      await state(s, 'closed');
      const edited = parseConfig({ ...structuredClone(s.config), breaker: { ...s.config.breaker, consecutiveFailures: 2 } }, 'histories');
      const workflowId = breakerIdFor(s.config, PRIMARY);
      const memo = async () => (await ctx.client.workflow.getHandle(workflowId).describe()).memo?.[BREAKER_MEMO_KEY] as BreakerPublished;
      // A rolling restart with the edited config: the new worker sees another settings hash and sends its own.
      await s.gateway.stop();
      const next = await startGateway({ config: edited, apiPort: 0, taskQueue: s.gateway.taskQueue });
      ctx.defer(() => next.stop());
      const expected = breakerInput(edited, PRIMARY).settingsHash;
      await waitFor(async () => (await memo()).settingsHash === expected, 'the breaker to take the new settings', 20_000);
      s.mocks[PRIMARY].setFaults({ down: true });
      for (let i = 0; i < 3 && (await memo()).state !== 'open'; i++) {
        const res = await fetch(`${next.apiUrl}/v1/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ request: chat('gpt-4o', `settings ${i}`) }),
        });
        const { id } = (await res.json()) as { id: string };
        await waitFor(
          async () => ((await (await fetch(`${next.apiUrl}/v1/jobs/${id}`)).json()) as { status: string }).status === 'completed',
          `job ${id}`,
          30_000,
        );
        await new Promise((r) => setTimeout(r, 300));
      }
      await waitFor(async () => (await memo()).state === 'open', 'the breaker to open at the new threshold', 20_000);
      await new Promise((r) => setTimeout(r, 500));
      await next.stop();
      return { 'breaker-settings-signal': { workflowId } };
    },
  },
];
