/** Failover, bounded retries, non-retryable faults, Retry-After and cancellation, end to end. */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RequestFinished } from '../workflows/sinks';
import { waitFor } from './support/wait';
import { chat, startTestStack, type TestStack } from './support/stack';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s?.close();
});
afterEach(() => s.resetFaults());

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';
const SELFHOSTED = 'selfhosted-onprem';

const submit = (request: unknown, extra?: Record<string, unknown>) => s.submitJob(request, extra);

test('primary down: answered by the next target of the tier, the failed attempt in the trace', async () => {
  s.mocks[PRIMARY].setFaults({ down: true });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'are you there?')));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.equal(job.result?.model, 'claude-sonnet-4');
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'ProviderUnavailable'],
      [SECONDARY, 'ok'],
    ],
  );
  // Connection refused/reset fails over at once: one call, no retries of a dead target.
  assert.equal(s.mocks[PRIMARY].stats().resets, 1);
  assert.equal(job.attempts[0].retries, 0);
});

test('one failover count everywhere: the answer, its trace, the search attribute, the metrics; one upsert per request', async () => {
  const finished: RequestFinished[] = [];
  const record = s.gateway.metrics.recordFinished.bind(s.gateway.metrics);
  s.gateway.metrics.recordFinished = (ev) => {
    finished.push(ev);
    record(ev);
  };
  s.mocks[PRIMARY].setFaults({ down: true });
  const id = await submit(chat('gpt-4o', 'count me'));
  const job = await s.waitForJob(id);
  await waitFor(() => finished.length === 1, 'the request to reach the metrics sink', 5_000);
  s.gateway.metrics.recordFinished = record;
  assert.deepEqual(
    [finished[0].failovers, finished[0].switches, finished[0].tier],
    [1, [{ from: PRIMARY, to: SECONDARY, reason: 'ProviderUnavailable' }], 'smart'],
  );
  assert.equal(job.result?.failovers, 1);
  assert.deepEqual(job.result?.switches, [
    { from: PRIMARY, fromModel: 'gpt-4o', to: SECONDARY, toModel: 'claude-sonnet-4', reason: 'ProviderUnavailable', attempt: 1 },
  ]);
  assert.equal(job.failovers, 1);
  const handle = s.gateway.client.workflow.getHandle(id);
  const attrs = (await handle.describe()).searchAttributes as Record<string, unknown[]>;
  assert.deepEqual(attrs.StormproofFailovers, [1]);
  assert.deepEqual(attrs.StormproofStatus, ['completed']);
  // The "running" upsert landed in the same workflow task as "completed": never visible, so gone.
  const statusUpserts =
    (await handle.fetchHistory()).events?.filter(
      (e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.StormproofStatus,
    ) ?? [];
  assert.equal(statusUpserts.length, 1);
});

test('a context-length 400 fails over to a model with a larger window, not to one as small', async () => {
  s.mocks[PRIMARY].setFaults({ contextLength: true });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'a long story')));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.model, a.outcome]),
    [
      [PRIMARY, 'gpt-4o', 'ProviderContextLength'],
      [SECONDARY, 'claude-sonnet-4', 'ok'],
    ],
  );
});

test('a prompt too long for every model: a clear 400, and no model with a window as small is tried', async () => {
  for (const m of Object.values(s.mocks)) m.setFaults({ contextLength: true });
  const res = await s.api('/v1/chat/completions', { method: 'POST', json: chat('gpt-4o', 'a very long story') });
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.body.error.code, 'STORMPROOF_ERR_CONTEXT_LENGTH_EXCEEDED');
  assert.deepEqual(
    res.body.error.stormproof.attempts.map((a: { model: string; outcome: string }) => [a.model, a.outcome]),
    [
      ['gpt-4o', 'ProviderContextLength'],
      ['claude-sonnet-4', 'ProviderContextLength'],
    ],
  );
  // gpt-4o-mini (128k) and llama (8k) cannot hold what 128k could not; claude-3-5-haiku (200k) not what 200k could not.
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  assert.equal(s.mocks[SECONDARY].stats().requests, 1);
  assert.equal(s.mocks['selfhosted-onprem'].stats().requests, 0);
  assert.match(res.body.error.message, /too long for every model/);
});

