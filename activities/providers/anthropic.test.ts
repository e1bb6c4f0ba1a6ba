/**
 * Mapping an OpenAI-shaped gateway request to an Anthropic messages body.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../config/load';
import type { AiRequest } from '../../contracts/request';
import { DEFAULT_MAX_TOKENS, toAnthropicBody } from './anthropic';
import type { ProviderCall } from './types';

const config = loadConfig(DEFAULT_CONFIG_PATH);
const target = config.targets.find((t) => t.kind === 'anthropic')!;
const sonnet = target.models.find((m) => m.id === 'claude-sonnet-4')!;

function call(request: Partial<AiRequest> & Pick<AiRequest, 'messages'>, model = sonnet): ProviderCall {
  return { target, model, request: { model: model.id, ...request }, signal: new AbortController().signal };
}

const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

describe('toAnthropicBody: messages', () => {
  test('uses the provider model name and the default max_tokens', () => {
    const body = toAnthropicBody(call({ messages: [{ role: 'user', content: 'hi' }] }));
    assert.deepEqual(body, {
      model: 'claude-sonnet-4-20250514',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
      max_tokens: DEFAULT_MAX_TOKENS,
    });
    assert.equal(DEFAULT_MAX_TOKENS, 4096);
  });

  test('falls back to the gateway model id without providerModel', () => {
    const body = toAnthropicBody(call({ messages: [{ role: 'user', content: 'hi' }] }, { ...sonnet, providerModel: undefined }));
    assert.equal(body.model, 'claude-sonnet-4');
  });

  test('max_tokens, else max_completion_tokens, else the default', () => {
    const messages: AiRequest['messages'] = [{ role: 'user', content: 'hi' }];
    assert.equal(toAnthropicBody(call({ messages, max_tokens: 50, max_completion_tokens: 70 })).max_tokens, 50);
    assert.equal(toAnthropicBody(call({ messages, max_completion_tokens: 70 })).max_tokens, 70);
    assert.equal(toAnthropicBody(call({ messages })).max_tokens, DEFAULT_MAX_TOKENS);
  });

  test('system messages go to `system`, joined, and leave `messages`', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hi' },
          { role: 'system', content: [{ type: 'text', text: 'be kind' }] },
        ],
      }),
    );
    assert.equal(body.system, 'be brief\n\nbe kind');
    assert.deepEqual(body.messages, [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]);
  });

  test('no system messages → no `system` key', () => {
    assert.equal('system' in toAnthropicBody(call({ messages: [{ role: 'user', content: 'hi' }] })), false);
  });

  test('consecutive same-role messages are merged into one turn', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          { role: 'user', content: 'one' },
          { role: 'user', content: 'two' },
          { role: 'assistant', content: 'three' },
          { role: 'assistant', content: 'four' },
          { role: 'user', content: 'five' },
        ],
      }),
    );
    assert.deepEqual(body.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'one' },
          { type: 'text', text: 'two' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'three' },
          { type: 'text', text: 'four' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'five' }] },
    ]);
  });

  test('a system message between user messages does not break the merge', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          { role: 'user', content: 'a' },
          { role: 'system', content: 's' },
          { role: 'user', content: 'b' },
        ],
      }),
    );
    assert.equal((body.messages as unknown[]).length, 1);
  });

  test('does not mutate the request', () => {
    const request: AiRequest = {
      model: 'claude-sonnet-4',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'a' }] },
        { role: 'user', content: [{ type: 'text', text: 'b' }] },
      ],
    };
    const before = structuredClone(request);
    toAnthropicBody({ target, model: sonnet, request, signal: new AbortController().signal });
    assert.deepEqual(request, before);
  });

  test('multi-part content: text parts and a base64 image data URI', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'what is this?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            ],
          },
        ],
      }),
    );
    assert.deepEqual(body.messages, [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
        ],
      },
    ]);
  });

  test('an image URL that is not a data URI → url source', () => {
    const body = toAnthropicBody(
      call({
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } }] }],
      }),
    );
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } }] },
    ]);
  });
});

describe('toAnthropicBody: tools', () => {
  const weatherTool = {
    type: 'function' as const,
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  test('assistant tool_calls → tool_use blocks with parsed input; tool messages → user tool_result blocks', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          { role: 'user', content: 'weather in Paris and Rome?' },
          {
            role: 'assistant',
            content: 'Let me check.',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
              { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'sunny' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'rain' }] },
          { role: 'user', content: 'thanks' },
        ],
      }),
    );
    assert.deepEqual(body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } },
        ],
      },
      {
        // All results of one turn in one user message, results first (as Anthropic requires).
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'sunny' },
          { type: 'tool_result', tool_use_id: 'call_2', content: 'rain' },
          { type: 'text', text: 'thanks' },
        ],
      },
    ]);
  });

  test('assistant with null content and a tool call → only the tool_use block', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '' } }] },
        ],
      }),
    );
    assert.deepEqual((body.messages as Array<{ content: unknown }>)[1].content, [{ type: 'tool_use', id: 't', name: 'f', input: {} }]);
  });

  test('assistant with empty-string content and a tool call → no empty text block', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: '', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }] },
        ],
      }),
    );
    assert.deepEqual((body.messages as Array<{ content: unknown }>)[1].content, [{ type: 'tool_use', id: 't', name: 'f', input: {} }]);
  });

  test('unparsable tool arguments are kept raw', () => {
    const body = toAnthropicBody(
      call({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{"city":' } }] },
        ],
      }),
    );
    assert.deepEqual((body.messages as Array<{ content: Array<{ input: unknown }> }>)[1].content[0].input, { raw: '{"city":' });
  });

  test('tools → name, description, input_schema (an empty object schema when none is given)', () => {
    const body = toAnthropicBody(
      call({
        messages: [{ role: 'user', content: 'x' }],
        tools: [weatherTool, { type: 'function', function: { name: 'now' } }],
      }),
    );
    assert.deepEqual(body.tools, [
      { name: 'get_weather', description: 'Weather for a city', input_schema: weatherTool.function.parameters },
      { name: 'now', description: undefined, input_schema: { type: 'object', properties: {} } },
    ]);
    assert.equal('tool_choice' in body, false);
  });

  const choices: Array<[AiRequest['tool_choice'], unknown]> = [
    ['auto', undefined],
    ['required', { type: 'any' }],
    ['none', { type: 'none' }],
    [
      { type: 'function', function: { name: 'get_weather' } },
      { type: 'tool', name: 'get_weather' },
    ],
  ];
  for (const [choice, expected] of choices) {
    test(`tool_choice ${JSON.stringify(choice)} → ${JSON.stringify(expected)}`, () => {
      const body = toAnthropicBody(call({ messages: [{ role: 'user', content: 'x' }], tools: [weatherTool], tool_choice: choice }));
      assert.deepEqual(body.tool_choice, expected);
    });
  }

  test('no tools → neither tools nor tool_choice', () => {
    const body = toAnthropicBody(call({ messages: [{ role: 'user', content: 'x' }], tools: [], tool_choice: 'required' }));
    assert.equal('tools' in body, false);
    assert.equal('tool_choice' in body, false);
  });
});

describe('toAnthropicBody: sampling options', () => {
  test('temperature is clamped to Anthropic’s 0-1; top_p passes; stop becomes stop_sequences', () => {
    const messages: AiRequest['messages'] = [{ role: 'user', content: 'x' }];
    assert.equal(toAnthropicBody(call({ messages, temperature: 1.7 })).temperature, 1);
    assert.equal(toAnthropicBody(call({ messages, temperature: 0 })).temperature, 0);
    assert.equal(toAnthropicBody(call({ messages, top_p: 0.9 })).top_p, 0.9);
    assert.deepEqual(toAnthropicBody(call({ messages, stop: 'END' })).stop_sequences, ['END']);
    assert.deepEqual(toAnthropicBody(call({ messages, stop: ['a', 'b'] })).stop_sequences, ['a', 'b']);
  });

  test('gateway-only fields never reach the provider', () => {
    const body = toAnthropicBody(
      call({
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
        rag: { collection: 'docs' },
        routing: { pinModel: true },
        user: 'u1',
        response_format: { type: 'json_object' },
      }),
    );
    assert.deepEqual(Object.keys(body).sort(), ['max_tokens', 'messages', 'model']);
  });
});
