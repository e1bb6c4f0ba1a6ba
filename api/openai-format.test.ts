/** The `stormproof` extension of chat answers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AiResponse } from '../contracts/response';
import { extensionOf } from './openai-format';

const answer: AiResponse = {
  id: 'r1',
  model: 'gpt-4o',
  target: 'openai-us-east-1',
  message: { role: 'assistant', content: 'hi' },
  finishReason: 'stop',
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  attempts: [{ target: 'openai-us-east-1', model: 'gpt-4o', outcome: 'ok', durationMs: 3 }],
  degradations: [],
  failovers: 0,
  switches: [],
};

test('a RAG answer names its sources in the extension, as docs/rag.md promises', () => {
  const ext = extensionOf('job-1', { ...answer, sources: ['config/rag-sample/failover.md'] });
  assert.deepEqual(ext.sources, ['config/rag-sample/failover.md']);
  assert.equal('sources' in extensionOf('job-2', answer), false, 'no sources key without RAG');
});
