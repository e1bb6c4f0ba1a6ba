/**
 * The traffic manager end to end: breakers open under a hard-down primary with zero client
 * errors, close after recovery, trip on slow calls, honour 429 cool-downs and operator overrides,
 * keep their state across a gateway restart and keep their history bounded under load.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallOutcome } from '../activities';
import { BREAKER_MEMO_KEY, type BreakerPublished } from '../contracts/breaker';
import { startGateway } from '../scripts/gateway';
import { breakerIdFor, breakerInput } from '../shared/breakers';
import { waitFor } from './support/wait';
import { chat, startTestStack, type TestStack } from './support/stack';
import { parseConfig } from '../config/load';

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';

let s: TestStack;
/** Every outcome the worker recorded, with when (the worker runs in this process: one clock). */
const seen: Array<{ o: CallOutcome; at: number }> = [];
before(async () => {
  s = await startTestStack({
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
        probes: true,
        probeIntervalMs: 60_000,
        probeOpenIntervalMs: 300,
        windowMs: 20_000,
        bucketMs: 1_000,
      };
      raw.routing = { ...raw.routing, flushIntervalMs: 200, refreshIntervalMs: 200 };
      raw.timeouts = { ...raw.timeouts, callMs: 10_000 };
    },
  });
  const record = s.gateway.routing.record.bind(s.gateway.routing);
  s.gateway.routing.record = (o) => {
    seen.push({ o, at: Date.now() });
    record(o);
  };
});
after(async () => {
  await s?.close();
});

const submit = (request: unknown, extra?: Record<string, unknown>) => s.submitJob(request, extra);

async function provider(id: string) {
  const res = await s.api(`/v1/providers/${id}`);
  assert.equal(res.status, 200);
  return res.body;
}

