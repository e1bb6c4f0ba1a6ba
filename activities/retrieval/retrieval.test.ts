/**
 * Retrieval against a real mock provider over HTTP, a real LanceDB and a real SQLite index (no
 * Temporal server: the activity runs in MockActivityEnvironment).
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import { startMockProvider, type MockProvider } from '../../chaos/mock-provider';
import { parseConfig } from '../../config/load';
import type { GatewayConfig } from '../../config/schema';
import type { RetrievalResult } from '../../contracts/retrieval';
import { createRagService, createRetrievalActivities, ensureSampleCollection, ingestDocuments, listCollections, type RagService } from '.';

const ROOT = resolve(__dirname, '../..');
const QUERY = 'when does the circuit breaker open and turn half-open';

let mock: MockProvider;
let dir: string;

function configFor(overrides: Record<string, unknown> = {}): GatewayConfig {
  return parseConfig({
    targets: [{ id: 'emb', kind: 'openai', baseUrl: mock.baseUrl, mock: true, models: [{ id: 'gpt-4o-mini' }] }],
    rag: { dataDir: mkdtempSync(join(dir, 'rag-')), embeddings: { target: 'emb', dimensions: 256 }, vectorBudgetMs: 400, ...overrides },
  });
}

async function sampleService(config = configFor()): Promise<RagService> {
  const rag = createRagService(config);
  await ensureSampleCollection(config, { rag, base: ROOT });
  return rag;
}

function run(rag: RagService, input: { collection: string; query: string; topK: number }): Promise<RetrievalResult> {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(
    createRetrievalActivities({ rag }).retrieve,
    input,
  );
}

before(async () => {
  mock = await startMockProvider({ kind: 'openai' });
  dir = mkdtempSync(join(tmpdir(), 'stormproof-rag-'));
});
after(async () => {
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => mock.clearFaults());

describe('retrieval activity', () => {
  test('ingest, then vector search ranks the right document first', async () => {
    const rag = await sampleService();
    try {
      const r = await run(rag, { collection: 'sample', query: QUERY, topK: 3 });
      assert.equal(r.mode, 'vector');
      assert.equal(r.degradedReason, undefined);
      assert.equal(r.passages.length, 3);
      assert.equal(r.passages[0].source, 'config/rag-sample/failover.md');
      assert.match(r.passages[0].text, /half-open/);
      assert.ok(r.passages[0].score > r.passages[1].score);
      assert.ok(mock.stats().byRoute['POST /v1/embeddings'] >= 2, 'ingestion and the query were embedded by the mock');
    } finally {
      await rag.close();
    }
  });

  test('embeddings target down: keyword results, mode keyword, a reason naming what failed', async () => {
    const rag = await sampleService();
    try {
      mock.setFaults({ down: true });
      const r = await run(rag, { collection: 'sample', query: QUERY, topK: 3 });
      assert.equal(r.mode, 'keyword');
      assert.match(r.degradedReason ?? '', /^embedding the query on emb failed: .*; answered by keyword search \(BM25\) instead$/);
      assert.equal(r.passages[0].source, 'config/rag-sample/failover.md');
      assert.ok(r.passages.every((p) => p.score > 0));
    } finally {
      await rag.close();
    }
  });

  test('embeddings target slower than the budget: keyword results within about the budget', async () => {
    const rag = await sampleService();
    try {
      mock.setFaults({ latencyMs: 3_000 });
      const t0 = performance.now();
      const r = await run(rag, { collection: 'sample', query: QUERY, topK: 2 });
      const ms = performance.now() - t0;
      assert.equal(r.mode, 'keyword');
      assert.match(r.degradedReason ?? '', /exceeded its 400 ms budget while embedding the query on emb/);
      assert.equal(r.passages.length, 2);
      assert.ok(ms >= 380 && ms < 1_500, `answered in ${Math.round(ms)} ms`);
    } finally {
      await rag.close();
    }
  });

  test('unknown collection: a non-retryable RagCollectionNotFound failure', async () => {
    const rag = await sampleService();
    try {
      await assert.rejects(run(rag, { collection: 'nope', query: 'x', topK: 1 }), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure);
        assert.equal(err.type, 'RagCollectionNotFound');
        assert.equal(err.nonRetryable, true);
        assert.match(err.message, /no collection "nope"/);
        assert.doesNotMatch(err.message, /sample/, "other collections are not named (they may be other tenants')");
        return true;
      });
    } finally {
      await rag.close();
    }
  });

  test('a collection ingested while embedding was down is keyword-only until ingested again', async () => {
    const rag = createRagService(configFor());
    const docs = [
      { source: 'a.md', text: 'Quotas limit requests per minute for each target.' },
      { source: 'b.md', text: 'Hedging starts a second call after a latency budget.' },
    ];
    try {
      mock.setFaults({ down: true });
      const first = await ingestDocuments(rag, 'docs', docs);
      assert.equal(first.embedded, 0);
      assert.match(first.degradedReason ?? '', /^embedding on emb failed: .*; 0 of 2 chunks have vectors/);
      const r = await run(rag, { collection: 'docs', query: 'hedging latency', topK: 1 });
      mock.clearFaults();
      const r2 = await run(rag, { collection: 'docs', query: 'hedging latency', topK: 1 });
      assert.deepEqual([r.mode, r2.mode], ['keyword', 'keyword']);
      assert.match(r2.degradedReason ?? '', /has no vectors/);
      assert.equal(r2.passages[0].source, 'b.md');

      const second = await ingestDocuments(rag, 'docs', docs);
      assert.deepEqual([second.embedded, second.degradedReason], [2, undefined]);
      const r3 = await run(rag, { collection: 'docs', query: 'hedging latency', topK: 1 });
      assert.equal(r3.mode, 'vector');
      assert.equal(r3.passages[0].source, 'b.md');
      // Ingested twice, stored once.
      assert.deepEqual(
        (await listCollections(rag)).map(({ name, documents, chunks, vectors }) => ({ name, documents, chunks, vectors })),
        [{ name: 'docs', documents: 2, chunks: 2, vectors: 2 }],
      );
    } finally {
      await rag.close();
    }
  });

  test('large loads embed in batches and report progress', async () => {
    const rag = createRagService(configFor({ embeddings: { target: 'emb', dimensions: 32, batchSize: 10 } }));
    try {
      const docs = Array.from({ length: 35 }, (_, i) => ({
        id: `doc-${i}`,
        source: `doc-${i}.md`,
        text: `Document ${i} is about topic${i}.`,
      }));
      const seen: number[] = [];
      mock.resetStats();
      const res = await ingestDocuments(rag, 'big', docs, { onProgress: (p) => seen.push(p.embedded) });
      assert.deepEqual(res, { collection: 'big', documents: 35, chunks: 35, embedded: 35 });
      assert.deepEqual(seen, [0, 10, 20, 30, 35]);
      assert.equal(mock.stats().byRoute['POST /v1/embeddings'], 4);
      const r = await run(rag, { collection: 'big', query: 'topic17', topK: 1 });
      assert.equal(r.passages[0].id, 'doc-17#0');
    } finally {
      await rag.close();
    }
  });

  test('the sample collection is ingested once, and again only if it lacks vectors', async () => {
    const config = configFor();
    const rag = createRagService(config);
    try {
      const first = await ensureSampleCollection(config, { rag, base: ROOT });
      assert.ok(first && first.documents >= 5 && first.embedded === first.chunks);
      assert.equal(await ensureSampleCollection(config, { rag, base: ROOT }), undefined);
    } finally {
      await rag.close();
    }
  });
});
