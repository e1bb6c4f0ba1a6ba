import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AiRequest } from '../contracts/request';
import type { RetrievalResult } from '../contracts/retrieval';
import { augmentWithPassages, dataDegradationOf, ragQueryOf, retrievalInputOf, sourcesFooter, sourcesOf } from './rag';

const request: AiRequest = {
  model: 'gpt-4o',
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'first question' },
    { role: 'assistant', content: 'an answer' },
    {
      role: 'user',
      content: [
        { type: 'text', text: 'How does the breaker open?' },
        { type: 'image_url', image_url: { url: 'data:,' } },
      ],
    },
  ],
  rag: { collection: 'sample' },
};

const result: RetrievalResult = {
  mode: 'vector',
  passages: [
    { id: 'breakers.md#0', source: 'breakers.md', text: 'The breaker opens after failures.', score: 0.9 },
    { id: 'failover.md#2', source: 'failover.md', text: 'Failover moves to the next target.', score: 0.7 },
    { id: 'breakers.md#1', source: 'breakers.md', text: 'Half-open lets trial calls through.', score: 0.6 },
  ],
};

test('the query is rag.query, else the last user message text', () => {
  assert.equal(ragQueryOf(request), 'How does the breaker open?');
  assert.equal(ragQueryOf({ ...request, rag: { collection: 'sample', query: 'explicit' } }), 'explicit');
  assert.equal(ragQueryOf({ model: 'm', messages: [{ role: 'system', content: 'x' }] }), undefined);
  assert.deepEqual(retrievalInputOf(request, 4), { collection: 'sample', query: 'How does the breaker open?', topK: 4 });
  assert.deepEqual(retrievalInputOf({ ...request, rag: { collection: 'c', topK: 9 } }, 4)?.topK, 9);
  assert.equal(retrievalInputOf({ ...request, rag: undefined }, 4), undefined);
});

test('passages go in one system message after the leading system messages, with numbered sources', () => {
  const out = augmentWithPassages(request, result);
  assert.equal(out.messages.length, request.messages.length + 1);
  assert.deepEqual(out.messages[0], request.messages[0]);
  assert.equal(out.messages[1].role, 'system');
  const text = out.messages[1].content as string;
  assert.match(text, /\[1\] \(source: breakers\.md\)\nThe breaker opens after failures\./);
  assert.match(text, /\[2\] \(source: failover\.md\)\nFailover moves/);
  assert.match(text, /\[1\] \(source: breakers\.md\)\nHalf-open/);
  assert.ok(text.indexOf('The breaker opens') < text.indexOf('Failover moves'), 'ranked order kept');
  assert.deepEqual(out.messages.slice(2), request.messages.slice(1));
  assert.equal(request.messages.length, 4, 'the input is not mutated');
});

test('without a system message the passages come first; no passages leave the request unchanged', () => {
  const plain: AiRequest = { model: 'm', messages: [{ role: 'user', content: 'q' }] };
  assert.equal(augmentWithPassages(plain, result).messages[0].role, 'system');
  assert.equal(augmentWithPassages(plain, { mode: 'keyword', passages: [] }), plain);
});

test('sources are distinct, best first; the footer numbers them like the prompt', () => {
  assert.deepEqual(sourcesOf(result), ['breakers.md', 'failover.md']);
  assert.equal(sourcesFooter(result), '\n\nSources:\n[1] breakers.md\n[2] failover.md');
  assert.equal(sourcesFooter({ mode: 'vector', passages: [] }), '');
});

test('a keyword result is a data degradation; a vector one is not', () => {
  assert.equal(dataDegradationOf(result), undefined);
  assert.deepEqual(dataDegradationOf({ mode: 'keyword', passages: [], degradedReason: 'embedding failed' }), {
    kind: 'data',
    from: 'vector',
    to: 'keyword',
    reason: 'embedding failed',
  });
});
