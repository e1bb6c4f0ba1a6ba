import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ftsQuery, KeywordIndex, MAX_QUERY_TERMS, type IndexedChunk } from './keyword-index';

const doc = (id: string, text: string, source = `${id}.md`): IndexedChunk => ({ id: `${id}#0`, docId: id, source, text });

function index(docs: IndexedChunk[]): KeywordIndex {
  const k = new KeywordIndex(':memory:');
  k.replaceDocuments(
    'c',
    docs.map((d) => d.docId),
    docs,
  );
  return k;
}

test('ftsQuery quotes words and drops query syntax', () => {
  assert.equal(ftsQuery('Circuit-breaker AND "open"*'), '"circuit" OR "breaker" OR "and" OR "open"');
  assert.equal(ftsQuery('  ?! '), undefined);
});

test('BM25: a document with more occurrences of the term ranks higher', () => {
  const k = index([
    doc('a', 'breaker once, then many other words here'),
    doc('b', 'breaker breaker breaker trips'),
    doc('c', 'nothing relevant at all'),
  ]);
  const hits = k.search('c', 'breaker', 10);
  assert.deepEqual(
    hits.map((h) => h.id),
    ['b#0', 'a#0'],
  );
  assert.ok(hits[0].score > hits[1].score && hits[1].score > 0);
});

test('BM25: a rare term outweighs a common one (IDF)', () => {
  const k = index([
    doc('a', 'gateway gateway gateway latency'),
    doc('b', 'gateway quota'),
    doc('c', 'gateway routing'),
    doc('d', 'gateway hedging'),
  ]);
  // "gateway" is in every document, "quota" in one: the quota document wins despite fewer matches.
  assert.equal(k.search('c', 'gateway quota', 4)[0].id, 'b#0');
});

test('BM25: a shorter document ranks higher for the same term frequency (length normalisation)', () => {
  const k = index([doc('long', `failover ${'filler '.repeat(60)}`), doc('short', 'failover now'), doc('x', 'other')]);
  assert.deepEqual(
    k.search('c', 'failover', 2).map((h) => h.id),
    ['short#0', 'long#0'],
  );
});

test('stemming matches word forms; sources and texts come back', () => {
  const k = index([doc('a', 'The breakers opened after failures.', 'docs/breakers.md'), doc('b', 'Streams are buffered.')]);
  const [hit] = k.search('c', 'breaker opens', 5);
  assert.deepEqual(
    { id: hit.id, source: hit.source, text: hit.text },
    { id: 'a#0', source: 'docs/breakers.md', text: 'The breakers opened after failures.' },
  );
});

test('replacing a document removes its old chunks; collections are separate; unknown collection throws', () => {
  const k = index([doc('a', 'alpha words'), doc('b', 'beta words')]);
  k.replaceDocuments(
    'c',
    ['a'],
    [
      { id: 'a#0', docId: 'a', source: 'a.md', text: 'gamma' },
      { id: 'a#1', docId: 'a', source: 'a.md', text: 'delta' },
    ],
  );
  assert.deepEqual(k.search('c', 'alpha', 5), []);
  assert.deepEqual(
    k
      .search('c', 'gamma delta', 5)
      .map((h) => h.id)
      .sort(),
    ['a#0', 'a#1'],
  );
  k.replaceDocuments('other', ['z'], [doc('z', 'alpha')], { embeddingModel: 'm', dimensions: 8 });
  assert.deepEqual(k.search('c', 'alpha', 5), []);
  assert.equal(k.search('other', 'alpha', 5).length, 1);
  assert.deepEqual(
    k.list().map(({ updatedAt: _u, ...rest }) => rest),
    [
      { name: 'c', documents: 2, chunks: 3 },
      { name: 'other', documents: 1, chunks: 1, embeddingModel: 'm', dimensions: 8 },
    ],
  );
  assert.equal(k.has('nope'), false);
  assert.throws(() => k.search('nope', 'alpha', 5), /no collection "nope"/);
});

test('ftsQuery keeps the last 32 distinct words, in order, and drops overlong tokens (an OR of every word froze the process)', () => {
  const many = Array.from({ length: 100_000 }, (_, i) => `w${i}`).join(' ');
  const q = ftsQuery(many)!;
  assert.equal(q.split(' OR ').length, MAX_QUERY_TERMS);
  assert.ok(q.endsWith('"w99997" OR "w99998" OR "w99999"'));
  assert.equal(ftsQuery(`breaker ${'x'.repeat(65)} breaker`), '"breaker"');
  const k = index([doc('a', 'w0 breaker')]);
  assert.deepEqual(
    k.search('c', `${many} breaker`, 5).map((h) => h.id),
    ['a#0'],
    'the question at the end of a long message is searched',
  );
  assert.deepEqual(
    k.search('c', `w0 ${many}`, 5).map((h) => h.id),
    [],
    'words before the last 32 are not',
  );
});

test('collections have owners: the first claim wins, documents replaced by others do not change it; unclaimed ones are shared', () => {
  const k = new KeywordIndex(':memory:');
  assert.deepEqual(k.ownership('mine'), { exists: false });
  assert.deepEqual(k.claim('mine', 'alice'), { exists: true, owner: 'alice' });
  assert.deepEqual(k.claim('mine', 'bob'), { exists: true, owner: 'alice' });
  k.replaceDocuments('mine', ['a'], [doc('a', 'alpha')]);
  assert.deepEqual(k.ownership('mine'), { exists: true, owner: 'alice' });
  assert.equal(k.search('mine', 'alpha', 1).length, 1);
  k.replaceDocuments('shared', ['b'], [doc('b', 'beta')]);
  assert.deepEqual(k.ownership('shared'), { exists: true, owner: null });
  assert.deepEqual(
    k.list().map((c) => [c.name, c.owner]),
    [
      ['mine', 'alice'],
      ['shared', undefined],
    ],
  );
});
