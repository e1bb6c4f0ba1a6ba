/** The job API's contract: bad input is a 400 with a stable code, unknown jobs are 404, health and metrics answer. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chat, startTestStack, type TestStack } from './support/stack';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s?.close();
});

describe('bad input gets 400 with a machine-readable code and a human message', () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['empty body object', {}, 'STORMPROOF_ERR_INVALID_REQUEST', /request/],
    ['request not an object', { request: 'hi' }, 'STORMPROOF_ERR_INVALID_REQUEST', /request/],
    [
      'no messages',
      { request: { model: 'gpt-4o', messages: [] } },
      'STORMPROOF_ERR_INVALID_REQUEST',
      /request\.messages.*at least one message/,
    ],
    ['no model', { request: { messages: [{ role: 'user', content: 'x' }] } }, 'STORMPROOF_ERR_INVALID_REQUEST', /request\.model/],
    [
      'bad role',
      { request: { model: 'gpt-4o', messages: [{ role: 'robot', content: 'x' }] } },
      'STORMPROOF_ERR_INVALID_REQUEST',
      /request\.messages\.0\.role/,
    ],
    ['temperature out of range', { request: chat('gpt-4o', 'x', { temperature: 7 }) }, 'STORMPROOF_ERR_INVALID_REQUEST', /temperature/],
    [
      'unknown top-level field',
      { request: chat('gpt-4o', 'x'), priority: 'high' },
      'STORMPROOF_ERR_INVALID_REQUEST',
      /unknown field\(s\): priority/,
    ],
    ['typo in request field', { request: chat('gpt-4o', 'x', { max_token: 5 }) }, 'STORMPROOF_ERR_INVALID_REQUEST', /max_token/],
    [
      'bad routing strategy',
      { request: chat('gpt-4o', 'x', { routing: { strategy: 'fastest' } }) },
      'STORMPROOF_ERR_INVALID_REQUEST',
      /routing\.strategy/,
    ],
    ['callbackUrl not a URL', { request: chat('gpt-4o', 'x'), callbackUrl: 'ftp://x' }, 'STORMPROOF_ERR_INVALID_REQUEST', /callbackUrl/],
    ['unknown model', { request: chat('gpt-9', 'x') }, 'STORMPROOF_ERR_UNKNOWN_MODEL', /gpt-9.*gpt-4o/],
  ];
  for (const [name, body, code, message] of cases) {
    test(name, async () => {
      const res = await s.api('/v1/jobs', { method: 'POST', json: body });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, code);
      assert.match(res.body.error.message, message);
    });
  }

  test('malformed JSON', async () => {
    const res = await s.api('/v1/jobs', { method: 'POST', body: '{"request": ', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_INVALID_JSON');
  });

  test('not JSON at all', async () => {
    const res = await s.api('/v1/jobs', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 415);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  test('too large', async () => {
    const res = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'x'.repeat(2_000_000)) } });
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_BODY_TOO_LARGE');
  });

  test('bad Idempotency-Key', async () => {
    const res = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('gpt-4o', 'x') },
      headers: { 'idempotency-key': 'has space' },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_INVALID_IDEMPOTENCY_KEY');
  });
});

test('nothing is started for rejected input', async () => {
  const before = await s.gateway.client.workflow.count(`TaskQueue = "${s.gateway.taskQueue}"`).catch(() => undefined);
  await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-9', 'x') } });
  const afterCount = await s.gateway.client.workflow.count(`TaskQueue = "${s.gateway.taskQueue}"`).catch(() => undefined);
  assert.deepEqual(afterCount?.count, before?.count);
});

test('unknown job is 404; a non-job workflow id is 404 too', async () => {
  for (const id of ['job-doesnotexist', 'breaker-openai', '..%2Fetc']) {
    const res = await s.api(`/v1/jobs/${id}`);
    assert.equal(res.status, 404, id);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_JOB_NOT_FOUND');
  }
  assert.equal((await s.api('/v1/jobs/job-nope', { method: 'DELETE' })).status, 404);
});

test('unknown route is 404 with the error shape', async () => {
  const res = await s.api('/v1/nothing');
  assert.equal(res.status, 404);
  assert.equal(res.body.error.code, 'STORMPROOF_ERR_NOT_FOUND');
});

test('POST /v1/jobs answers 202 with id, status and statusUrl; the same Idempotency-Key gives the same job', async () => {
  const headers = { 'idempotency-key': `key-${Date.now()}` };
  const a = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'once') }, headers });
  assert.equal(a.status, 202);
  assert.match(a.body.id, /^job-/);
  assert.equal(a.body.status, 'queued');
  assert.equal(a.body.statusUrl, `/v1/jobs/${a.body.id}`);
  const job = await s.waitForJob(a.body.id);
  assert.equal(job.status, 'completed');
  const b = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'once') }, headers });
  assert.equal(b.body.id, a.body.id);
  assert.equal(s.mocks['openai-us-east-1'].stats().requests, 1, 'the provider was called once');
});

test('healthz, readyz and metrics', async () => {
  assert.equal((await s.api('/healthz')).status, 200);
  const ready = await s.api('/readyz');
  assert.equal(ready.status, 200, JSON.stringify(ready.body));
  assert.deepEqual(ready.body.checks, { temporal: 'ok', worker: 'ok' });
  const metrics = await s.api('/metrics');
  assert.equal(metrics.status, 200);
  assert.match(
    metrics.body,
    /stormproof_provider_calls_total\{target="openai-us-east-1",region="us-east-1",model="gpt-4o",tier="smart",outcome="ok",mode="buffered"\} \d+/,
  );
  assert.match(metrics.body, /stormproof_http_requests_total/);
});
