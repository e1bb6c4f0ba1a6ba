/**
 * Deadlines, timeouts and hedging, end to end at the defaults except the one knob under test:
 * a silent target costs one timeout (reported as a failure), never retries of the same silence;
 * a slow target is hedged; no try starts after the request's budget is spent.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallOutcome } from '../activities';
import { chat, startTestStack, tapOutcomes, type TestStack } from './support/stack';
import { waitFor } from './support/wait';

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';

let s: TestStack;
/** A second stack that hedges after 200 ms. */
let h: TestStack;
const outcomes: CallOutcome[] = [];

before(async () => {
  s = await startTestStack({ edit: (raw) => void (raw.timeouts = { ...raw.timeouts, callMs: 800 }) });
  h = await startTestStack({ edit: (raw) => void (raw.routing = { ...raw.routing, hedgeAfterMs: 200 }) });
  tapOutcomes(s, outcomes);
  tapOutcomes(h, outcomes);
});
after(async () => {
  await s?.close();
  await h?.close();
});
afterEach(() => {
  s.resetFaults();
  h.resetFaults();
  outcomes.length = 0;
});

test('a silent target times out once and fails over: no retry of the silence, reported as a timeout', async () => {
  s.mocks[PRIMARY].setFaults({ latencyMs: 60_000 });
  const job = await s.runJob(chat('gpt-4o', 'anyone?'));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'ProviderTimeout'],
      [SECONDARY, 'ok'],
    ],
  );
  assert.equal(s.mocks[PRIMARY].stats().requests, 1, 'one try of a silent target, not three');
  // The breaker hears a timeout (a failure), not a cancellation it would ignore.
  assert.deepEqual(
    outcomes.filter((o) => o.target === PRIMARY && !o.inFlight).map((o) => o.outcome),
    ['ProviderTimeout'],
  );
});

test('the request budget bounds the whole chain: no try starts after latencySloMs is spent', async () => {
  for (const m of Object.values(s.mocks)) m.setFaults({ latencyMs: 60_000 });
  const t0 = Date.now();
  const job = await s.runJob(chat('gpt-4o', 'hurry', { routing: { latencySloMs: 1_200 } }));
  const took = Date.now() - t0;
  assert.equal(job.status, 'failed', JSON.stringify(job));
  assert.match(job.error!.message, /budget of 1200 ms is spent/);
  // First try: its full 800 ms; second: what is left (~400 ms); then nothing else is started.
  assert.deepEqual(
    job.attempts.map((a) => a.outcome),
    ['ProviderTimeout', 'ProviderTimeout'],
  );
  assert.ok(job.attempts[1].durationMs < 800, `the second try was bounded by what was left: ${job.attempts[1].durationMs} ms`);
  const calls = Object.values(s.mocks).reduce((n, m) => n + m.stats().requests, 0);
  assert.equal(calls, 2);
  assert.ok(took < 30_000);
});

test('hedging: a slow first candidate is raced by the next one; the first answer wins, the loser is aborted', async () => {
  h.mocks[PRIMARY].setFaults({ latencyMs: 5_000 });
  const job = await h.runJob(chat('gpt-4o', 'race'));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'Hedged'],
      [SECONDARY, 'ok'],
    ],
  );
  // The loser's HTTP call is aborted (the cancel reaches it with its next heartbeat), not left
  // running to its 5 s end, and the breaker heard it was slow.
  await waitFor(() => h.mocks[PRIMARY].stats().inFlight === 0, 'the losing call to end', 4_000);
  assert.equal(h.mocks[PRIMARY].stats().aborted, 1);
  assert.equal(h.mocks[PRIMARY].stats().completed, 0);
  assert.ok(
    outcomes.some((o) => o.target === PRIMARY && o.outcome === 'slow' && o.inFlight),
    JSON.stringify(outcomes),
  );
});

test('hedging: when the first candidate answers before the hedge delay, nothing else is called', async () => {
  const job = await h.runJob(chat('gpt-4o', 'quick'));
  assert.equal(job.status, 'completed');
  assert.equal(job.result?.target, PRIMARY);
  assert.equal(job.attempts.length, 1);
  assert.equal(h.mocks[SECONDARY].stats().requests, 0);
});

test('hedging: a hedge that fails leaves the first candidate running to its answer', async () => {
  // Long enough for the hedge timer (Temporal timers fire within about a second here).
  h.mocks[PRIMARY].setFaults({ latencyMs: 3_000 });
  h.mocks[SECONDARY].setFaults({ errorRate: 1, errorStatus: 401 });
  const job = await h.runJob(chat('gpt-4o', 'patience'));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, PRIMARY);
  assert.equal(h.mocks[PRIMARY].stats().aborted, 0);
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [SECONDARY, 'ProviderAuth'],
      [PRIMARY, 'ok'],
    ],
    JSON.stringify(job),
  );
});

test('a stream that sends nothing fails over at once: no second stream try, no buffered retry of the same target', async () => {
  s.mocks[PRIMARY].setFaults({ stallAfterChunks: 0 });
  const job = await s.runJob(chat('gpt-4o', 'stream please', { stream: true }));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'ProviderStalled'],
      [SECONDARY, 'ok'],
    ],
  );
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
});

test('a stream whose first token is late fails over after the first-token limit, long before the idle limit', async () => {
  // With another candidate left, the hedge delay (200 ms here) bounds the wait for a first token.
  h.mocks[PRIMARY].setFaults({ ttftMs: 5_000 });
  const job = await h.runJob(chat('gpt-4o', 'first token please', { stream: true }));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'ProviderStalled'],
      [SECONDARY, 'ok'],
    ],
  );
  assert.match(job.attempts[0].error ?? '', /no first token within 200 ms/);
  assert.equal(h.mocks[PRIMARY].stats().requests, 1);
});

test('hedging: when both calls of a pair fail, both are in the trace and the chain goes on', async () => {
  h.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 503, latencyMs: 1_000 });
  h.mocks[SECONDARY].setFaults({ errorRate: 1, errorStatus: 401 });
  const job = await h.runJob(chat('gpt-4o', 'both fail'));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.deepEqual(
    job.attempts.slice(0, 2).map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'ProviderServerError'],
      [SECONDARY, 'ProviderAuth'],
    ],
  );
  assert.equal(job.result?.target, 'selfhosted-onprem', 'down the degradation chain');
  assert.equal(h.mocks[SECONDARY].stats().requests >= 1, true);
});
