/**
 * The breaker workflow on the real server, driven by signals, with a scripted probe activity and
 * a worker WITHOUT a workflow cache (every task replays the whole history, so a transition
 * exported again on replay, or a nondeterministic path, would show). Asserts on recorded
 * transitions and exported events, never on timing or transient states.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker, type InjectedSinks } from '@temporalio/worker';
import {
  BREAKER_MEMO_KEY,
  OUTCOMES_SIGNAL,
  SETTINGS_SIGNAL,
  type BreakerPublished,
  type BreakerSettings,
  type OutcomeBatch,
  type ProbePlan,
  type ProbeResult,
} from '../contracts/breaker';
import type { BreakerTransitionEvent, GatewaySinks } from '../workflows/sinks';
import { installRuntime } from '../shared/runtime';
import { testTemporalAddress } from './support/temporal';
import { waitFor } from './support/wait';

const SETTINGS: BreakerSettings = {
  windowMs: 60_000,
  bucketMs: 1_000,
  minCalls: 100,
  errorRateThreshold: 0.5,
  slowCallMs: 1_000,
  slowCallRateThreshold: 0.5,
  consecutiveFailures: 5,
  cooldownMs: 300,
  maxCooldownMs: 2_000,
  halfOpenTrials: 2,
  probes: true,
  probeIntervalMs: 60_000,
  probeOpenIntervalMs: 200,
  continueAsNewAfterEvents: 2_000,
  halfOpenTimeoutMs: 1_500,
  publishIntervalMs: 1_000,
  probeEvidence: 'model',
};

let client: Client;
let connection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `breaker-wf-${randomUUID()}`;
const exported: BreakerTransitionEvent[] = [];
const plans: Array<{ target: string; plan?: ProbePlan }> = [];
/** What the scripted probe answers, per target: pass, or fail with this error. */
const probeFails = new Map<string, string>();

before(async () => {
  installRuntime();
  const address = await testTemporalAddress();
  connection = await NativeConnection.connect({ address });
  client = new Client({ connection: await Connection.connect({ address }) });
  const sinks: InjectedSinks<GatewaySinks> = {
    gateway: { requestFinished: { fn: () => undefined }, breakerTransition: { fn: (_info, ev) => void exported.push(ev) } },
  };
  const bundle = process.env.STORMPROOF_WORKFLOW_BUNDLE;
  worker = await Worker.create({
    connection,
    taskQueue,
    ...(bundle ? { workflowBundle: { codePath: bundle } } : { workflowsPath: require.resolve('../workflows') }),
    activities: {
      async probeTarget(target: string, plan?: ProbePlan): Promise<ProbeResult> {
        plans.push({ target, plan });
        const error = probeFails.get(target);
        const models = (plan?.models ?? ['gpt-4o']).map((model) => ({
          model,
          ok: !error,
          calls: plan?.calls ?? 1,
          latencyMs: 5,
          ...(error ? { error } : {}),
        }));
        return { at: Date.now(), ok: !error, latencyMs: 5, evidence: 'model', models, ...(error ? { error } : {}) };
      },
    },
    sinks,
    maxCachedWorkflows: 0,
  });
  running = worker.run();
});

after(async () => {
  worker?.shutdown();
  await running;
  await connection?.close();
});

/** Starts a breaker of its own for one test. */
async function breaker(target: string, settings: Partial<BreakerSettings> = {}) {
  const handle = await client.workflow.start('breakerWorkflow', {
    taskQueue,
    workflowId: `breaker-${target}`,
    args: [{ target, settings: { ...SETTINGS, ...settings }, settingsHash: 'h0' }],
  });
  return handle;
}

const memo = async (h: { describe(): Promise<{ memo?: Record<string, unknown> }> }) =>
  (await h.describe()).memo?.[BREAKER_MEMO_KEY] as BreakerPublished | undefined;