async function waitForState(id: string, state: string, timeoutMs = 15_000, forced?: string): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const b = (await provider(id)).breaker;
    if (b.state === state && b.forced === forced) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`breaker of ${id} not ${state} after ${timeoutMs} ms: ${JSON.stringify(await provider(id))}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function reset(id: string): Promise<void> {
  for (const m of Object.values(s.mocks)) {
    m.clearFaults();
    m.resetStats();
  }
  s.gateway.routing.quota.clearCoolDowns();
  const at = Date.now();
  assert.equal((await s.api(`/v1/providers/${id}/breaker`, { method: 'POST', json: { action: 'reset' } })).status, 202);
  const t0 = Date.now();
  for (;;) {
    const p = await provider(id);
    // A reset probes at once: wait for that probe too, so the next fault is met by calls, not by it.
    // (Not for an empty window: an outcome batch of the last test may still land after the reset.)
    const probed = p.health.lastProbeAt !== undefined && Date.parse(p.health.lastProbeAt) >= at;
    if (p.breaker.state === 'closed' && !p.breaker.forced && p.health.healthy && p.breaker.trips === 0 && probed) return;
    if (Date.now() - t0 > 10_000) throw new Error(`reset of ${id} not visible: ${JSON.stringify(p)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Transition = { at: string; from: string; to: string; reason: string };

/** The primary's recorded transitions (the target's, or one model's) since `since`. */
async function transitionsSince(since: number, model?: string): Promise<Transition[]> {
  const b = (await provider(PRIMARY)).breaker;
  const list: Transition[] = model ? (b.models?.[model]?.transitions ?? []) : b.recentTransitions;
  return list.filter((t) => Date.parse(t.at) >= since);
}

/** Waits until a transition matching `match` is recorded since `since`; returns it. */
async function recorded(
  since: number,
  match: (t: Transition) => boolean,
  what: string,
  model?: string,
  timeoutMs = 20_000,
): Promise<Transition> {
  let found: Transition | undefined;
  await waitFor(async () => (found = (await transitionsSince(since, model)).find(match)) !== undefined, what, timeoutMs);
  return found!;
}

/** Trips the primary with a hard-down fault under load; returns when the trip is recorded. */
async function tripDown(text: string): Promise<number> {
  const since = Date.now();
  s.mocks[PRIMARY].setFaults({ down: true });
  await load(6, 20, text);
  await recorded(since, (t) => t.from === 'closed' && t.to === 'open', 'the primary to trip');
  return since;
}

/** Runs `count` requests at about `perSecond`, returning their final views. */
async function load(count: number, perSecond: number, text: string) {
  const jobs: Array<Promise<any>> = [];
  for (let i = 0; i < count; i++) {
    jobs.push(submit(chat('gpt-4o', `${text} ${i}`)).then((id) => s.waitForJob(id, 60_000)));
    await new Promise((r) => setTimeout(r, 1000 / perSecond));
  }
  return Promise.all(jobs);
}

test('primary hard down under load: zero client errors, the breaker opens, then new requests skip the dead target', async () => {
  await reset(PRIMARY);
  const warm = load(10, 20, 'warm');
  await new Promise((r) => setTimeout(r, 200));
  s.mocks[PRIMARY].setFaults({ down: true });
  const faultAt = Date.now();
  const jobs = [...(await warm), ...(await load(20, 20, 'during'))];
  assert.deepEqual(
    jobs.filter((j) => j.status !== 'completed'),
    [],
    'no client-visible failure',
  );
  await waitForState(PRIMARY, 'open');
  const view = await provider(PRIMARY);
  const trip = view.breaker.recentTransitions.find((t: any) => t.from === 'closed' && t.to === 'open');
  assert.match(trip.reason, /failures in a row|error rate/);
  console.log(`[breaker] opened ${Date.parse(trip.at) - faultAt} ms after the fault (${trip.reason})`);
  s.mocks[PRIMARY].resetStats();
  const later = await load(10, 20, 'after');
  assert.ok(
    later.every((j) => j.status === 'completed' && j.attempts.length === 1 && j.attempts[0].target === SECONDARY),
    JSON.stringify(later.map((j) => j.attempts)),
  );
  assert.equal(s.mocks[PRIMARY].stats().requests, 0, 'no wasted attempt on the open target');
});

test('fault removed: half-open, a passing probe or trial calls close it, and traffic returns', async () => {
  // Continues from the open breaker of the previous test if it ran; else open it by hand.
  if ((await provider(PRIMARY)).breaker.state !== 'open') {
    s.mocks[PRIMARY].setFaults({ down: true });
    await load(8, 20, 'trip');
    await waitForState(PRIMARY, 'open');
  }
  s.mocks[PRIMARY].clearFaults();
  const closedAfter = await waitForState(PRIMARY, 'closed', 20_000);
  const transitions = (await provider(PRIMARY)).breaker.recentTransitions.map((t: any) => t.to);
  assert.deepEqual(transitions.slice(-2), ['half-open', 'closed']);
  console.log(`[breaker] closed ${closedAfter} ms after recovery`);
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'back again')));
  assert.equal(job.result?.target, PRIMARY);
  await reset(PRIMARY);
});

test('latency spike: the slow-call rule trips the breaker and new requests are fast again', async () => {
  await reset(PRIMARY);
  s.mocks[PRIMARY].setFaults({ latencyMs: 3_000 });
  const since = Date.now();
  const slow = load(8, 20, 'slow');
  // The trip is a recorded transition: waiting for the state "open" could miss it once the short
  // cooldown has moved the breaker on to half-open. (Earlier tests' transitions are older.)
  const tripped = async () =>
    (await provider(PRIMARY)).breaker.recentTransitions.find(
      (t: any) => t.from === 'closed' && t.to === 'open' && Date.parse(t.at) >= since,
    );
  await waitFor(async () => (await tripped()) !== undefined, 'the primary to trip', 10_000);
  assert.match((await tripped()).reason, /slow-call rate/);
  const fast = await s.waitForJob(await submit(chat('gpt-4o', 'fast please')));
  assert.equal(fast.result?.target, SECONDARY, 'the open primary is skipped');
  assert.equal(fast.attempts.length, 1, JSON.stringify(fast.attempts));
  assert.ok((await slow).every((j) => j.status === 'completed'));
  await reset(PRIMARY);
});

