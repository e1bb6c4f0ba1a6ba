/**
 * Mapping a gateway request to an OpenAI chat completions body.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../config/load';
import type { AiRequest } from '../../contracts/request';
import { toOpenAiBody } from './openai';
import type { ProviderCall } from './types';

const config = loadConfig(DEFAULT_CONFIG_PATH);
const target = config.targets.find((t) => t.kind === 'openai')!;
const gpt4o = target.models.find((m) => m.id === 'gpt-4o')!;

function call(request: Partial<AiRequest> & Pick<AiRequest, 'messages'>, model = gpt4o): ProviderCall {
  return { target, model, request: { model: model.id, ...request }, signal: new AbortController().signal };
}

describe('toOpenAiBody', () => {
  test('uses providerModel as the model name when set', () => {
    const body = toOpenAiBody(call({ messages: [{ role: 'user', content: 'hi' }] }, { ...gpt4o, providerModel: 'gpt-4o-2024-08-06' }));
    assert.equal(body.model, 'gpt-4o-2024-08-06');
  });

  test('falls back to the gateway model id', () => {
    const body = toOpenAiBody(call({ messages: [{ role: 'user', content: 'hi' }] }));
    assert.deepEqual(body, { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
  });

  test('passes the known OpenAI fields through unchanged', () => {
    const request = {
      messages: [
        { role: 'system' as const, content: 'be brief' },
        { role: 'user' as const, content: 'hi' },
      ],
      tools: [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'required' as const,
      max_tokens: 10,
      max_completion_tokens: 20,
      temperature: 1.5,
      top_p: 0.5,
      stop: ['END'],
      response_format: { type: 'json_object' as const },
      user: 'u1',
    };
    assert.deepEqual(toOpenAiBody(call(request)), { model: 'gpt-4o', ...request });
  });

  test('only known fields: gateway fields and streaming flags are left out', () => {
    const body = toOpenAiBody(
      call({
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        stream_options: { include_usage: false },
        rag: { collection: 'docs', topK: 3 },
        routing: { pinModel: true, strategy: 'cost' },
        temperature: 0,
      }),
    );
    assert.deepEqual(Object.keys(body).sort(), ['messages', 'model', 'temperature']);
    assert.equal((body as { temperature?: number }).temperature, 0);
  });

  test('undefined fields are not sent as keys', () => {
    const body = toOpenAiBody(call({ messages: [{ role: 'user', content: 'hi' }], temperature: undefined, tools: undefined }));
    assert.deepEqual(Object.keys(body).sort(), ['messages', 'model']);
  });
});
