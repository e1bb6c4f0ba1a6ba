/**
 * `/v1/chat/completions` with an Idempotency-Key: the official OpenAI client's own retries after a
 * dropped connection attach to the running job (one provider call), a stream comes back from its
 * start or from Last-Event-ID, and failures tell the client not to retry what the gateway already
 * retried. The OpenAI SDK sends no Idempotency-Key by itself (node_modules/openai: no
 * `idempotencyHeader`; only `X-Stainless-Retry-Count`), so the caller passes one in `headers`.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import OpenAI, { APIError } from 'openai';
import { jobIdFor } from '../api/idempotency';
import { startTestStack, type TestStack } from './support/stack';
import { waitFor } from './support/wait';

const PRIMARY = 'openai-us-east-1';
const user = (text: string) => [{ role: 'user' as const, content: text }];

/** A TCP proxy in front of the API whose open connections can be cut (a network drop). */
async function cuttingProxy(apiUrl: string) {
  const target = new URL(apiUrl);
  const open = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((downstream) => {
    connections += 1;
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const sock of [downstream, upstream]) {
      open.add(sock);
      sock.on('error', () => undefined);
      sock.on('close', () => {
        open.delete(sock);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    /** Resets every open connection, both sides. */
    cut: () => [...open].forEach((sock) => sock.resetAndDestroy()),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let s: TestStack;
let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
before(async () => {
  // Paced chunks, so a client can leave in the middle of a stream.
  s = await startTestStack({ mockOptions: { chunkDelayMs: 40 } });
  proxy = await cuttingProxy(s.gateway.apiUrl);
});
after(async () => {
  await proxy?.close();
  await s?.close();
});
afterEach(() => s.resetFaults());

const retrying = () => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'x', maxRetries: 2 });

test("the SDK's retry after a dropped connection attaches to the job: one provider call, the same answer", async () => {
  s.mocks[PRIMARY].setFaults({ latencyMs: 1_500 });
  const key = `k-${randomUUID()}`;
  const before = proxy.connections();
  const call = retrying()
    .chat.completions.create({ model: 'gpt-4o', messages: user('once only') }, { headers: { 'Idempotency-Key': key } })
    .withResponse();
  await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 1, 'the provider call to start');
  proxy.cut();
  const { data, response } = await call;
  assert.equal(data.choices[0].message.content, 'Echo from gpt-4o: once only');
  assert.ok(proxy.connections() - before >= 2, 'the SDK retried on a new connection');
  assert.equal(response.headers.get('x-stormproof-job-id'), jobIdFor(key));
  assert.equal(s.mocks[PRIMARY].stats().requests, 1, 'one provider call for both tries');
});

test('without a key each SDK retry is a new job (what the key prevents)', async () => {
  s.mocks[PRIMARY].setFaults({ latencyMs: 1_500 });
  const call = retrying().chat.completions.create({ model: 'gpt-4o', messages: user('twice') });
  await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 1, 'the provider call to start');
  proxy.cut();
  assert.equal((await call).choices[0].message.content, 'Echo from gpt-4o: twice');
  assert.equal(s.mocks[PRIMARY].stats().requests, 2);
});

test("a stream whose connection dropped before its first chunk: the SDK's retry gets the whole stream, one provider call", async () => {
  s.mocks[PRIMARY].setFaults({ latencyMs: 1_000 });
  const key = `k-${randomUUID()}`;
  const call = retrying().chat.completions.create(
    { model: 'gpt-4o', messages: user('stream it once only please'), stream: true },
    { headers: { 'Idempotency-Key': key } },
  );
  await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 1, 'the provider call to start');
  proxy.cut();
  let text = '';
  for await (const c of await call) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'Echo from gpt-4o: stream it once only please');
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
});