test('500s on the primary with another candidate left: no retry there, failover at once', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 500 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'retry me')));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.equal(job.attempts[0].outcome, 'ProviderServerError');
  assert.equal(s.mocks[PRIMARY].stats().requests, 1, 'the primary is tried once: a backoff there would only delay the answer');
  assert.equal(job.attempts[0].retries ?? 0, 0);
});

test('a stream whose primary answers 503 with another candidate left: no hidden retry there; every call to the primary is an attempt of the trace', async () => {
  // The 5xx-40pct game day saw streams call the primary twice where their trace showed one attempt:
  // the stream activity's own retry, a backoff of about a second, on a target that just failed.
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 503 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'stream me elsewhere', { stream: true })));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  const onPrimary = job.attempts.filter((x) => x.target === PRIMARY);
  assert.ok(onPrimary.length >= 1 && onPrimary.every((x) => x.outcome === 'ProviderServerError' && !x.retries));
  assert.equal(s.mocks[PRIMARY].stats().requests, onPrimary.length, `calls to the primary = its attempts: ${JSON.stringify(job.attempts)}`);
});

// The last candidate left keeps Temporal's bounded retries (a pinned model on a single target).
const LAST = { routing: { pinModel: true } };

test('500s on the last candidate: bounded retries, then the request fails with its trace', async () => {
  s.mocks[SELFHOSTED].setFaults({ errorRate: 1, errorStatus: 500 });
  const job = await s.waitForJob(await submit(chat('llama-3.1-8b', 'retry me', LAST)));
  assert.equal(job.status, 'failed', JSON.stringify(job));
  assert.equal(job.attempts[0].outcome, 'ProviderServerError');
  assert.equal(s.mocks[SELFHOSTED].stats().requests, s.config.retry.maxAttempts, 'the last candidate is tried exactly maxAttempts times');
  assert.equal(job.attempts[0].retries, s.config.retry.maxAttempts - 1);
});

test('a transient 500 on the last candidate is retried on the same target and succeeds there', async () => {
  s.mocks[SELFHOSTED].setFaults({ errorRate: 0.5, errorStatus: 503 });
  const job = await s.waitForJob(await submit(chat('llama-3.1-8b', 'flaky', LAST)));
  assert.equal(job.status, 'completed');
  assert.equal(job.result?.target, SELFHOSTED);
  assert.equal(s.mocks[SELFHOSTED].stats().requests, 2);
});

test('a 400 is not retried and not failed over: a clear error', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 400 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'bad')));
  assert.equal(job.status, 'failed');
  assert.equal(job.error?.type, 'ProviderBadRequest');
  assert.match(job.error!.message, /HTTP 400/);
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  assert.equal(s.mocks[SECONDARY].stats().requests, 0);
  assert.deepEqual(
    job.attempts.map((a) => a.outcome),
    ['ProviderBadRequest'],
  );
});

test('a 401 on one target fails over without retry (that target has bad credentials)', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 401 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'auth')));
  assert.equal(job.status, 'completed');
  assert.equal(job.attempts[0].outcome, 'ProviderAuth');
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
});

test('a 429 with a short Retry-After on the last candidate is honoured: the same target, after the wait', async () => {
  s.mocks[SELFHOSTED].setFaults({ errorRate: 0.5, errorStatus: 429, retryAfterS: 1 });
  const t0 = Date.now();
  const job = await s.waitForJob(await submit(chat('llama-3.1-8b', 'slow down', LAST)));
  assert.equal(job.status, 'completed');
  assert.equal(job.result?.target, SELFHOSTED);
  assert.equal(s.mocks[SELFHOSTED].stats().requests, 2);
  assert.ok(Date.now() - t0 >= 1000, 'the retry waited for Retry-After');
});

test('a 429 with a short Retry-After and another candidate left: failover at once, nothing sent inside the Retry-After', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 0.5, errorStatus: 429, retryAfterS: 1 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'slow down elsewhere')));
  assert.equal(job.status, 'completed');
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'ProviderRateLimited'],
      [SECONDARY, 'ok'],
    ],
  );
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
});

