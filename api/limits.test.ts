import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../config/load';
import { candidateModels, jsonDepth, unsatisfiable } from './limits';

const config = parseConfig(parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')), 'default');
const req = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user' as const, content: 'hi' }],
  ...extra,
});

test('jsonDepth counts objects and arrays, not brackets inside strings or escaped quotes', () => {
  const depth = (s: string) => jsonDepth(Buffer.from(s));
  assert.equal(depth('1'), 0);
  assert.equal(depth('{"a":[1,{"b":2}]}'), 3);
  assert.equal(depth('{"a":"[[[[{{{{"}'), 1);
  assert.equal(depth('{"a":"\\"[[[[\\"","b":[]}'), 2);
  assert.equal(depth(`${'['.repeat(5000)}${']'.repeat(5000)}`), 5000);
  assert.equal(jsonDepth(Buffer.from('['.repeat(100_000)), 64), 65, 'stops counting past the limit');
});

test('candidate models: equivalents, then the degradation chain unless pinned or refused', () => {
  assert.deepEqual(candidateModels(req('gpt-4o'), config), [
    'gpt-4o',
    'claude-sonnet-4',
    'gpt-4o-mini',
    'claude-3-5-haiku',
    'llama-3.1-8b',
  ]);
  assert.deepEqual(candidateModels(req('gpt-4o', { routing: { pinModel: true } }), config), ['gpt-4o']);
  assert.deepEqual(candidateModels(req('gpt-4o', { routing: { allowDegradation: false } }), config), ['gpt-4o', 'claude-sonnet-4']);
  assert.deepEqual(candidateModels(req('smart'), config), ['gpt-4o', 'claude-sonnet-4', 'gpt-4o-mini', 'claude-3-5-haiku', 'llama-3.1-8b']);
});

test('unsatisfiable: only when no model that may answer has the window for prompt plus max_tokens', () => {
  assert.equal(unsatisfiable(req('gpt-4o', { max_tokens: 100_000 }), config), undefined);
  assert.equal(unsatisfiable(req('gpt-4o', { max_tokens: 150_000 }), config), undefined, "claude-sonnet-4's 200k window can");
  assert.match(
    unsatisfiable(req('gpt-4o', { max_tokens: 150_000, routing: { pinModel: true } }), config) ?? '',
    /largest context window \(128000\)/,
  );
  assert.match(unsatisfiable(req('fast', { max_tokens: 300_000 }), config) ?? '', /200000/);
  assert.equal(unsatisfiable(req('gpt-9', { max_tokens: 10 ** 9 }), config), undefined, "an unknown model is the handler's 400");
});
