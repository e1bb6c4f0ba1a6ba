/**
 * Every gateway series moves when its event happens, read from the stack's /metrics: requests,
 * latency and time to first token, provider calls with tokens and cost, failovers once per switch
 * (a retried failover target is one failover), degradations, breaker transitions and trips as the
 * breaker emitted them, batches sent to breakers, callbacks, jobs in flight.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chat, startTestStack, type TestStack } from './support/stack';
import { scrape, sum, type Sample } from './support/prom';

let s: TestStack;
let receiver: http.Server;
let receiverUrl: string;

before(async () => {
  process.env.STORMPROOF_CALLBACK_SECRET = 'metrics-test-secret';
  // The receiver is on loopback: allowed explicitly (callbacks reach public addresses only by default).
  s = await startTestStack({
    edit: (raw) =>
      (raw.callbacks = {
        maxAttempts: 2,
        initialIntervalMs: 100,
        maxIntervalMs: 200,
        timeoutMs: 2_000,
        allowedCidrs: ['127.0.0.1/32'],
        allowHttp: true,
      }),
  });
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end());
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
after(async () => {
  await s?.close();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});
afterEach(() => s.resetFaults());

const metrics = () => scrape(`${s.gateway.apiUrl}/metrics`);

/** Polls /metrics until `done` holds (for counters that move just after the answer, e.g. sent batches). */
async function until(done: (m: Sample[]) => boolean, what: string, timeoutMs = 10_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await metrics();
    if (done(m)) return m;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a buffered and a streamed request: requests, latency, provider calls, tokens, cost and time to first token move', async () => {
  const before = await metrics();
  const buffered = await s.runJob(chat('gpt-4o', 'count me'));
  const streamed = await s.runJob(chat('gpt-4o', 'stream me', { stream: true }));
  assert.equal(buffered.status, 'completed');
  assert.equal(streamed.status, 'completed');
  const m = await metrics();
  const delta = (name: string, match: Record<string, string> = {}) => sum(m, name, match) - sum(before, name, match);
  const where = { target: 'openai-us-east-1', region: 'us-east-1' };
  assert.equal(delta('stormproof_requests_total', { status: 'completed', region: 'us-east-1' }), 2);
  assert.equal(delta('stormproof_request_duration_seconds_count', { status: 'completed' }), 2);
  assert.equal(delta('stormproof_provider_calls_total', { ...where, model: 'gpt-4o', tier: 'smart', outcome: 'ok', mode: 'buffered' }), 1);
  assert.equal(delta('stormproof_provider_calls_total', { ...where, model: 'gpt-4o', outcome: 'ok', mode: 'stream' }), 1);
  assert.equal(delta('stormproof_provider_call_duration_seconds_count', { ...where, outcome: 'ok' }), 2);
  assert.equal(delta('stormproof_time_to_first_token_seconds_count', { ...where, tier: 'smart' }), 1, 'only the stream has a first token');
  const usage = [buffered, streamed].map((j) => j.result!.usage);
  const input = usage.reduce((n, u) => n + u.prompt_tokens, 0);
  const output = usage.reduce((n, u) => n + u.completion_tokens, 0);
  assert.ok(input > 0 && output > 0);
  assert.equal(delta('stormproof_provider_tokens_total', { target: 'openai-us-east-1', model: 'gpt-4o', direction: 'input' }), input);
  assert.equal(delta('stormproof_provider_tokens_total', { target: 'openai-us-east-1', model: 'gpt-4o', direction: 'output' }), output);
  const cost = (input * 2.5 + output * 10) / 1e6; // gpt-4o's configured price per million tokens
  assert.ok(Math.abs(delta('stormproof_provider_cost_usd_total', { target: 'openai-us-east-1', model: 'gpt-4o' }) - cost) < 1e-12);
});

test('a request the provider refuses as bad (a 400) counts as rejected, not failed: client faults stay out of the availability SLI', async () => {
  const before = await metrics();
  s.mocks['openai-us-east-1'].setFaults({ errorRate: 1, errorStatus: 400 });
  const job = await s.runJob(chat('gpt-4o', 'a request the provider calls bad'));
  assert.equal(job.status, 'failed');
  const m = await metrics();
  const delta = (match: Record<string, string>) =>
    sum(m, 'stormproof_requests_total', match) - sum(before, 'stormproof_requests_total', match);
  assert.equal(delta({ status: 'rejected' }), 1);
  assert.equal(delta({ status: 'failed' }), 0);
});

