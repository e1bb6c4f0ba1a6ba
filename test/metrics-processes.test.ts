/**
 * Split deployment: a standalone worker (`worker/main.ts`) serves its metrics on worker.metricsPort
 * (gateway series and the Temporal SDK's own), and an API-only process serves its own at /metrics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import { startApiServer, type RunningApi } from '../api/server';
import { freePort } from '../shared/runtime';
import { chat, mockedConfig } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { killHard, writeConfig } from './support/processes';
import { scrape, sum } from './support/prom';

let mocks: Record<string, MockProvider>;
let connection: Connection;
let api: RunningApi;
let worker: ChildProcess;
let workerMetrics: string;

before(async () => {
  const cfg = await mockedConfig(await testTemporalAddress());
  mocks = cfg.mocks;
  const config = parseConfig(cfg.raw, 'test');
  // Worker and API share the stream relay token (a standalone worker refuses to start without one).
  process.env[config.api.internalTokenEnv] = randomUUID();
  const port = await freePort();
  workerMetrics = `http://127.0.0.1:${port}/metrics`;
  worker = spawn(process.execPath, ['--import', 'tsx', resolve(__dirname, '..', 'worker', 'main.ts')], {
    env: {
      ...process.env,
      STORMPROOF_CONFIG: writeConfig(cfg.raw),
      STORMPROOF_WORKER_METRICS_PORT: String(port),
      STORMPROOF_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((ok, fail) => {
    let log = '';
    worker.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('worker polling')) ok();
    });
    worker.once('exit', (code) => fail(new Error(`worker exited (${code}):\n${log}`)));
  });
  connection = await Connection.connect({ address: config.temporal.address });
  api = await startApiServer({ config, client: new Client({ connection }), port: 0, log: { error: () => undefined } });
});
after(async () => {
  if (worker) await killHard(worker);
  await api?.close();
  await connection?.close();
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
});

test('the standalone worker serves gateway and Temporal SDK series; the API-only process serves its own', async () => {
  const res = await fetch(`${api.url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ request: chat('gpt-4o', 'split metrics') }),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  for (let i = 0; ; i++) {
    const job = (await (await fetch(`${api.url}/v1/jobs/${id}`)).json()) as { status: string };
    if (job.status === 'completed') break;
    assert.ok(i < 300, `job still ${job.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The state gauge comes from the worker's breaker view, which reads each breaker on its own
  // interval: the breakers this worker's start ensured may not have been read yet when a fast job
  // finishes. That gauge is a steady state once read (closed, nothing failing), so wait for it.
  let w = await scrape(workerMetrics);
  for (let i = 0; sum(w, 'stormproof_breaker_state', { state: 'closed' }) < 1 && i < 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    w = await scrape(workerMetrics);
  }
  assert.equal(sum(w, 'stormproof_provider_calls_total', { target: 'openai-us-east-1', outcome: 'ok' }), 1);
  assert.equal(sum(w, 'stormproof_requests_total', { status: 'completed' }), 1);
  assert.ok(sum(w, 'stormproof_breaker_state', { state: 'closed' }) >= 1, 'breaker states seen by the worker');
  assert.ok(
    w.some((x) => x.name === 'temporal_worker_task_slots_available'),
    'Temporal SDK runtime metrics',
  );
  assert.ok(sum(w, 'temporal_workflow_completed_total') >= 1, 'the SDK counted the completed workflow');
  const a = await scrape(`${api.url}/metrics`);
  assert.equal(sum(a, 'stormproof_jobs_submitted_total', { outcome: 'new' }), 1);
  assert.ok(sum(a, 'stormproof_http_requests_total', { method: 'POST', status: '202' }) >= 1, 'HTTP series');
  assert.ok(
    a.some((x) => x.name === 'stormproof_jobs_in_flight'),
    'jobs in flight, from Temporal visibility',
  );
  assert.equal(sum(a, 'stormproof_provider_calls_total'), 0, "provider calls are the worker's");
});