test('429 storm with Retry-After: steered away for that long, and the breaker does not count it as failure', async () => {
  await reset(PRIMARY);
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 429, retryAfterS: 30 });
  const jobs: Array<Promise<{ submittedAt: number; view: any }>> = [];
  for (let i = 0; i < 10; i++) {
    const submittedAt = Date.now();
    jobs.push(submit(chat('gpt-4o', `storm ${i}`)).then(async (id) => ({ submittedAt, view: await s.waitForJob(id, 60_000) })));
    await new Promise((r) => setTimeout(r, 50));
  }
  const done = await Promise.all(jobs);
  assert.ok(done.every((j) => j.view.status === 'completed'));
  // Causality, not timing: once this worker recorded the first 429, no request submitted after it
  // tries the primary (those already in flight may).
  const first429 = seen.find((x) => x.o.target === PRIMARY && x.o.outcome === 'ProviderRateLimited')?.at;
  assert.ok(first429 !== undefined, 'the primary answered 429');
  const late = done.filter((j) => j.submittedAt > first429 && j.view.attempts.some((a: any) => a.target === PRIMARY));
  assert.deepEqual(
    late.map((j) => j.view.attempts),
    [],
    'no request submitted after the first 429 tried the primary',
  );
  await waitFor(async () => (await provider(PRIMARY)).quota.coolDownUntil !== undefined, 'the cool-down to be visible to the operator');
  assert.equal((await provider(PRIMARY)).breaker.state, 'closed');
  assert.equal((await provider(PRIMARY)).window.consecutiveFailures, 0, 'a 429 is no failure');
  await reset(PRIMARY);
});

test('operator overrides: force open, force close, reset', async () => {
  await reset(PRIMARY);
  const post = (action: string) => s.api(`/v1/providers/${PRIMARY}/breaker`, { method: 'POST', json: { action } });
  assert.equal((await post('explode')).status, 400);
  assert.equal((await s.api('/v1/providers/nope/breaker', { method: 'POST', json: { action: 'open' } })).status, 404);
  assert.equal((await post('open')).status, 202);
  await waitForState(PRIMARY, 'open', 5_000, 'open');
  assert.equal((await provider(PRIMARY)).breaker.forced, 'open');
  const skipped = await s.waitForJob(await submit(chat('gpt-4o', 'forced open')));
  assert.deepEqual(
    skipped.attempts.map((a) => a.target),
    [SECONDARY],
  );
  // Forced close holds even under failures.
  assert.equal((await post('close')).status, 202);
  await waitForState(PRIMARY, 'closed', 5_000, 'close');
  s.mocks[PRIMARY].setFaults({ down: true });
  await load(8, 20, 'forced closed');
  await new Promise((r) => setTimeout(r, 600));
  assert.equal((await provider(PRIMARY)).breaker.state, 'closed');
  assert.equal((await provider(PRIMARY)).breaker.forced, 'close');
  await reset(PRIMARY);
  assert.equal((await provider(PRIMARY)).breaker.forced, undefined);
});

test('a gateway restart keeps the breaker state (it lives in Temporal)', async () => {
  await reset(PRIMARY);
  await s.api(`/v1/providers/${PRIMARY}/breaker`, { method: 'POST', json: { action: 'open' } });
  await waitForState(PRIMARY, 'open', 5_000, 'open');
  const second = await startGateway({ config: s.config, apiPort: 0, taskQueue: s.gateway.taskQueue });
  try {
    let body: any;
    const t0 = Date.now();
    do {
      body = await (await fetch(`${second.apiUrl}/v1/providers/${PRIMARY}`)).json();
      if (body.breaker.state !== 'unknown') break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() - t0 < 5_000);
    assert.equal(body.breaker.state, 'open');
    assert.equal(body.breaker.forced, 'open');
  } finally {
    await second.stop();
  }
  await reset(PRIMARY);
});

