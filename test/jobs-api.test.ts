/** Durable long jobs: idempotency with conflict detection, the events stream with resume, listing. */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chat, startTestStack, type TestStack } from './support/stack';
import { readSse } from './support/sse';

let s: TestStack;
before(async () => {
  s = await startTestStack({ edit: (raw) => (raw.api.eventsPollMs = 100) });
});
after(async () => {
  await s?.close();
});
afterEach(() => s.resetFaults());

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';

async function submit(request: unknown, headers: Record<string, string> = {}) {
  return s.api('/v1/jobs', { method: 'POST', json: { request }, headers });
}

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Idempotency-Key', () => {
  test('same key and body: same job, one workflow; a different body: 409, nothing started', async () => {
    s.mocks[PRIMARY].setFaults({ latencyMs: 500 });
    const key = { 'idempotency-key': `conflict-${Date.now()}` };
    const a = await submit(chat('gpt-4o', 'first'), key);
    assert.equal(a.status, 202);
    // While it runs: the same body (keys in another order) attaches; another body conflicts.
    const same = await submit({ messages: [{ content: 'first', role: 'user' }], model: 'gpt-4o' }, key);
    assert.equal(same.status, 202);
    assert.equal(same.body.id, a.body.id);
    const running = await submit(chat('gpt-4o', 'second'), key);
    assert.equal(running.status, 409, JSON.stringify(running.body));
    assert.equal(running.body.error.code, 'STORMPROOF_ERR_IDEMPOTENCY_CONFLICT');
    assert.equal(running.body.error.details.jobId, a.body.id);
    const job = await s.waitForJob(a.body.id);
    assert.equal(job.result?.message.content, 'Echo from gpt-4o: first');
    // After it finished: the same again.
    assert.equal((await submit(chat('gpt-4o', 'first'), key)).body.id, a.body.id);
    assert.equal((await submit(chat('gpt-4o', 'third'), key)).status, 409);
    const { count } = await s.gateway.client.workflow.count(`WorkflowId = "${a.body.id}"`);
    assert.equal(count, 1, 'one workflow for the key');
    assert.equal(s.mocks[PRIMARY].stats().requests, 1, 'the provider was called once');
  });

  test('a callbackUrl is part of the body', async () => {
    const key = { 'idempotency-key': `cb-${Date.now()}` };
    const a = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'x') }, headers: key });
    const b = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('gpt-4o', 'x'), callbackUrl: 'https://hooks.example.com/cb' },
      headers: key,
    });
    assert.equal(a.status, 202);
    assert.equal(b.status, 409);
  });
});

describe('GET /v1/jobs/:id/events', () => {
  test('a failover job: queued, running, attempts, the failover and completion, then the stream ends', async () => {
    s.mocks[PRIMARY].setFaults({ down: true });
    const { body } = await submit(chat('gpt-4o', 'events please'));
    const { status, events } = await readSse(`${s.gateway.apiUrl}/v1/jobs/${body.id}/events`);
    assert.equal(status, 200);
    assert.deepEqual(
      events.map((e) => e.event),
      ['queued', 'running', 'attempt', 'failover', 'attempt', 'completed'],
    );
    assert.deepEqual(events[3].data, { from: PRIMARY, to: SECONDARY, reason: 'ProviderUnavailable' });
    assert.equal(events[2].data.outcome, 'ProviderUnavailable');
    assert.equal(events[4].data.outcome, 'ok');
    assert.equal(events[5].data.result.message.content, 'Echo from claude-sonnet-4-20250514: events please');
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are unique');
  });

  test('reconnect with Last-Event-ID resumes without repeats or gaps; no id replays everything', async () => {
    s.mocks[PRIMARY].setFaults({ latencyMs: 800 });
    const { body } = await submit(chat('gpt-4o', 'slow job'));
    const url = `${s.gateway.apiUrl}/v1/jobs/${body.id}/events`;
    const first = await readSse(url, { stop: (e) => e.event === 'running' });
    assert.deepEqual(
      first.events.map((e) => e.event),
      ['queued', 'running'],
    );
    const rest = await readSse(url, { headers: { 'last-event-id': first.events.at(-1)!.id! } });
    assert.deepEqual(
      rest.events.map((e) => e.event),
      ['attempt', 'completed'],
    );
    const replay = await readSse(url);
    assert.deepEqual(
      replay.events.map((e) => e.id),
      [...first.events, ...rest.events].map((e) => e.id),
    );
  });

  test('unknown job: 404', async () => {
    const res = await s.api('/v1/jobs/job-nope/events');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_JOB_NOT_FOUND');
  });
});

describe('GET /v1/jobs', () => {
  test('filters by status, target and time through visibility', async () => {
    const t0 = Date.now();
    const ok = (await submit(chat('gpt-4o', 'list me'))).body.id;
    await s.waitForJob(ok);
    s.mocks[PRIMARY].setFaults({ down: true });
    const moved = (await submit(chat('gpt-4o', 'list me elsewhere'))).body.id;
    await s.waitForJob(moved);
    const failed = (await submit(chat('gpt-4o', 'fail', { routing: { pinModel: true } }))).body.id;
    await s.waitForJob(failed);
    const list = (qs: string) => s.api(`/v1/jobs?${qs}`);
    const bySecondary = await waitFor(
      () => list(`target=${SECONDARY}&status=completed`),
      (r) => r.body.data?.some((j: any) => j.id === moved),
      'the moved job to be listed',
    );
    assert.ok(bySecondary.body.data.every((j: any) => j.target === SECONDARY && j.status === 'completed'));
    assert.ok(!bySecondary.body.data.some((j: any) => j.id === ok));
    const failedList = await waitFor(
      () => list('status=failed'),
      (r) => r.body.data?.some((j: any) => j.id === failed),
      'the failed job to be listed',
    );
    assert.ok(failedList.body.data.every((j: any) => j.status === 'failed'));
    const recent = await list(`since=${t0}&limit=2`);
    assert.equal(recent.body.data.length, 2);
    assert.ok(recent.body.nextPageToken, 'a second page exists');
    const page2 = await list(`since=${t0}&limit=2&pageToken=${recent.body.nextPageToken}`);
    assert.equal(page2.body.data.length, 1);
    assert.deepEqual(new Set([...recent.body.data, ...page2.body.data].map((j: any) => j.id)), new Set([ok, moved, failed]));
    const future = await list(`since=${new Date(Date.now() + 3_600_000).toISOString()}`);
    assert.deepEqual(future.body.data, []);
  });

  test('bad filters are a 400', async () => {
    for (const qs of ['status=done', 'limit=0', 'since=yesterday', 'target=Bad"Quote', 'color=red']) {
      const res = await s.api(`/v1/jobs?${qs}`);
      assert.equal(res.status, 400, qs);
      assert.equal(res.body.error.code, 'STORMPROOF_ERR_INVALID_REQUEST');
    }
  });
});
