/**
 * Secrets stay secret: the gateway runs as processes (API, worker) with sentinel values in every
 * secret (provider keys, API keys, the callback signing secret, the stream relay token, the codec
 * key); after jobs, chats (streamed through the relay), a batch, a failover on a 401, a callback,
 * RAG and a codec call, no sentinel (nor its last 8 characters) appears in the decoded histories,
 * the processes' logs, /metrics, /readyz, the job, batch and collection views, or what the
 * callback receiver got.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload } from '@temporalio/common';
import { codecFromConfig } from '../shared/codec';
import { chat } from './support/stack';
import { startProcessStack, type ProcessStack } from './support/process-stack';

const id = () => randomUUID().replace(/-/g, '');
const SECRETS = {
  OPENAI_API_KEY: `sk-SENTINEL${id()}`,
  ANTHROPIC_API_KEY: `sk-ant-SENTINEL${id()}`,
  STORMPROOF_CALLBACK_SECRET: `SENTINEL-callback-${id()}`,
  STORMPROOF_INTERNAL_TOKEN: `SENTINEL-relay-${id()}`,
  tenantKey: `SENTINEL-tenant-${id()}`,
  adminKey: `SENTINEL-admin-${id()}`,
  codecKey: randomBytes(32).toString('base64'),
};
const ENV = {
  OPENAI_API_KEY: SECRETS.OPENAI_API_KEY,
  ANTHROPIC_API_KEY: SECRETS.ANTHROPIC_API_KEY,
  STORMPROOF_CALLBACK_SECRET: SECRETS.STORMPROOF_CALLBACK_SECRET,
  STORMPROOF_INTERNAL_TOKEN: SECRETS.STORMPROOF_INTERNAL_TOKEN,
  STORMPROOF_API_KEYS: `tenant:${SECRETS.tenantKey},ops:${SECRETS.adminKey}:admin`,
  STORMPROOF_CODEC_KEYS: `k1:${SECRETS.codecKey}`,
};
const NEEDLES = Object.values(SECRETS).flatMap((v) => [v, v.slice(-8)]);

let stack: ProcessStack;
let receiver: http.Server;
const received: string[] = [];
const tenant = { authorization: `Bearer ${SECRETS.tenantKey}` };
const admin = { authorization: `Bearer ${SECRETS.adminKey}` };

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push(JSON.stringify(req.headers) + body);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  stack = await startProcessStack({
    env: ENV,
    edit: (raw) => {
      raw.callbacks = { allowedCidrs: ['127.0.0.1/32'], allowHttp: true, initialIntervalMs: 100 };
    },
  });
});
after(async () => {
  await stack?.stop();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});

async function api(path: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const { json, ...rest } = init;
  const res = await fetch(`${stack.apiUrl}${path}`, {
    ...rest,
    headers: { ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...(rest.headers as Record<string, string>) },
    body: json !== undefined ? JSON.stringify(json) : rest.body,
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

async function until(path: string, done: (body: any) => boolean): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await api(path, { headers: admin });
    if (r.status === 200 && done(JSON.parse(r.text))) return r.text;
    assert.ok(Date.now() < deadline, `${path} did not finish: ${r.text.slice(0, 300)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** Every payload in a history, decoded with the codec, as text. */
async function decodedText(value: unknown, codec: NonNullable<ReturnType<typeof codecFromConfig>>): Promise<string> {
  const found: Payload[] = [];
  const walk = (v: unknown) => {
    if (!v || typeof v !== 'object' || ArrayBuffer.isView(v)) return;
    const o = v as Record<string, unknown>;
    if (o.metadata && typeof o.metadata === 'object' && 'data' in o) found.push(o as Payload);
    for (const c of Object.values(o)) walk(c);
  };
  walk(value);
  const opened = await codec.decode(found);
  return opened.map((p) => Buffer.from(p.data ?? new Uint8Array()).toString()).join('\n');
}

