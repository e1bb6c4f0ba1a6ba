/**
 * Quotas that add up across workers (issue 14): two workers on one task queue, each with
 * `routing.quotaShare: auto`, count each other through Temporal's poller list and take half of the
 * primary target's request limit each, so the provider sees at most its limit (plus what the
 * buckets refill while the test runs) whichever worker runs each request. With the old static
 * share of 1, each worker spent the whole limit: twice the quota.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import type { GatewayConfig } from '../config/schema';
import { startApiServer, type RunningApi } from '../api/server';
import { createGatewayWorker, type GatewayWorker } from '../worker/worker';
import { mockedConfig } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { waitFor } from './support/wait';

const PRIMARY = 'openai-us-east-1';
const LIMIT = 6;
const REQUESTS = 20;
let mocks: Record<string, MockProvider>;
let config: GatewayConfig;
let api: RunningApi;
let connection: Connection;
const workers: { gw: GatewayWorker; connection: NativeConnection; running: Promise<void>; primaryCalls: number }[] = [];

before(async () => {
  const address = await testTemporalAddress();
  const cfg = await mockedConfig(address, (raw) => {
    const primary = raw.targets.find((t: { id: string }) => t.id === PRIMARY);
    primary.limits = { requestsPerMinute: LIMIT };
    raw.routing = { ...raw.routing, quotaShareRefreshMs: 500 };
  });
  mocks = cfg.mocks;
  config = parseConfig(cfg.raw, 'test');
  assert.equal(config.routing.quotaShare, 'auto', 'the default');
  for (const identity of ['quota-worker-a', 'quota-worker-b']) {
    const nc = await NativeConnection.connect({ address });
    const entry = { connection: nc, primaryCalls: 0 } as (typeof workers)[number];
    entry.gw = await createGatewayWorker({
      connection: nc,
      config,
      identity,
      onOutcome: (o) => void (o.target === PRIMARY && !o.inFlight && entry.primaryCalls++),
    });
    entry.running = entry.gw.run();
    workers.push(entry);
  }
  connection = await Connection.connect({ address });
  api = await startApiServer({ config, client: new Client({ connection }), port: 0, log: { error: () => undefined } });
});

after(async () => {
  await api?.close();
  await connection?.close();
  for (const w of workers) {
    w.gw.worker.shutdown();
    await w.running.catch(() => undefined);
    await w.connection.close();
  }
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
});

test('two workers share a target request limit: the provider sees at most the limit in all', async () => {
  // Both have counted each other (the poller list names both) before the first request.
  await waitFor(() => workers.every((w) => w.gw.routing.shareWatcher?.workers === 2), 'both workers counted', 15_000);
  for (const w of workers) assert.equal(w.gw.routing.quota.share, 0.5);
  const started = Date.now();
  const answeredBy: string[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const res = await fetch(`${api.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `request ${i}` }] }),
    });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    answeredBy.push(res.headers.get('x-stormproof-target') ?? '?');
  }
  const minutes = (Date.now() - started) / 60_000;
  const allowed = LIMIT + Math.ceil(LIMIT * minutes);
  const calls = mocks[PRIMARY].stats().requests;
  assert.ok(calls <= allowed, `the primary saw ${calls} calls; its limit allows ${allowed} in ${(minutes * 60).toFixed(1)} s`);
  assert.ok(calls >= LIMIT - 1, `the limit was used, not avoided (${calls} calls)`);
  assert.ok(answeredBy.includes('anthropic-eu-west-1'), 'requests beyond the quota went to the equivalent target');
  // The proof needs both workers to have called the primary (each within its half).
  for (const w of workers)
    assert.ok(
      w.primaryCalls >= 1 && w.primaryCalls <= LIMIT / 2 + Math.ceil((LIMIT / 2) * minutes),
      `worker calls: ${workers.map((x) => x.primaryCalls).join(', ')}`,
    );
});