function batch(o: Partial<OutcomeBatch>): OutcomeBatch {
  const runs = { failures: 0, successes: 0, trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 };
  return {
    worker: 'w',
    from: Date.now(),
    to: Date.now(),
    calls: 0,
    failures: 0,
    slow: 0,
    trailingFailures: 0,
    leadingFailures: 0,
    maxFailureRun: 0,
    byType: {},
    totalMs: 0,
    successes: 0,
    targetRuns: runs,
    byModel: {},
    ...o,
  };
}

const down = (n: number) =>
  batch({
    calls: n,
    failures: n,
    trailingFailures: n,
    leadingFailures: n,
    maxFailureRun: n,
    byType: { ProviderUnavailable: n },
    targetRuns: { failures: n, successes: 0, trailingFailures: n, leadingFailures: n, maxFailureRun: n },
  });

/** No workflow task failed in any run of this breaker (a nondeterminism error shows as one). */
async function noFailedTasks(workflowId: string): Promise<void> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const failed = history.events?.filter((e) => e.workflowTaskFailedEventAttributes) ?? [];
  assert.equal(failed.length, 0, JSON.stringify(failed.map((e) => e.workflowTaskFailedEventAttributes?.failure?.message)));
}

test('probe-decided recovery, exported once: every transition reaches the sink exactly once, in order, as the memo records it', async () => {
  const target = `t-${randomUUID().slice(0, 8)}`;
  const h = await breaker(target);
  probeFails.set(target, 'gpt-4o: no first token within 1000 ms');
  await h.signal(OUTCOMES_SIGNAL, down(5));
  // Probes fail while the fault lasts: half-open → open again at least once.
  await waitFor(
    async () => ((await memo(h))?.transitions ?? []).filter((t) => t.from === 'half-open' && t.to === 'open').length >= 1,
    'a failed half-open probe',
    20_000,
  );
  probeFails.delete(target);
  await waitFor(async () => (await memo(h))?.transitions.at(-1)?.to === 'closed', 'the probe to close it', 20_000);
  const view = (await memo(h))!;
  const recorded = view.transitions.map((t) => [t.seq, t.from, t.to, t.reason]);
  assert.deepEqual(recorded.slice(0, 2), [
    [1, 'closed', 'open', '5 failures in a row'],
    [2, 'open', 'half-open', 'cooldown elapsed'],
  ]);
  assert.match(
    String(view.transitions.find((t) => t.from === 'half-open' && t.to === 'open')?.reason),
    /^probe failed: gpt-4o: no first token/,
  );
  assert.match(String(view.transitions.at(-1)?.reason), /^known-answer probe passed/);
  // The export: the same transitions, each seq exactly once (the worker has no cache: every task replayed).
  await waitFor(() => exported.filter((e) => e.target === target).length >= recorded.length, 'the exports');
  const mine = exported.filter((e) => e.target === target);
  assert.deepEqual(
    mine.map((e) => [e.seq, e.from, e.to, e.reason]),
    recorded,
  );
  assert.deepEqual(
    mine.map((e) => e.trips),
    view.transitions.map((t) => t.trips),
  );
  // Every half-open probe asked for halfOpenTrials known-answer calls of every model.
  const halfOpenPlans = plans.filter((p) => p.target === target && p.plan?.calls === 2);
  assert.ok(
    halfOpenPlans.length >= 2 && halfOpenPlans.every((p) => p.plan?.allModels),
    JSON.stringify(plans.filter((p) => p.target === target)),
  );
  await noFailedTasks(h.workflowId);
});