test('no secret in histories, logs, /metrics, views or callbacks', async (t) => {
  t.diagnostic(`logs in ${stack.logDir}`);
  const texts: Record<string, string> = {};
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const ids: string[] = [];
  for (const body of [{ request: chat('gpt-4o', 'secrets job'), callbackUrl: hook }, { request: chat('claude-sonnet-4', 'second') }]) {
    const r = await api('/v1/jobs', { method: 'POST', json: body, headers: tenant });
    assert.equal(r.status, 202, r.text);
    ids.push(JSON.parse(r.text).id);
  }
  // A provider refusing the key (401): the job fails over and the error is recorded.
  stack.mocks['openai-us-east-1'].setFaults({ errorRate: 1, errorStatus: 401 });
  const failover = await api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'after a 401') }, headers: tenant });
  ids.push(JSON.parse(failover.text).id);
  texts.failoverView = await until(`/v1/jobs/${ids[2]}`, (b) => b.status === 'completed');
  stack.mocks['openai-us-east-1'].clearFaults();
  const sync = await api('/v1/chat/completions', { method: 'POST', json: chat('gpt-4o', 'sync chat'), headers: tenant });
  assert.equal(sync.status, 200, sync.text);
  ids.push(sync.headers.get('x-stormproof-job-id')!);
  const streamed = await api('/v1/chat/completions', {
    method: 'POST',
    json: chat('gpt-4o', 'streamed chat', { stream: true }),
    headers: tenant,
  });
  assert.equal(streamed.status, 200);
  texts.stream = streamed.text;
  ids.push(streamed.headers.get('x-stormproof-job-id')!);
  const batch = await api('/v1/batches', {
    method: 'POST',
    json: { requests: [chat('gpt-4o', 'b1'), chat('fast', 'b2')] },
    headers: tenant,
  });
  const batchId = JSON.parse(batch.text).id;
  texts.batch = await until(`/v1/batches/${batchId}`, (b) => b.status !== 'running');
  const docs = await api('/v1/collections/private/documents', {
    method: 'POST',
    json: { documents: [{ id: 'd', source: 'd.md', text: 'secret handbook words' }] },
    headers: tenant,
  });
  assert.equal(docs.status, 200, docs.text);
  const rag = await api('/v1/jobs', {
    method: 'POST',
    json: { request: chat('gpt-4o', 'handbook words', { rag: { collection: 'private' } }) },
    headers: tenant,
  });
  ids.push(JSON.parse(rag.text).id);
  assert.equal((await api('/v1/codec/decode', { method: 'POST', json: { payloads: [] }, headers: admin })).status, 200);
  for (const j of ids)
    texts[`view ${j}`] = await until(
      `/v1/jobs/${j}`,
      (b) => b.status !== 'queued' && b.status !== 'running' && (!b.callback || b.callback.status !== 'pending'),
    );
  assert.ok(received.length >= 1, 'the callback was delivered');
  texts.callbacks = received.join('\n');
  texts.collections = (await api('/v1/collections', { headers: admin })).text;
  texts.list = (await api('/v1/jobs?limit=200', { headers: admin })).text;
  texts.metrics = (await api('/metrics')).text;
  texts.readyz = (await api('/readyz')).text;

  const codec = codecFromConfig(stack.config, ENV)!;
  let histories = 0;
  for await (const info of stack.client.workflow.list({ query: `TaskQueue = "${stack.config.temporal.taskQueue}"` })) {
    const h = await stack.client.workflow.getHandle(info.workflowId, info.runId).fetchHistory();
    texts[`history ${info.workflowId}`] = `${await decodedText(h, codec)}\n${JSON.stringify(h)}`;
    histories++;
  }
  assert.ok(histories >= ids.length + 3, `${histories} histories scanned`);
  assert.ok(texts[`history ${ids[0]}`].includes('secrets job'), 'the scan reads decoded payloads (it sees the prompt)');
  texts.logs = stack.logs();
  assert.ok(texts.logs.length > 1000, 'the processes logged');

  const hits = Object.entries(texts).flatMap(([where, text]) =>
    NEEDLES.filter((n) => text.includes(n)).map((n) => `${where}: ${n.slice(0, 12)}…`),
  );
  assert.deepEqual(hits, []);
});
