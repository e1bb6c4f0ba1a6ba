/**
 * Crash drills: the API, a worker and the Temporal server are each SIGKILLed at 20 points
 * (DRILL_ROUNDS) while 500 mixed jobs (DRILL_JOBS) are submitted and run: plain jobs, jobs with
 * callbacks, batch items and synchronous chats. From the client's side:
 * - every job the client submitted was accepted, under its Idempotency-Key, and completed exactly
 *   once: one job id per key (retries after a crash found the same job), one terminal answer;
 * - every callback arrived, each delivery carrying one delivery id (duplicates share it);
 * - no batch item was lost: every batch completed with all its items;
 * - an event stream followed across API crashes with Last-Event-ID has no gap and no repeat.
 * The gateway runs as processes at the default config (callbacks allowed to the local receiver).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { chat } from './support/stack';
import { startProcessStack, type ProcessStack } from './support/process-stack';
import { readSse, type SseEvent } from './support/sse';

const ROUNDS = Number(process.env.DRILL_ROUNDS ?? 20);
const JOBS = Number(process.env.DRILL_JOBS ?? 500);
const BATCH_SIZE = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let stack: ProcessStack;
let receiver: http.Server;
/** Callback deliveries by job id: the delivery ids seen. */
const deliveries = new Map<string, string[]>();

before(async () => {
  process.env.STORMPROOF_CALLBACK_SECRET ??= 'drill-secret';
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const job = String(req.headers['x-stormproof-job-id']);
      deliveries.set(job, [...(deliveries.get(job) ?? []), String(req.headers['x-stormproof-delivery-id'])]);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  stack = await startProcessStack({
    workers: 2,
    edit: (raw) =>
      (raw.callbacks = { allowedCidrs: ['127.0.0.1/32'], allowHttp: true, initialIntervalMs: 200, maxIntervalMs: 2_000, maxAttempts: 100 }),
  });
});
after(async () => {
  await stack?.stop();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});