test('settings sent to a running breaker apply at once and go along on continue-as-new, with the memo', async () => {
  const target = `t-${randomUUID().slice(0, 8)}`;
  const h = await breaker(target, { probes: false, continueAsNewAfterEvents: 60 });
  const firstRun = (await h.describe()).runId;
  await h.signal(SETTINGS_SIGNAL, {
    settings: { ...SETTINGS, probes: false, continueAsNewAfterEvents: 60, consecutiveFailures: 2 },
    hash: 'h1',
  });
  await waitFor(async () => (await memo(h))?.settingsHash === 'h1', 'the new settings hash in the memo');
  await h.signal(OUTCOMES_SIGNAL, down(2));
  await waitFor(async () => (await memo(h))?.transitions.at(-1)?.to === 'open', 'the breaker to open');
  assert.equal((await memo(h))?.transitions.at(-1)?.reason, '2 failures in a row', 'the new consecutiveFailures rule tripped it');
  await h.signal('override', 'reset');
  for (let i = 0; (await h.describe()).runId === firstRun; i++) {
    if (i > 200) throw new Error('no continue-as-new');
    await h.signal(
      OUTCOMES_SIGNAL,
      batch({
        calls: 1,
        successes: 1,
        targetRuns: { failures: 0, successes: 1, trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 },
      }),
    );
  }
  const history = await client.workflow.getHandle(h.workflowId).fetchHistory();
  const started = history.events![0].workflowExecutionStartedEventAttributes!;
  const input = JSON.parse(Buffer.from(started.input!.payloads![0].data!).toString());
  assert.equal(input.settings.consecutiveFailures, 2, 'the next run keeps the settings sent');
  assert.equal(input.settingsHash, 'h1');
  assert.ok(started.memo?.fields?.[BREAKER_MEMO_KEY], 'the memo goes along: a reader between the runs still sees the decision');
  await h.signal(OUTCOMES_SIGNAL, down(2));
  await waitFor(async () => (await memo(h))?.transitions.at(-1)?.to === 'open', 'the next run to trip on the new rule too');
  await noFailedTasks(h.workflowId);
});

test('one model failing while another answers opens that model only; its probe covers every model', async () => {
  const target = `t-${randomUUID().slice(0, 8)}`;
  const h = await breaker(target);
  const model = (calls: number, failures: number) => ({
    calls,
    failures,
    successes: calls - failures,
    trailingFailures: failures,
    leadingFailures: calls === failures ? failures : 0,
    maxFailureRun: failures,
  });
  await h.signal(
    OUTCOMES_SIGNAL,
    batch({
      calls: 8,
      failures: 5,
      byType: { ProviderServerError: 5 },
      successes: 3,
      targetRuns: { failures: 0, successes: 3, trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 },
      byModel: { 'gpt-4o': model(5, 5), 'gpt-4o-mini': model(3, 0) },
    }),
  );
  await waitFor(async () => (await memo(h))?.models?.['gpt-4o']?.transitions.some((t) => t.to === 'open') === true, 'gpt-4o to open');
  const view = (await memo(h))!;
  assert.equal(view.state, 'closed');
  assert.deepEqual(view.transitions, []);
  assert.equal(view.models?.['gpt-4o-mini']?.state, 'closed');
  await waitFor(() => plans.some((p) => p.target === target && p.plan?.allModels === true), 'a probe of every model');
  await waitFor(
    () => exported.some((e) => e.target === target && e.model === 'gpt-4o' && e.to === 'open'),
    'the model transition exported',
  );
  await noFailedTasks(h.workflowId);
});

test('trials mode: no trial result by the deadline sends it back to open, the trip count unchanged', async () => {
  const target = `t-${randomUUID().slice(0, 8)}`;
  const h = await breaker(target, { probes: false });
  await h.signal(OUTCOMES_SIGNAL, down(5));
  await waitFor(
    async () => ((await memo(h))?.transitions ?? []).some((t) => t.reason.startsWith('no decision')),
    'the half-open deadline',
    15_000,
  );
  const t = (await memo(h))!.transitions;
  const i = t.findIndex((x) => x.reason.startsWith('no decision'));
  assert.deepEqual([t[i - 1].to, t[i].from, t[i].to, t[i].trips], ['half-open', 'half-open', 'open', 1]);
  await noFailedTasks(h.workflowId);
});
