/**
 * RAG ingestion in the split (issue 14): an API-only process without any provider key ingests a
 * document. The API starts `ragIngestWorkflow`; the worker process, which holds the key, embeds.
 * The mocks refuse any other key, so an API that embedded itself would get a keyword-only
 * ingestion (embedded 0, degradedReason set) instead.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import { startApiServer, type RunningApi } from '../api/server';
import { mockedConfig } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { killHard, spawnWorker, writeConfig } from './support/processes';

const KEY = 'sk-worker-only-key';
const KEY_ENVS = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY'];
const saved = Object.fromEntries(KEY_ENVS.map((k) => [k, process.env[k]]));
let mocks: Record<string, MockProvider>;
let connection: Connection;
let api: RunningApi;
let worker: ChildProcess;

before(async () => {
  // This process is the API: no provider key in its environment.
  for (const k of KEY_ENVS) delete process.env[k];
  const address = await testTemporalAddress();
  const cfg = await mockedConfig(address, undefined, { apiKey: KEY });
  mocks = cfg.mocks;
  const config = parseConfig(cfg.raw, 'test');
  worker = await spawnWorker(writeConfig(cfg.raw), 'rag-ingest-worker', Object.fromEntries(KEY_ENVS.map((k) => [k, KEY])));
  connection = await Connection.connect({ address });
  api = await startApiServer({ config, client: new Client({ connection }), port: 0, log: { error: () => undefined } });
});

after(async () => {
  if (worker) await killHard(worker);
  await api?.close();
  await connection?.close();
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
  for (const k of KEY_ENVS) if (saved[k] !== undefined) process.env[k] = saved[k];
});

async function post(path: string, body: unknown) {
  const res = await fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

test('an API-only process without provider keys ingests: the worker embeds with its key', async () => {
  for (const k of KEY_ENVS) assert.equal(process.env[k], undefined, `${k} is not in the API's environment`);
  const docs = [
    { id: 'cats', source: 'cats.md', text: 'Cats purr and sleep most of the day.' },
    { id: 'dogs', source: 'dogs.md', text: 'Dogs bark at the mail carrier and love walks.' },
  ];
  const res = await post('/v1/collections/split-kb/documents', { documents: docs });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body, { collection: 'split-kb', documents: 2, chunks: 2, embedded: 2 }, 'every chunk embedded (none keyword-only)');
  const list = await fetch(`${api.url}/v1/collections`).then((r) => r.json() as Promise<any>);
  const kb = list.data.find((c: any) => c.name === 'split-kb');
  assert.equal(kb?.vectors, 2, JSON.stringify(list));
});

test('a bad ingestion is refused by the API before any workflow starts: a 400 with a stable code', async () => {
  const res = await post('/v1/collections/split-kb/documents', { documents: [] });
  assert.equal(res.status, 400);
  assert.equal(res.body.error.code, 'STORMPROOF_ERR_INVALID_REQUEST');
});
