/**
 * The key paths with the workflow cache off (`maxCachedWorkflows: 0`): every workflow task
 * replays the whole history from the start, so any nondeterminism between a first execution and
 * its replay (including across local activities and heartbeated tasks) fails here.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './support/wait';
import { chat, startTestStack, type TestStack } from './support/stack';

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';
const SELFHOSTED = 'selfhosted-onprem';
/** A pinned model on a single target: the last candidate, which keeps Temporal's bounded retries. */
const LAST = { routing: { pinModel: true } };

let s: TestStack;
before(async () => {
  // Probes stay off (the test default): with no cache, core (SDK 1.24) loses local-activity
  // completions of workflows running side by side ("Tried to complete untracked local activity"),
  // whose tasks then time out and are retried: slow, not nondeterministic. Batches of child
  // requests hit it the same way, so they are covered by the fixtures instead.
  s = await startTestStack({
    maxCachedWorkflows: 0,
    edit(raw) {
      raw.routing = { ...raw.routing, flushIntervalMs: 200, refreshIntervalMs: 200 };
    },
  });
});
after(async () => {
  await s?.close();
});
afterEach(() => s.resetFaults());

const submit = (request: unknown, extra?: Record<string, unknown>) => s.submitJob(request, extra);

/** No workflow task failed (a nondeterminism error shows up as a failed task, then a retry). */
async function noFailedTasks(id: string): Promise<void> {
  const history = await s.gateway.client.workflow.getHandle(id).fetchHistory();
  const failed = history.events?.filter((e) => e.workflowTaskFailedEventAttributes) ?? [];
  assert.equal(
    failed.length,
    0,
    `workflow task failures in ${id}: ${JSON.stringify(failed.map((e) => e.workflowTaskFailedEventAttributes?.failure?.message))}`,
  );
}

test('the worker really runs without a workflow cache', () => {
  const opts = s.gateway.worker.options as { maxCachedWorkflows?: number };
  assert.equal(opts.maxCachedWorkflows, 0);
});

test('happy path', async () => {
  const id = await submit(chat('gpt-4o', 'hello'));
  const job = await s.waitForJob(id);
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, PRIMARY);
  await noFailedTasks(id);
});

test('a local activity retried with backoff while the run is evicted: every retry runs, then the request fails with its trace', async () => {
  // The failing attempt's own outcome batch brings the breaker's workflow task to this worker,
  // which evicts the request's run (cache size 0) while its provider call backs off. A backoff
  // held in the worker's memory was cancelled by that eviction and failed the job ("Local
  // Activity cancelled", no trace); as a durable timer it survives it. Retries happen on the last
  // candidate only (with another one left the request fails over at once).
  s.mocks[SELFHOSTED].setFaults({ errorRate: 1, errorStatus: 500 });
  const id = await submit(chat('llama-3.1-8b', 'retry me', LAST));
  const job = await s.waitForJob(id);
  assert.equal(job.status, 'failed', JSON.stringify(job));
  assert.equal(job.error?.type, 'AllTargetsFailed');
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome, a.retries ?? 0]),
    [[SELFHOSTED, 'ProviderServerError', s.config.retry.maxAttempts - 1]],
  );
  const events = (await s.gateway.client.workflow.getHandle(id).fetchHistory()).events ?? [];
  assert.equal(
    events.filter((e) => e.timerStartedEventAttributes).length,
    s.config.retry.maxAttempts - 1,
    'each backoff is a durable timer',
  );
  await noFailedTasks(id);
});

test('with another candidate left, a failing call fails over at once: no backoff to survive', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 500 });
  const id = await submit(chat('gpt-4o', 'fail over'));
  const job = await s.waitForJob(id);
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome, a.retries ?? 0]),
    [
      [PRIMARY, 'ProviderServerError', 0],
      [SECONDARY, 'ok', 0],
    ],
  );
  await noFailedTasks(id);
});

test('a Retry-After wait survives the eviction too: the same target answers after it', async () => {
  s.mocks[SELFHOSTED].setFaults({ errorRate: 0.5, errorStatus: 429, retryAfterS: 2 });
  const id = await submit(chat('llama-3.1-8b', 'slow down', LAST));
  const job = await s.waitForJob(id);
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [[SELFHOSTED, 'ok']],
  );
  const events = (await s.gateway.client.workflow.getHandle(id).fetchHistory()).events ?? [];
  assert.ok(
    events.some((e) => e.timerStartedEventAttributes?.startToFireTimeout),
    'the wait is a workflow timer',
  );
  await noFailedTasks(id);
});

test('failover: primary down', async () => {
  s.mocks[PRIMARY].setFaults({ down: true });
  const id = await submit(chat('gpt-4o', 'down'));
  const down = await s.waitForJob(id);
  assert.equal(down.result?.target, SECONDARY, `${JSON.stringify(down)}`);
  assert.deepEqual(
    down.attempts.map((a) => a.outcome),
    ['ProviderUnavailable', 'ok'],
  );
  await noFailedTasks(id);
});

test('streaming, and a stalled stream failing over', async () => {
  const streamed = await submit(chat('claude-3-5-haiku', 'stream this', { stream: true }));
  assert.equal((await s.waitForJob(streamed)).status, 'completed');
  s.mocks[PRIMARY].setFaults({ stallAfterChunks: 2 });
  const id = await submit(chat('gpt-4o', 'stall', { stream: true }));
  const job = await s.waitForJob(id, 60_000);
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  await noFailedTasks(id);
});

test('cancellation of an in-flight call', async () => {
  s.mocks[PRIMARY].setFaults({ latencyMs: 20_000 });
  const id = await submit(chat('gpt-4o', 'never mind'));
  await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 1, 'the provider call to start', 15_000);
  assert.equal((await s.api(`/v1/jobs/${id}`, { method: 'DELETE' })).status, 202);
  assert.equal((await s.waitForJob(id)).status, 'cancelled');
  // At least one: with the cache off an eviction can cancel and reschedule the local activity
  // before the job's cancel arrives, so two calls may both be aborted (seen once under full-suite load).
  await waitFor(() => s.mocks[PRIMARY].stats().aborted >= 1, 'the HTTP call to be aborted', 5_000);
});

test('breaker: operator override open, then reset', async () => {
  const post = (action: string) => s.api(`/v1/providers/${PRIMARY}/breaker`, { method: 'POST', json: { action } });
  const breaker = async () => (await s.api(`/v1/providers/${PRIMARY}`)).body.breaker;
  assert.equal((await post('open')).status, 202);
  await waitFor(async () => (await breaker()).forced === 'open', 'the forced-open state to be published', 15_000);
  const skipped = await s.waitForJob(await submit(chat('gpt-4o', 'forced open')));
  assert.deepEqual(
    skipped.attempts.map((a) => a.target),
    [SECONDARY],
  );
  assert.equal((await post('reset')).status, 202);
  await waitFor(
    async () => {
      const b = await breaker();
      return b.state === 'closed' && b.forced === undefined;
    },
    'the reset to be published',
    15_000,
  );
  const back = await s.waitForJob(await submit(chat('gpt-4o', 'back')));
  assert.equal(back.result?.target, PRIMARY);
  const { breakerIdFor } = await import('../shared/breakers');
  await noFailedTasks(breakerIdFor(s.config, PRIMARY));
});
