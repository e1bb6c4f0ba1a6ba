/** The in-band answer checks, one real failure each, and answers they must let through. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProviderCallResult } from '../contracts/routing';
import { answerProblem, headProblem, repetitionLoop } from './answer-quality';

const ask = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o',
  messages: [{ role: 'user' as const, content: 'tell me about rivers' }],
  ...extra,
});
const answer = (content: string | null, extra: Partial<ProviderCallResult> = {}): ProviderCallResult => ({
  target: 't',
  model: 'm',
  message: { role: 'assistant', content },
  finishReason: 'stop',
  usage: { prompt_tokens: 5, completion_tokens: Math.ceil((content ?? '').length / 4), total_tokens: 0 },
  ...extra,
});

describe('answerProblem', () => {
  test('good answers pass: prose, tables, code, rules, a short answer cut where max_tokens asked', () => {
    const ok = [
      'Rivers carry water from high ground to the sea; most begin as small springs.',
      '| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n---------------------------------------------------',
      'def f(x):\n    return x\n\n\n\n' + ' '.repeat(80),
    ];
    for (const c of ok) assert.equal(answerProblem(answer(c), ask()), undefined, c);
    assert.equal(answerProblem(answer('Rivers carry', { finishReason: 'length' }), ask({ max_tokens: 3 })), undefined);
    assert.equal(
      answerProblem(
        answer(null, {
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{}' } }],
          },
          finishReason: 'tool_calls',
        }),
        ask(),
      ),
      undefined,
    );
    assert.equal(answerProblem(answer('', { finishReason: 'content_filter' }), ask()), undefined, 'a refusal is an answer');
  });

  test('empty', () => assert.match(answerProblem(answer('  '), ask()) ?? '', /empty answer/));

  test('U+FFFD: corrupted bytes, unless the prompt itself has the character', () => {
    assert.match(answerProblem(answer('Rivers carry w\uFFFDter to the sea.'), ask()) ?? '', /U\+FFFD/);
    const quoting = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'what is \uFFFD?' }] };
    assert.equal(answerProblem(answer('\uFFFD is the replacement character.'), quoting), undefined);
  });

  test('a degenerate loop at the end of the answer', () => {
    const loop = 'Rivers are long. ' + 'I am sorry, I cannot continue. '.repeat(8);
    assert.match(answerProblem(answer(loop, { finishReason: 'length' }), ask()) ?? '', /repeated 8 times/);
    const chant = 'Here you are: ' + 'alpha bravo charlie delta '.repeat(10);
    assert.equal(answerProblem(answer(chant), ask()), undefined, 'asked for and ended on its own: not a loop');
  });

  test('finish_reason length on a tiny answer nobody asked to be tiny', () => {
    assert.match(
      answerProblem(
        answer('Rivers are', { finishReason: 'length', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }),
        ask(),
      ) ?? '',
      /token limit after 2/,
    );
    assert.match(
      answerProblem(
        answer('Rivers are', { finishReason: 'length', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }),
        ask({ max_tokens: 500 }),
      ) ?? '',
      /500 tokens/,
    );
  });

  test('JSON asked: must parse; judged on the whole answer for a continuation', () => {
    assert.match(answerProblem(answer('{"a": '), ask({ response_format: { type: 'json_object' } })) ?? '', /does not parse/);
    assert.equal(answerProblem(answer('1}'), ask({ response_format: { type: 'json_object' } }), '{"a": '), undefined);
  });

  test('a continuation with nothing more to say is not empty', () => {
    assert.equal(answerProblem(answer(''), ask(), 'Rivers carry water.'), undefined);
  });
});

describe('headProblem (the first few dozen characters of a stream)', () => {
  test('good openings pass', () => {
    for (const h of [
      'Rivers carry water from high',
      '| a | b |\n|---|---|\n|---|---|',
      '{"rivers": ["Nile", "Amazon"',
      '```\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n',
    ])
      assert.equal(headProblem(h, ask()), undefined, h);
  });
  test('corrupted bytes, a loop, prose where JSON was asked', () => {
    assert.match(headProblem('\uFFFD\uFFFDRivers carry water from h', ask()) ?? '', /U\+FFFD/);
    assert.match(headProblem('the the the the the the the the the', ask()) ?? '', /repeated 8 times/);
    assert.match(
      headProblem('Sure! Here is the JSON you asked', ask({ response_format: { type: 'json_object' } })) ?? '',
      /opens with "Sure!/,
    );
    assert.equal(
      headProblem('ure! Here is the JSON you asked', ask({ response_format: { type: 'json_object' } }), true),
      undefined,
      'not for the middle of an answer',
    );
  });
});

test('repetitionLoop finds the longest periodic tail', () => {
  assert.deepEqual(repetitionLoop('xyz abcabcabcabc', 4), { unit: 'abc', repeats: 4, covered: 12 });
  assert.equal(repetitionLoop('abcabc', 4), undefined);
});
