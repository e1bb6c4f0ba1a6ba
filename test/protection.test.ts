/** API keys (stored hashed), per-key rate limits, the admin scope, security headers, /openapi.json, open mode. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import OpenAI, { AuthenticationError, RateLimitError } from 'openai';
import { parseConfig } from '../config/load';
import { assertSafeOpenMode, loadKeys, RateLimiter } from '../api/auth';
import { chat, startTestStack, type TestStack } from './support/stack';

const sha = (k: string) => createHash('sha256').update(k).digest('hex');
let s: TestStack;
before(async () => {
  s = await startTestStack({
    edit: (raw) => {
      raw.auth = {
        keys: [
          { id: 'user', sha256: sha('user-key') },
          { id: 'ops', sha256: sha('ops-key'), admin: true },
          { id: 'tiny', sha256: sha('tiny-key'), rateLimitPerMinute: 3 },
        ],
      };
    },
  });
});
after(async () => {
  await s?.close();
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('API keys', () => {
  test('no key or a wrong key: 401 with a stable code; the right key works (Bearer or x-api-key)', async () => {
    for (const headers of [{}, bearer('nope'), { 'x-api-key': 'nope' }] as Array<Record<string, string>>) {
      const res = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'x') }, headers });
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'STORMPROOF_ERR_UNAUTHORIZED');
    }
    assert.equal(
      (await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'x') }, headers: bearer('user-key') })).status,
      202,
    );
    assert.equal((await s.api('/v1/models', { headers: { 'x-api-key': 'user-key' } })).status, 200);
  });

  test('the OpenAI client: a wrong key is an AuthenticationError, the right one answers', async () => {
    const bad = new OpenAI({ baseURL: `${s.gateway.apiUrl}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }), AuthenticationError);
    const good = new OpenAI({ baseURL: `${s.gateway.apiUrl}/v1`, apiKey: 'user-key', maxRetries: 0 });
    const res = await good.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'keyed' }] });
    assert.equal(res.choices[0].message.content, 'Echo from gpt-4o: keyed');
  });

  test('probes and the API description need no key', async () => {
    assert.equal((await s.api('/healthz')).status, 200);
    assert.equal((await s.api('/openapi.json')).status, 200);
  });

  test('keys from the environment are hashed at start-up; bad entries are refused', () => {
    const config = parseConfig({ ...s.config, auth: { keysEnv: 'TEST_KEYS' } });
    const keys = loadKeys(config, { TEST_KEYS: 'a:alpha-key-0123456789, b:beta-key-0123456789:admin' });
    assert.deepEqual([...keys.keys()].sort(), [sha('alpha-key-0123456789'), sha('beta-key-0123456789')].sort());
    assert.ok(![...keys.keys()].includes('alpha-key-0123456789'), 'no plaintext kept');
    assert.equal(keys.get(sha('beta-key-0123456789'))?.admin, true);
    assert.throws(() => loadKeys(config, { TEST_KEYS: 'justakey' }), /id:key/);
    assert.throws(() => loadKeys(config, { TEST_KEYS: 'a:short' }), /shorter than 16/, 'a guessable key is refused at start-up');
    assert.throws(() => loadKeys(config, { TEST_KEYS: 'bad id:alpha-key-0123456789' }), /key id/);
  });
});

test('per-key rate limit: 429 with Retry-After, other keys unaffected; RateLimitError in the OpenAI client', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await s.api('/v1/models', { headers: bearer('tiny-key') })).status, 200);
  const limited = await s.api('/v1/models', { headers: bearer('tiny-key') });
  assert.equal(limited.status, 429);
  assert.equal(limited.body.error.code, 'STORMPROOF_ERR_RATE_LIMITED');
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  assert.equal((await s.api('/v1/models', { headers: bearer('user-key') })).status, 200);
  const client = new OpenAI({ baseURL: `${s.gateway.apiUrl}/v1`, apiKey: 'tiny-key', maxRetries: 0 });
  await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }), RateLimitError);
});

test('the token bucket refills over time', () => {
  let now = 0;
  const limiter = new RateLimiter(() => now);
  assert.ok(limiter.take('k', 2).ok && limiter.take('k', 2).ok);
  const denied = limiter.take('k', 2);
  assert.equal(denied.ok, false);
  assert.equal(denied.retryAfterS, 30);
  now = 30_000;
  assert.ok(limiter.take('k', 2).ok);
});

test('operator routes need the admin scope', async () => {
  const path = '/v1/providers/openai-us-east-1/breaker';
  const user = await s.api(path, { method: 'POST', json: { action: 'reset' }, headers: bearer('user-key') });
  assert.equal(user.status, 403);
  assert.equal(user.body.error.code, 'STORMPROOF_ERR_FORBIDDEN');
  const ops = await s.api(path, { method: 'POST', json: { action: 'reset' }, headers: bearer('ops-key') });
  assert.notEqual(ops.status, 403);
  assert.notEqual(ops.status, 401);
  assert.equal((await s.api('/v1/providers', { headers: bearer('user-key') })).status, 200, 'reading is allowed');
});

test('security headers on every answer', async () => {
  const res = await s.api('/healthz');
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  assert.equal(res.headers.get('x-powered-by'), null);
});

test('an open API (no keys) is refused on a non-loopback address', () => {
  const open = parseConfig({ ...s.config, auth: {}, api: { ...s.config.api, host: '0.0.0.0' } });
  assert.throws(() => assertSafeOpenMode(open, new Map()), /loopback only/);
  assert.equal(assertSafeOpenMode(parseConfig({ ...s.config, auth: {} }), new Map()), true);
});

test('/openapi.json is generated from the validating schemas', async () => {
  const doc = (await s.api('/openapi.json')).body;
  assert.equal(doc.openapi, '3.0.3');
  const chatReq = doc.components.schemas.ChatCompletionRequest;
  assert.deepEqual(chatReq.required.sort(), ['messages', 'model']);
  assert.equal(chatReq.additionalProperties, false, 'unknown fields are rejected, and the document says so');
  assert.deepEqual(chatReq.properties.routing.properties.strategy.enum, ['priority', 'weighted', 'latency', 'cost']);
  for (const p of ['/v1/chat/completions', '/v1/jobs', '/v1/jobs/{id}/events', '/v1/batches']) assert.ok(doc.paths[p], p);
});