test('a 429 with a long Retry-After skips the target at once', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 429, retryAfterS: 60 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'quota')));
  assert.equal(job.status, 'completed');
  assert.equal(job.result?.target, SECONDARY);
  assert.equal(job.attempts[0].outcome, 'ProviderRateLimited');
  assert.match(job.attempts[0].error ?? '', /Retry-After 60s/);
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  // The worker now steers new requests away from the primary for the Retry-After period.
  const next = await s.waitForJob(await submit(chat('gpt-4o', 'quota again')));
  assert.equal(next.status, 'completed');
  assert.deepEqual(
    next.attempts.map((a) => a.target),
    [SECONDARY],
  );
  assert.equal(s.mocks[PRIMARY].stats().requests, 1, 'no wasted attempt on the rate-limited target');
});

test('every target down: failed with the whole attempt trace', async () => {
  for (const m of Object.values(s.mocks)) m.setFaults({ down: true });
  const job = await s.waitForJob(await submit(chat('smart', 'anyone?')));
  assert.equal(job.status, 'failed');
  assert.equal(job.error?.type, 'AllTargetsFailed');
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.model, a.outcome]),
    [
      [PRIMARY, 'gpt-4o', 'ProviderUnavailable'],
      [SECONDARY, 'claude-sonnet-4', 'ProviderUnavailable'],
      [PRIMARY, 'gpt-4o-mini', 'ProviderUnavailable'],
      [SECONDARY, 'claude-3-5-haiku', 'ProviderUnavailable'],
      ['selfhosted-onprem', 'llama-3.1-8b', 'ProviderUnavailable'],
    ],
  );
  assert.deepEqual(
    job.degradations.map((d) => [d.kind, d.from, d.to]),
    [
      ['model', 'smart', 'gpt-4o-mini'],
      ['model', 'gpt-4o-mini', 'claude-3-5-haiku'],
      ['model', 'claude-3-5-haiku', 'llama-3.1-8b'],
    ],
  );
});

test('allowDegradation: false: the tier only, then a clear error', async () => {
  for (const m of Object.values(s.mocks)) m.setFaults({ down: true });
  const job = await s.waitForJob(await submit(chat('smart', 'no downgrade', { routing: { allowDegradation: false } })));
  assert.equal(job.status, 'failed');
  assert.equal(job.attempts.length, 2);
  assert.deepEqual(job.degradations, []);
  assert.match(job.error!.message, /degradation is off/);
});

test('a tier name routes to its first model, and pinModel forbids equivalents', async () => {
  const tier = await s.waitForJob(await submit(chat('fast', 'tiered')));
  assert.equal(tier.result?.model, 'gpt-4o-mini');
  s.mocks[PRIMARY].setFaults({ down: true });
  const pinned = await s.waitForJob(await submit(chat('gpt-4o', 'pinned', { routing: { pinModel: true } })));
  assert.equal(pinned.status, 'failed');
  assert.deepEqual(
    pinned.attempts.map((a) => a.target),
    [PRIMARY],
  );
});

test('streaming request: streamed from the provider, buffered into the job result', async () => {
  const job = await s.waitForJob(await submit(chat('claude-3-5-haiku', 'stream this please', { stream: true })));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.message.content, 'Echo from claude-3-5-haiku-20241022: stream this please');
  assert.equal(s.mocks[SECONDARY].stats().lastRequest?.stream, true);
});

test('a stalled stream fails over to the next target', async () => {
  s.mocks[PRIMARY].setFaults({ stallAfterChunks: 2 });
  const job = await s.waitForJob(await submit(chat('gpt-4o', 'stall', { stream: true })), 60_000);
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.equal(job.attempts[0].outcome, 'ProviderStalled');
});

test('cancellation aborts the in-flight provider call', async () => {
  s.mocks[PRIMARY].setFaults({ latencyMs: 20_000 });
  const id = await submit(chat('gpt-4o', 'never mind'));
  await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 1, 'the provider call to start', 10_000);
  const del = await s.api(`/v1/jobs/${id}`, { method: 'DELETE' });
  assert.equal(del.status, 202);
  const job = await s.waitForJob(id);
  assert.equal(job.status, 'cancelled');
  await waitFor(() => s.mocks[PRIMARY].stats().aborted === 1, 'the HTTP call to be aborted', 5_000);
  assert.equal(s.mocks[SECONDARY].stats().requests, 0, 'a cancelled job does not fail over');
  const again = await s.api(`/v1/jobs/${id}`, { method: 'DELETE' });
  assert.equal(again.status, 409);
});