test('high request volume: one signal per flush interval, bounded history, continue-as-new keeps state', async () => {
  await reset(PRIMARY);
  const handle = s.gateway.client.workflow.getHandle(breakerIdFor(s.config, PRIMARY));
  const runBefore = (await handle.describe()).runId;
  const sentBefore = s.gateway.routing.batcher.sent;
  // 2,000 outcomes recorded in about one second: what the workers would see at 2,000 req/s.
  const t0 = Date.now();
  for (let i = 0; i < 2_000; i++) {
    s.gateway.routing.record({ target: PRIMARY, model: 'gpt-4o', outcome: 'ok', durationMs: 20, streaming: false });
    if (i % 200 === 0) await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 600));
  const elapsed = Date.now() - t0;
  const signals = s.gateway.routing.batcher.sent - sentBefore;
  const bound = Math.ceil(elapsed / s.config.routing.flushIntervalMs) * s.config.targets.length + 2;
  console.log(`[breaker] 2000 outcomes in ${elapsed} ms → ${signals} signal(s) (bound ${bound})`);
  assert.ok(signals <= bound, `${signals} signals for 2000 outcomes`);
  const view = (await handle.describe()).memo?.[BREAKER_MEMO_KEY] as BreakerPublished;
  assert.ok(view.window.calls >= 2_000, `the window counted every outcome (${view.window.calls})`);
  const history = await handle.fetchHistory();
  assert.ok((history.events?.length ?? 0) < s.config.breaker.continueAsNewAfterEvents);
  assert.equal((await handle.describe()).runId, runBefore, 'far below the continue-as-new bound');
});

test('one model down (gpt-4o answers 503, gpt-4o-mini works): only that model opens, the target keeps serving the other', async () => {
  await reset(PRIMARY);
  const since = Date.now();
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o'] });
  const jobs = await load(8, 20, 'model outage');
  assert.deepEqual(
    jobs.filter((j) => j.status !== 'completed'),
    [],
    'no client-visible failure',
  );
  const opened = await recorded(since, (t) => t.from === 'closed' && t.to === 'open', 'gpt-4o to open', 'gpt-4o');
  assert.match(opened.reason, /failures in a row|error rate/);
  assert.deepEqual(await transitionsSince(since), [], 'the target itself never moved');
  const mini = await s.waitForJob(await submit(chat('gpt-4o-mini', 'mini still served')));
  assert.deepEqual(
    mini.attempts.map((a) => [a.target, a.model, a.outcome]),
    [[PRIMARY, 'gpt-4o-mini', 'ok']],
  );
  const big = await s.waitForJob(await submit(chat('gpt-4o', 'skips the broken model')));
  assert.equal(big.status, 'completed');
  assert.deepEqual(
    big.attempts.map((a) => a.target),
    [SECONDARY],
    'gpt-4o on the primary is only a last resort',
  );
  await reset(PRIMARY);
});