/** A POST retried until the gateway answers it (crashes in between are the point). */
async function post(path: string, body: unknown, key: string): Promise<{ status: number; body: any; headers: Headers }> {
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`${stack.apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      });
      const text = await res.text();
      if (res.status < 500 && res.status !== 429) return { status: res.status, body: JSON.parse(text), headers: res.headers };
    } catch {
      // the API is down or died mid-request: same key again
    }
    await sleep(Math.min(2_000, 200 * (i + 1)));
  }
}

async function get(path: string): Promise<any> {
  for (;;) {
    try {
      const res = await fetch(`${stack.apiUrl}${path}`, { signal: AbortSignal.timeout(30_000) });
      if (res.status === 200) return await res.json();
    } catch {
      // down: again
    }
    await sleep(300);
  }
}

/** Follows a job's events across API crashes, resuming with the last event id. */
async function follow(id: string): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for (;;) {
    const last = events.at(-1)?.id;
    try {
      const r = await readSse(`${stack.apiUrl}/v1/jobs/${id}/events`, {
        headers: last ? { 'last-event-id': last } : {},
        timeoutMs: 600_000,
      });
      events.push(...r.events);
    } catch {
      // the API died mid-stream
    }
    if (['completed', 'failed', 'cancelled'].includes(events.at(-1)?.event ?? '')) return events;
    await sleep(300);
  }
}

test(`crash drill: ${ROUNDS} SIGKILLs each of the API, a worker and Temporal under ${JOBS} mixed jobs; nothing accepted is lost or doubled`, async () => {
  const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const run = randomUUID().slice(0, 8);
  const batches = Math.floor(JOBS / 5 / BATCH_SIZE);
  const kinds = Array.from({ length: JOBS - batches * BATCH_SIZE }, (_, i) => (i % 4 === 0 ? 'callback' : i % 4 === 1 ? 'chat' : 'job'));
  const accepted = new Map<string, { id: string; kind: string }>();
  // Streams followed from the start, with a slow provider so they live through several crashes.
  stack.mocks['anthropic-eu-west-1'].setFaults({ latencyMs: 3_000 });

  const kills = { api: 0, worker: 0, temporal: 0 };
  /** Rounds of kills done; submissions are spread over them, so every kill meets fresh work. */
  let round = 0;
  const killer = (async () => {
    for (let r = 0; r < ROUNDS; r++, round++) {
      await sleep(800);
      const w = r % 2;
      await stack.killWorker(w);
      kills.worker++;
      const restartWorker = stack.startWorker(w);
      await sleep(400);
      await stack.killTemporal();
      kills.temporal++;
      await sleep(300);
      await stack.killApi();
      kills.api++;
      await stack.startTemporal();
      await stack.startApi();
      await restartWorker;
    }
  })();
  const roundOf = (i: number, total: number) => Math.floor((i * ROUNDS) / total);
  const waitForRound = async (r: number) => {
    while (round < r) await sleep(100);
  };

  const submit = async (i: number) => {
    const key = `drill-${run}-${i}`;
    const kind = kinds[i];
    if (kind === 'chat') {
      const r = await post('/v1/chat/completions', chat('gpt-4o', `drill ${i}`), key);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      accepted.set(key, { id: r.headers.get('x-stormproof-job-id')!, kind });
      return;
    }
    const r = await post(
      '/v1/jobs',
      { request: chat(i % 7 === 0 ? 'claude-sonnet-4' : 'gpt-4o', `drill ${i}`), ...(kind === 'callback' ? { callbackUrl: hook } : {}) },
      key,
    );
    assert.equal(r.status, 202, JSON.stringify(r.body));
    accepted.set(key, { id: r.body.id, kind });
  };
  const streams = Array.from({ length: 4 }, async (_, s) => {
    await waitForRound(roundOf(s, 4));
    const r = await post('/v1/jobs', { request: chat('claude-sonnet-4', `stream ${s}`) }, `drill-${run}-stream-${s}`);
    return { id: r.body.id as string, events: await follow(r.body.id) };
  });
  const batchIds = Promise.all(
    Array.from({ length: batches }, async (_, b) => {
      await waitForRound(roundOf(b, batches));
      const r = await post(
        '/v1/batches',
        { requests: Array.from({ length: BATCH_SIZE }, (_, i) => chat('fast', `batch ${b} item ${i}`)), concurrency: 4 },
        `drill-${run}-batch-${b}`,
      );
      assert.equal(r.status, 202, JSON.stringify(r.body));
      return r.body.id as string;
    }),
  );
  // Submissions spread over the rounds, a few at a time.
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < kinds.length) {
        const i = next++;
        await waitForRound(roundOf(i, kinds.length));
        await submit(i);
      }
    }),
  );
  await killer;
  assert.deepEqual(kills, { api: ROUNDS, worker: ROUNDS, temporal: ROUNDS });

  // Every accepted job ended completed; one id per key (a retry after a crash found the same job).
  const ids = [...accepted.values()].map((a) => a.id);
  assert.equal(new Set(ids).size, accepted.size, 'one job per Idempotency-Key');
  for (const { id } of accepted.values()) {
    const view = await until(`/v1/jobs/${id}`, (v) => v.status !== 'queued' && v.status !== 'running');
    assert.equal(view.status, 'completed', `${id}: ${JSON.stringify(view).slice(0, 300)}`);
  }
  for (const id of await batchIds) {
    const view = await until(`/v1/batches/${id}?limit=${BATCH_SIZE}`, (v) => v.status !== 'running');
    assert.equal(view.status, 'completed', id);
    assert.deepEqual(view.counts, { queued: 0, running: 0, completed: BATCH_SIZE, failed: 0, cancelled: 0 }, `${id}: no item lost`);
  }
  // Callbacks: each job's deliveries all carry one delivery id (a receiver dedupes on it).
  for (const { id, kind } of accepted.values()) {
    if (kind !== 'callback') continue;
    await until(`/v1/jobs/${id}`, (v) => v.callback?.status === 'delivered');
    const seen = deliveries.get(id) ?? [];
    assert.ok(seen.length >= 1, `${id}: delivered`);
    assert.equal(new Set(seen).size, 1, `${id}: one delivery id across ${seen.length} POSTs`);
  }
  // Event streams resumed across crashes: exactly the events a fresh reader sees, in order.
  for (const { id, events } of await Promise.all(streams)) {
    const fresh = (await readSse(`${stack.apiUrl}/v1/jobs/${id}/events`)).events;
    assert.deepEqual(
      events.map((e) => [e.id, e.event]),
      fresh.map((e) => [e.id, e.event]),
      `${id}: no gap, no repeat`,
    );
  }
  stack.mocks['anthropic-eu-west-1'].clearFaults();
});

async function until(path: string, done: (v: any) => boolean): Promise<any> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const v = await get(path);
    if (done(v)) return v;
    assert.ok(Date.now() < deadline, `${path}: ${JSON.stringify(v).slice(0, 300)}`);
    await sleep(250);
  }
}