test('a retried target is one failover; every switch counts once; the model degradation counts', async () => {
  s.mocks['openai-us-east-1'].setFaults({ down: true });
  s.mocks['anthropic-eu-west-1'].setFaults({ errorRate: 1, errorStatus: 500 });
  // The last candidate retries its target (others fail over at once): its first call fails.
  s.mocks['selfhosted-onprem'].setFaults({ errorRate: 0.5, errorStatus: 503 });
  s.mocks['selfhosted-onprem'].resetStats();
  const before = await metrics();
  const job = await s.runJob(chat('gpt-4o', 'fail over twice, then degrade'));
  assert.equal(job.status, 'completed');
  assert.equal(job.result?.target, 'selfhosted-onprem');
  assert.equal(s.mocks['selfhosted-onprem'].stats().requests, 2, 'the last candidate was tried twice');
  assert.equal(job.attempts.filter((a) => a.target === 'selfhosted-onprem').length, 1, 'its retry is the same attempt');
  const m = await metrics();
  const delta = (name: string, match: Record<string, string> = {}) => sum(m, name, match) - sum(before, name, match);
  // The switches the job's attempt trace shows, e.g. openai → anthropic twice (gpt-4o, then gpt-4o-mini).
  const expected = new Map<string, number>();
  job.attempts.forEach((a, i) => {
    const prev = job.attempts[i - 1];
    if (prev && prev.target !== a.target)
      expected.set(`${prev.target}|${a.target}|${prev.outcome}`, (expected.get(`${prev.target}|${a.target}|${prev.outcome}`) ?? 0) + 1);
  });
  assert.ok(expected.size >= 2, `several switches: ${job.attempts.map((a) => `${a.target}:${a.outcome}`).join(' → ')}`);
  for (const [key, n] of expected) {
    const [from, to, reason] = key.split('|');
    assert.equal(delta('stormproof_failovers_total', { from, to, reason }), n, `${from} → ${to} (${reason}) once per switch, not per try`);
  }
  assert.equal(
    delta('stormproof_failovers_total'),
    [...expected.values()].reduce((x, y) => x + y, 0),
    'no other failover counted',
  );
  assert.equal(delta('stormproof_degradations_total', { kind: 'model' }), job.degradations.filter((d) => d.kind === 'model').length);
  assert.ok(delta('stormproof_degradations_total', { kind: 'model' }) >= 1);
  assert.equal(
    delta('stormproof_provider_calls_total', { target: 'anthropic-eu-west-1', outcome: 'ProviderServerError' }),
    2,
    'one try of each Anthropic model (another candidate was left)',
  );
  assert.equal(delta('stormproof_provider_calls_total', { target: 'selfhosted-onprem', outcome: 'ProviderServerError' }), 1);
});

test('outcome batches sent to the breakers are counted; the state gauge shows each breaker', async () => {
  const before = await metrics();
  await s.runJob(chat('gpt-4o', 'one outcome for the breaker'));
  const m = await until(
    (x) =>
      sum(x, 'stormproof_breaker_signals_total', { target: 'openai-us-east-1' }) >
      sum(before, 'stormproof_breaker_signals_total', { target: 'openai-us-east-1' }),
    'a batch to the openai breaker',
  );
  assert.equal(sum(m, 'stormproof_breaker_state', { target: 'openai-us-east-1', region: 'us-east-1', state: 'closed' }), 1);
  assert.equal(sum(m, 'stormproof_breaker_state', { target: 'openai-us-east-1' }), 1, 'one-hot');
});

test('an operator opening and closing a breaker: two transitions and one trip, each counted once', async () => {
  const target = 'anthropic-eu-west-1';
  const before = await metrics();
  const count = (x: Sample[], from: string, to: string) =>
    sum(x, 'stormproof_breaker_transitions_total', { target, from, to }) -
    sum(before, 'stormproof_breaker_transitions_total', { target, from, to });
  assert.equal((await s.api(`/v1/providers/${target}/breaker`, { method: 'POST', json: { action: 'open' } })).status, 202);
  await until((x) => count(x, 'closed', 'open') >= 1, 'the closed → open transition');
  assert.equal((await s.api(`/v1/providers/${target}/breaker`, { method: 'POST', json: { action: 'close' } })).status, 202);
  await until(
    (x) => count(x, 'open', 'closed') >= 1 && sum(x, 'stormproof_breaker_state', { target, state: 'closed' }) === 1,
    'the open → closed transition',
  );
  const m = await metrics();
  assert.equal(count(m, 'closed', 'open'), 1);
  assert.equal(count(m, 'open', 'closed'), 1);
  assert.equal(sum(m, 'stormproof_breaker_trips_total', { target }) - sum(before, 'stormproof_breaker_trips_total', { target }), 1);
});

test('a delivered callback is counted', async () => {
  const before = await metrics();
  const res = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'call me back'), callbackUrl: receiverUrl } });
  assert.equal(res.status, 202);
  const m = await until(
    (x) =>
      sum(x, 'stormproof_callback_deliveries_total', { outcome: 'delivered' }) >
      sum(before, 'stormproof_callback_deliveries_total', { outcome: 'delivered' }),
    'the delivery',
  );
  assert.equal(
    sum(m, 'stormproof_callback_deliveries_total', { outcome: 'delivered' }) -
      sum(before, 'stormproof_callback_deliveries_total', { outcome: 'delivered' }),
    1,
  );
});

test('jobs in flight: a held job is counted while it runs, and not after it was cancelled', async () => {
  s.mocks['openai-us-east-1'].setFaults({ latencyMs: 20_000 });
  const id = await s.submitJob(chat('gpt-4o', 'hold me'));
  await until((x) => sum(x, 'stormproof_jobs_in_flight') === 1, 'the held job in flight');
  assert.equal((await s.api(`/v1/jobs/${id}`, { method: 'DELETE' })).status, 202);
  assert.equal((await s.waitForJob(id)).status, 'cancelled');
  await until((x) => sum(x, 'stormproof_jobs_in_flight') === 0, 'no job in flight');
});
