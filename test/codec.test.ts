/**
 * The payload codec on a whole stack: every payload a job, a chat, a batch and its item write to
 * Temporal is sealed (AES-256-GCM, key id in each), the prompt appears nowhere in the stored
 * history, the API still answers in plaintext (memos included: idempotency works), the codec
 * endpoint opens them for an admin (and the Web UI's origin), sealed histories replay with the
 * codec and not without it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { ENCRYPTED_ENCODING, codecFromConfig } from '../shared/codec';
import { replayWorkerOptions } from '../worker/replay';
import { chat, startTestStack, type TestStack } from './support/stack';

const CANARY = `codec-canary-${randomUUID()}`;
let s: TestStack;

before(async () => {
  process.env.STORMPROOF_CODEC_KEYS = `old:${randomBytes(32).toString('base64')}`;
  process.env.STORMPROOF_CODEC_KEYS = `k2:${randomBytes(32).toString('base64')},${process.env.STORMPROOF_CODEC_KEYS}`;
  s = await startTestStack();
});
after(async () => {
  await s?.close();
  delete process.env.STORMPROOF_CODEC_KEYS;
});

type Payload = temporal.api.common.v1.IPayload & { path?: string };
/**
 * Every payload anywhere in a history (found by shape), except what no codec sees: search
 * attributes (Temporal indexes them: model, target, status, owner) and the bookkeeping the SDK's
 * core writes into markers itself (a local activity's type and attempt, a patch's id). The scan
 * for the prompt below covers those too.
 */
function payloadsIn(value: unknown, out: Payload[] = [], path = ''): Payload[] {
  if (!value || typeof value !== 'object' || ArrayBuffer.isView(value)) return out;
  const v = value as Record<string, unknown>;
  if (v.metadata && typeof v.metadata === 'object' && 'data' in v) out.push({ ...(v as Payload), path });
  for (const [k, child] of Object.entries(v)) {
    if (k === 'searchAttributes' || (path.endsWith('markerRecordedEventAttributes.details') && (k === 'data' || k === 'patch-data')))
      continue;
    payloadsIn(child, out, `${path}.${k}`);
  }
  return out;
}

async function history(id: string) {
  return s.gateway.client.workflow.getHandle(id).fetchHistory();
}

test('every payload of a job, a chat, a batch and its item is sealed; the prompt is nowhere in the stored history', async () => {
  const job = await s.submitJob(chat('gpt-4o', `${CANARY} job`), {});
  const done = await s.waitForJob(job);
  assert.equal(done.result?.message.content, `Echo from gpt-4o: ${CANARY} job`, 'the API reads through the codec');
  const chatRes = await s.api('/v1/chat/completions', { method: 'POST', json: chat('gpt-4o', `${CANARY} chat`) });
  assert.equal(chatRes.status, 200);
  const chatId = chatRes.headers.get('x-stormproof-job-id')!;
  const batch = await s.api('/v1/batches', { method: 'POST', json: { requests: [chat('gpt-4o', `${CANARY} batch`)] } });
  let view;
  do view = (await s.api(`/v1/batches/${batch.body.id}`)).body;
  while (view.status === 'running' && (await new Promise((r) => setTimeout(r, 100))) === undefined);
  assert.equal(view.items[0].result.message.content, `Echo from gpt-4o: ${CANARY} batch`);

  let sealed = 0;
  for (const id of [job, chatId, batch.body.id, view.items[0].jobId]) {
    const h = await history(id);
    for (const p of payloadsIn(h)) {
      assert.equal(
        Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString(),
        ENCRYPTED_ENCODING,
        `${id}: a plain payload at ${p.path}`,
      );
      sealed++;
    }
    const bytes = Buffer.from(
      JSON.stringify(h, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Buffer.from(v as Uint8Array).toString('latin1') : v)),
      'latin1',
    );
    assert.ok(!bytes.includes(CANARY), `${id}: the prompt is readable in the stored history`);
  }
  assert.ok(sealed > 20, `${sealed} sealed payloads`);
});

test('memos are sealed too and still work: the same Idempotency-Key finds the job, another body is a 409', async () => {
  const headers = { 'idempotency-key': `codec-${randomUUID()}` };
  const a = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'once') }, headers });
  const b = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'once') }, headers });
  assert.equal(b.body.id, a.body.id);
  assert.equal((await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'twice') }, headers })).status, 409);
});

test('the codec endpoint opens sealed payloads (CORS for the Web UI); sealed histories replay with the codec only', async () => {
  const id = await s.submitJob(chat('gpt-4o', `${CANARY} endpoint`));
  await s.waitForJob(id);
  const h = await history(id);
  const payloads = payloadsIn(h).map(({ path: _p, ...p }) => ({
    metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  }));
  const res = await s.api('/v1/codec/decode', { method: 'POST', json: { payloads }, headers: { origin: 'http://127.0.0.1:8233' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8233');
  const opened = (res.body.payloads as Array<{ data: string }>).map((p) => Buffer.from(p.data, 'base64').toString());
  assert.ok(opened.some((t) => t.includes(`${CANARY} endpoint`)));
  const preflight = await s.api('/v1/codec/decode', {
    method: 'OPTIONS',
    headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(preflight.headers.get('access-control-allow-origin'), null, 'other origins get no CORS grant');

  const codec = codecFromConfig(s.config)!;
  await Worker.runReplayHistory(replayWorkerOptions({ dataConverter: { payloadCodecs: [codec] } }), h, id);
  await assert.rejects(
    Worker.runReplayHistory(replayWorkerOptions(), h, id),
    'without the key the history cannot be replayed: it really is sealed',
  );
});