test('up but useless (a 200 with garbage): the known-answer probe keeps the breaker from closing until answers are right', async () => {
  await reset(PRIMARY);
  const since = await tripDown('garbage trip');
  // The primary is reachable again and its health endpoint passes, but its answers are garbage.
  s.mocks[PRIMARY].setFaults({ garbageAnswers: true });
  const kept = await recorded(
    since,
    (t) => t.from === 'half-open' && t.to === 'open' && /known-answer check/.test(t.reason),
    'a failed known-answer probe',
  );
  s.mocks[PRIMARY].clearFaults();
  const closed = await recorded(Date.parse(kept.at), (t) => t.from === 'half-open' && t.to === 'closed', 'the probe to close it');
  assert.match(closed.reason, /^known-answer probe passed \(\d+ call\(s\) of gpt-4o/);
  assert.equal((await transitionsSince(since)).filter((t) => t.to === 'closed').length, 1, 'never closed while the answers were garbage');
  await reset(PRIMARY);
});

test('slow first token: streamed probes keep it open, and no user request is spent checking for recovery', async () => {
  await reset(PRIMARY);
  const since = await tripDown('ttft trip');
  s.mocks[PRIMARY].setFaults({ ttftMs: 5_000 });
  const during: Array<Promise<any>> = [];
  const failedProbe = recorded(
    since,
    (t) => t.from === 'half-open' && t.to === 'open' && /no first token within 400 ms/.test(t.reason),
    'a probe failing on its first token',
  );
  let done = false;
  void failedProbe.finally(() => (done = true));
  while (!done) {
    during.push(submit(chat('gpt-4o', `during ${during.length}`, { stream: true })).then((id) => s.waitForJob(id, 60_000)));
    await new Promise((r) => setTimeout(r, 250));
  }
  const kept = await failedProbe;
  const jobs = await Promise.all(during);
  assert.deepEqual(
    jobs.filter((j) => j.status !== 'completed'),
    [],
  );
  assert.deepEqual(
    jobs.filter((j) => j.attempts.some((a: any) => a.target === PRIMARY)).map((j) => j.attempts),
    [],
    'no trial call while half-open: the probe decides',
  );
  s.mocks[PRIMARY].clearFaults();
  await recorded(Date.parse(kept.at), (t) => t.from === 'half-open' && t.to === 'closed', 'the probe to close it');
  await reset(PRIMARY);
});

test('a stream with no first token is the target’s stall, not a 5xx of its model (a latency fault is the target’s)', async () => {
  await reset(PRIMARY);
  const since = Date.now();
  s.mocks[PRIMARY].setFaults({ ttftMs: 5_000 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'first token?', { stream: true })), 60_000);
  assert.equal(job.status, 'completed');
  const mine = seen.filter((x) => x.at >= since && x.o.target === PRIMARY && !x.o.inFlight).map((x) => x.o.outcome);
  assert.ok(mine.includes('ProviderStalled'), JSON.stringify(mine));
  assert.ok(!mine.includes('ProviderServerError'), `the SDK's abort error is not taken for a 5xx: ${JSON.stringify(mine)}`);
  await waitFor(async () => (await provider(PRIMARY)).window.consecutiveFailures >= 1, 'the target’s run of failures to count it');
  await reset(PRIMARY);
});

// Last: it replaces the stack's gateway, as a rolling restart with an edited config would.
test('a config change of breaker.* reaches the running breaker: the restarted worker sends its settings', async () => {
  await reset(PRIMARY);
  const runId = (await s.gateway.client.workflow.getHandle(breakerIdFor(s.config, PRIMARY)).describe()).runId;
  const edited = parseConfig(
    { ...structuredClone(s.config), breaker: { ...s.config.breaker, consecutiveFailures: 2, minCalls: 1_000 } },
    'test',
  );
  const expected = breakerInput(edited, PRIMARY).settingsHash;
  assert.notEqual(expected, breakerInput(s.config, PRIMARY).settingsHash);
  await s.gateway.stop();
  const next = await startGateway({ config: edited, apiPort: 0, taskQueue: s.gateway.taskQueue });
  const handle = next.client.workflow.getHandle(breakerIdFor(s.config, PRIMARY));
  try {
    const memo = async () => (await handle.describe()).memo?.[BREAKER_MEMO_KEY] as BreakerPublished;
    await waitFor(async () => (await memo()).settingsHash === expected, 'the breaker to take the new settings');
    assert.equal((await handle.describe()).runId, runId, 'the same run: no restart of the breaker needed');
    const since = Date.now();
    s.mocks[PRIMARY].setFaults({ down: true });
    const job = (text: string) =>
      fetch(`${next.apiUrl}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ request: chat('gpt-4o', text) }),
      });
    // Sequential: each job costs the primary one failed call (connection refused), then fails over.
    for (let i = 0; i < 3; i++) {
      const { id } = (await (await job(`settings ${i}`)).json()) as { id: string };
      await waitFor(
        async () =>
          ['completed', 'failed'].includes(((await (await fetch(`${next.apiUrl}/v1/jobs/${id}`)).json()) as { status: string }).status),
        `job ${id}`,
      );
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitFor(async () => (await memo()).transitions.some((t) => t.at >= since && t.to === 'open'), 'the breaker to trip');
    const trip = (await memo()).transitions.find((t) => t.at >= since && t.to === 'open')!;
    const run = Number(/^(\d+) failures in a row$/.exec(trip.reason)?.[1]);
    assert.ok(run >= 2 && run < 4, `tripped by the new rule (2 in a row), not the old one (4): ${trip.reason}`);
  } finally {
    s.mocks[PRIMARY].clearFaults();
    await next.stop();
  }
});
