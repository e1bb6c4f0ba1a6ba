/**
 * An API-only process (no worker in it; the worker is a child process) serves the whole public
 * contract: `GET /v1/providers` reads the breakers' decisions from Temporal, and the operator's
 * override reaches the breaker workflow. (Before, both answered 404 without a worker in-process.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import type { GatewayConfig } from '../config/schema';
import { startApiServer, type RunningApi } from '../api/server';
import { mockedConfig } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { killHard, spawnWorker, writeConfig } from './support/processes';
import { waitFor } from './support/wait';

let mocks: Record<string, MockProvider>;
let connection: Connection;
let api: RunningApi;
let worker: ChildProcess;
let config: GatewayConfig;

before(async () => {
  const address = await testTemporalAddress();
  const cfg = await mockedConfig(address);
  mocks = cfg.mocks;
  config = parseConfig(cfg.raw, 'test');
  worker = await spawnWorker(writeConfig(cfg.raw), 'api-only-worker');
  connection = await Connection.connect({ address });
  api = await startApiServer({ config, client: new Client({ connection }), port: 0, log: { error: () => undefined } });
});
after(async () => {
  if (worker) await killHard(worker);
  await api?.close();
  await connection?.close();
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
});

const get = async (path: string) => {
  const res = await fetch(`${api.url}${path}`);
  return { status: res.status, body: (await res.json()) as any };
};

test('GET /v1/providers answers from an API-only process, with breaker state read from Temporal', async () => {
  // The worker starts every breaker workflow; until then a breaker reads "unknown".
  await waitFor(
    async () => (await get('/v1/providers')).body.data?.every((p: any) => p.breaker.state === 'closed'),
    'every breaker to read closed',
    20_000,
    200,
  );
  const { status, body } = await get('/v1/providers');
  assert.equal(status, 200);
  assert.deepEqual(
    body.data.map((p: any) => p.id),
    config.targets.map((t) => t.id),
  );
  for (const p of body.data) {
    assert.equal(p.breaker.workflowId, `${config.temporal.workflowIdPrefix}breaker-${p.id}`);
    assert.equal(p.observedBy, 'none', 'latency and quota are per worker: an API-only process claims none');
  }
  assert.equal((await get('/v1/providers/openai-us-east-1')).body.id, 'openai-us-east-1');
  assert.equal((await get('/v1/providers/nope')).status, 404);
});

test('POST /v1/providers/:id/breaker from an API-only process reaches the breaker workflow', async () => {
  const res = await fetch(`${api.url}/v1/providers/selfhosted-onprem/breaker`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'open' }),
  });
  assert.equal(res.status, 202);
  let seen: any;
  await waitFor(
    async () => {
      seen = (await get('/v1/providers/selfhosted-onprem')).body.breaker;
      return seen.recentTransitions.some((t: any) => t.to === 'open');
    },
    'the forced closed→open transition to be recorded',
    20_000,
    200,
  );
  assert.equal(seen.forced, 'open');
  const reset = await fetch(`${api.url}/v1/providers/selfhosted-onprem/breaker`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'reset' }),
  });
  assert.equal(reset.status, 202);
  const bad = await fetch(`${api.url}/v1/providers/selfhosted-onprem/breaker`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'explode' }),
  });
  assert.equal(bad.status, 400);
});
