/** RAG end to end: ingest, retrieval into the prompt with sources, and vector → keyword degradation. */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chat, startTestStack, type TestStack } from './support/stack';

let s: TestStack;
before(async () => {
  s = await startTestStack();
  const docs = [
    {
      id: 'breakers',
      source: 'breakers.md',
      text: 'A circuit breaker opens when the error rate of a provider target passes its threshold, and half-opens after a cooldown.',
    },
    {
      id: 'tiers',
      source: 'tiers.md',
      text: 'Tiers group equivalent models: smart holds gpt-4o and claude-sonnet-4, fast holds the small models.',
    },
    { id: 'cooking', source: 'pasta.md', text: 'Boil the pasta in salted water for nine minutes, then drain it and add the sauce.' },
  ];
  const res = await s.api('/v1/collections/handbook/documents', { method: 'POST', json: { documents: docs } });
  assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body));
});
after(async () => {
  await s?.close();
});
afterEach(() => s.resetFaults());

const job = (request: unknown) => s.runJob(request, 60_000);

test('retrieved passages go into the prompt and the answer lists their sources', async () => {
  const j = await job(chat('llama-3.1-8b', 'when does a circuit breaker open?', { rag: { collection: 'handbook', topK: 2 } }));
  assert.equal(j.status, 'completed', JSON.stringify(j));
  assert.equal(j.result?.sources?.[0], 'breakers.md');
  assert.deepEqual(j.degradations, []);
  const sent = s.mocks['selfhosted-onprem'].stats().lastRequest?.body as any;
  const system = sent.messages.find((m: any) => m.role === 'system');
  assert.match(system.content, /circuit breaker opens when the error rate/);
  assert.match(system.content, /breakers\.md/);
});

test('embeddings target down: keyword results, the data degradation recorded, still answered', async () => {
  s.mocks['openai-us-east-1'].setFaults({ down: true });
  const j = await job(chat('llama-3.1-8b', 'pasta water minutes', { rag: { collection: 'handbook' } }));
  assert.equal(j.status, 'completed', JSON.stringify(j));
  assert.equal(j.result?.sources?.[0], 'pasta.md');
  assert.deepEqual(
    j.degradations.map((d) => [d.kind, d.from, d.to]),
    [['data', 'vector', 'keyword']],
  );
  assert.ok(j.degradations[0].reason.length > 0);
});

test('allowDegradation: false turns the keyword fallback into a clear error', async () => {
  s.mocks['openai-us-east-1'].setFaults({ down: true });
  const j = await job(chat('llama-3.1-8b', 'pasta', { rag: { collection: 'handbook' }, routing: { allowDegradation: false } }));
  assert.equal(j.status, 'failed');
  assert.equal(j.error?.type, 'DataDegradationRefused');
  assert.match(j.error!.message, /forbids degradation/);
});

test('an unknown collection fails the job at once with a typed error', async () => {
  const j = await job(chat('llama-3.1-8b', 'anything', { rag: { collection: 'nope' } }));
  assert.equal(j.status, 'failed');
  assert.equal(j.error?.type, 'RagCollectionNotFound');
  assert.equal(s.mocks['selfhosted-onprem'].stats().requests, 0, 'no provider call for a request that cannot be served');
});