/** POSTs a streaming chat request and reads its SSE events; `stop` ends the read early (the client leaves). */
async function post(body: unknown, headers: Record<string, string>, stop?: (contentEvents: number) => boolean) {
  const abort = new AbortController();
  const res = await fetch(`${s.gateway.apiUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.any([abort.signal, AbortSignal.timeout(30_000)]),
  });
  const events: Array<{ id?: string; data: any }> = [];
  if (!res.headers.get('content-type')?.startsWith('text/event-stream'))
    return { status: res.status, headers: res.headers, events, json: (await res.json()) as any, text: '' };
  let buf = '';
  const decoder = new TextDecoder();
  try {
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(part, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const id = /^id: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data === undefined || data === '[DONE]') continue;
        events.push({ id, data: JSON.parse(data) });
        if (stop?.(events.filter((e) => e.data.choices?.[0]?.delta?.content).length)) {
          abort.abort();
          throw new Error('left');
        }
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
  const text = events.map((e) => e.data.choices?.[0]?.delta?.content ?? '').join('');
  return { status: res.status, headers: res.headers, events, json: undefined as any, text };
}

test('a client that left mid-stream comes back with Last-Event-ID and gets exactly the rest', async () => {
  const key = `k-${randomUUID()}`;
  const body = { model: 'gpt-4o', messages: user('one two three four five six seven eight nine ten eleven twelve'), stream: true };
  const first = await post(body, { 'idempotency-key': key }, (n) => n >= 3);
  const lastId = first.events.filter((e) => e.id).at(-1)?.id;
  assert.match(lastId ?? '', /^\d+\.[A-Za-z0-9_-]+$/);
  assert.equal(Number(lastId!.split('.')[0]), first.text.length, 'the id counts the characters received');
  const rest = await post(body, { 'idempotency-key': key, 'last-event-id': lastId! });
  assert.equal(rest.status, 200);
  assert.equal(first.text + rest.text, 'Echo from gpt-4o: one two three four five six seven eight nine ten eleven twelve');
  assert.equal(rest.events.at(-1)?.data.stormproof?.job_id, jobIdFor(key));
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);

  // A position that is not this answer's is refused explicitly, never answered with a garbled rest.
  const wrong = await post(body, { 'idempotency-key': key, 'last-event-id': `${first.text.length}.AAAAAAAAAAAAAAAA` });
  assert.equal(wrong.status, 502);
  assert.equal(wrong.json.error.code, 'STORMPROOF_ERR_STREAM_INTERRUPTED');
});

test('a key reused with another body: 409, and the SDK is told not to retry it', async () => {
  const key = `k-${randomUUID()}`;
  const sdk = retrying();
  await sdk.chat.completions.create({ model: 'gpt-4o', messages: user('first') }, { headers: { 'Idempotency-Key': key } });
  await assert.rejects(
    sdk.chat.completions.create({ model: 'gpt-4o', messages: user('second') }, { headers: { 'Idempotency-Key': key } }),
    (err: unknown) => {
      assert.ok(err instanceof APIError, String(err));
      assert.equal(err.status, 409);
      assert.equal(err.code, 'STORMPROOF_ERR_IDEMPOTENCY_CONFLICT');
      assert.equal(err.headers?.get('x-should-retry'), 'false');
      return true;
    },
  );
});

test('a request that failed after all its failovers is not retried by the SDK (one chain of provider calls)', async () => {
  for (const m of Object.values(s.mocks)) m.setFaults({ down: true });
  for (const stream of [false, true]) {
    for (const m of Object.values(s.mocks)) m.resetStats();
    await assert.rejects(retrying().chat.completions.create({ model: 'gpt-4o', messages: user('anyone?'), stream }), (err: unknown) => {
      assert.ok(err instanceof APIError && err.status === 503, String(err));
      assert.equal(err.headers?.get('x-should-retry'), 'false');
      const attempts = (err.error as any).stormproof.attempts.length;
      const calls = Object.values(s.mocks).reduce((n, m) => n + m.stats().requests, 0);
      assert.equal(calls, attempts, `one job's ${attempts} attempts, not the SDK's 3 tries of it`);
      return true;
    });
  }
});
