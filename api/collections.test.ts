/** The collections routes over HTTP, with a real mock provider embedding (no Temporal needed). */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { startMockProvider, type MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createRagService, createRetrievalActivities, type RagService } from '../activities/retrieval';
import type { RagIngestInput } from '../contracts/retrieval';
import { collectionsRouter } from './collections';
import { errorHandler } from './errors';
import { OPEN_PRINCIPAL } from './auth';

let mock: MockProvider;
let dir: string;
let rag: RagService;
let server: Server;
let base: string;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  mock = await startMockProvider({ kind: 'openai' });
  dir = mkdtempSync(join(tmpdir(), 'stormproof-collections-'));
  const config = parseConfig({
    targets: [{ id: 'emb', kind: 'openai', baseUrl: mock.baseUrl, mock: true, models: [{ id: 'gpt-4o-mini' }] }],
    rag: { dataDir: dir, embeddings: { target: 'emb', dimensions: 128 }, vectorBudgetMs: 500 },
  });
  rag = createRagService(config);
  // Ingestion runs as a workflow on a worker: here its activity runs at once, in an activity context.
  const { ingestCollection } = createRetrievalActivities({ rag });
  const client = {
    workflow: { execute: (_type: string, o: { args: [RagIngestInput] }) => new MockActivityEnvironment().run(ingestCollection, o.args[0]) },
  } as unknown as Client;
  // The router reads the caller from the auth middleware: here, the open mode's local operator.
  const app = express()
    .use(express.json())
    .use((_req, res, next) => {
      res.locals.principal = OPEN_PRINCIPAL;
      next();
    })
    .use('/v1/collections', collectionsRouter({ config, rag, client, taskQueue: 'unused' }));
  app.use(errorHandler((err) => console.error(err)));
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise((r) => server.close(r));
  await rag.close();
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

test('POST documents ingests; GET lists; POST query retrieves by vector, then by keyword when embeddings are down', async () => {
  const ingest = await call('POST', '/v1/collections/kb/documents', {
    documents: [
      { source: 'https://example.com/cats', text: 'Cats purr and sleep most of the day.' },
      { id: 'dogs', source: 'dogs.md', text: 'Dogs bark at the mail carrier and love walks.' },
    ],
  });
  assert.equal(ingest.status, 200);
  assert.deepEqual(ingest.body, { collection: 'kb', documents: 2, chunks: 2, embedded: 2 });

  const list = await call('GET', '/v1/collections');
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.data.map(({ updatedAt, ...c }: any) => (assert.ok(Date.parse(updatedAt)), c)),
    [{ name: 'kb', documents: 2, chunks: 2, vectors: 2, embeddingModel: 'text-embedding-3-small', dimensions: 128 }],
  );

  const q = await call('POST', '/v1/collections/kb/query', { query: 'which animal barks at the mail carrier', topK: 1 });
  assert.equal(q.status, 200);
  assert.equal(q.body.mode, 'vector');
  assert.deepEqual(
    q.body.passages.map((p: any) => [p.id, p.source]),
    [['dogs#0', 'dogs.md']],
  );

  mock.setFaults({ down: true });
  const k = await call('POST', '/v1/collections/kb/query', { query: 'purr' });
  mock.clearFaults();
  assert.equal(k.body.mode, 'keyword');
  assert.match(k.body.degradedReason, /embedding the query on emb failed/);
  assert.equal(k.body.passages[0].source, 'https://example.com/cats');
});

test('bad names, bodies and unknown collections get stable error codes', async () => {
  const badName = await call('POST', '/v1/collections/Bad%20Name/documents', { documents: [{ source: 's', text: 't' }] });
  assert.equal(badName.status, 400);
  assert.equal(badName.body.error.code, 'STORMPROOF_ERR_INVALID_REQUEST');
  const badBody = await call('POST', '/v1/collections/kb/documents', { documents: [{ text: 'no source' }] });
  assert.equal(badBody.status, 400);
  assert.match(badBody.body.error.message, /documents\.0\.source/);
  const empty = await call('POST', '/v1/collections/kb/documents', { documents: [] });
  assert.equal(empty.status, 400);
  const unknown = await call('POST', '/v1/collections/missing/query', { query: 'x' });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'STORMPROOF_ERR_COLLECTION_NOT_FOUND');
});
