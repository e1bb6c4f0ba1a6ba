/**
 * The official `openai` client against the mock (openai and openai-compatible kinds).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI from 'openai';
import type { MockProvider } from './server';
import { waitFor, withMock } from './test-utils';

const MODEL = 'gpt-4o-mini';
const client = (mock: MockProvider): OpenAI => new OpenAI({ apiKey: 'test', baseURL: mock.baseUrl, maxRetries: 0 });
const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: {} } } },
  { type: 'function', function: { name: 'other', parameters: { type: 'object', properties: {} } } },
];

async function collect(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finish: string | null = null;
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, usage, finish, chunks };
}

describe('openai client', () => {
  for (const kind of ['openai', 'openai-compatible'] as const) {
    test(`${kind}: non-streaming chat completion`, () =>
      withMock({ kind }, async (mock) => {
        const res = await client(mock).chat.completions.create({
          model: MODEL,
          messages: [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'hello there world' },
          ],
        });
        assert.equal(res.object, 'chat.completion');
        assert.equal(res.choices[0].message.content, `Echo from ${MODEL}: hello there world`);
        assert.equal(res.choices[0].message.role, 'assistant');
        assert.equal(res.choices[0].finish_reason, 'stop');
        assert.deepEqual(res.usage, { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 });
        assert.match(res._request_id ?? '', /^req_/);
      }));
  }

  test('array content parts and max_tokens truncation', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      const res = await client(mock).chat.completions.create({
        model: MODEL,
        max_completion_tokens: 4,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'one two ' },
              { type: 'text', text: 'three' },
            ],
          },
        ],
      });
      assert.equal(res.choices[0].message.content, `Echo from ${MODEL}: one`);
      assert.equal(res.choices[0].finish_reason, 'length');
      assert.equal(res.usage?.completion_tokens, 4);
    }));

  test('streaming equals non-streaming, usage arrives', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      const oa = client(mock);
      const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'stream me please' }];
      const plain = await oa.chat.completions.create({ model: MODEL, messages });
      const stream = await oa.chat.completions.create({ model: MODEL, messages, stream: true, stream_options: { include_usage: true } });
      const got = await collect(stream);
      assert.equal(got.text, plain.choices[0].message.content);
      assert.equal(got.finish, 'stop');
      assert.deepEqual(got.usage, plain.usage);
      assert.equal(got.chunks[0].choices[0].delta.role, 'assistant');
      assert.equal(got.chunks.at(-1)?.choices.length, 0);
      await waitFor(() => mock.stats().completed === 2, 2000, 'completed=2');
    }));

  test('tool call, non-streaming and streaming', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      const oa = client(mock);
      const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Use the TOOL for Paris' }];
      const res = await oa.chat.completions.create({ model: MODEL, messages, tools });
      const msg = res.choices[0].message;
      assert.equal(res.choices[0].finish_reason, 'tool_calls');
      assert.equal(msg.content, null);
      assert.equal(msg.tool_calls?.length, 1);
      const call = msg.tool_calls![0];
      assert.equal(call.type, 'function');
      assert.ok(call.type === 'function' && call.function.name === 'get_weather' && call.function.arguments === '{}');
      assert.match(call.id, /^call_\d+$/);

      const stream = await oa.chat.completions.create({ model: MODEL, messages, tools, stream: true });
      let name = '';
      let args = '';
      let finish: string | null = null;
      for await (const chunk of stream) {
        for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
          name += tc.function?.name ?? '';
          args += tc.function?.arguments ?? '';
        }
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      assert.equal(name, 'get_weather');
      assert.equal(args, '{}');
      assert.equal(finish, 'tool_calls');

      // After the tool result the model answers with text again.
      const after = await oa.chat.completions.create({
        model: MODEL,
        tools,
        messages: [
          ...messages,
          { role: 'assistant', content: null, tool_calls: msg.tool_calls },
          { role: 'tool', tool_call_id: call.id, content: 'sunny' },
        ],
      });
      assert.equal(after.choices[0].finish_reason, 'stop');
    }));

  test('embeddings: base64 default decoding, float format, similarity', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      const oa = client(mock);
      const res = await oa.embeddings.create({
        model: 'text-embedding-3-small',
        input: ['the cat sat on the mat', 'the cat sat on a mat', 'quantum chromodynamics lecture notes'],
      });
      assert.equal(
        mock.stats().lastRequest?.body && (mock.stats().lastRequest?.body as { encoding_format?: string }).encoding_format,
        'base64',
      );
      assert.equal(res.data.length, 3);
      const [a, b, c] = res.data.map((d) => d.embedding);
      assert.ok(Array.isArray(a) && typeof a[0] === 'number');
      assert.equal(a.length, 64);
      const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i], 0);
      assert.ok(Math.abs(dot(a, a) - 1) < 1e-5);
      assert.ok(dot(a, b) > 0.7, `similar: ${dot(a, b)}`);
      assert.ok(dot(a, c) < 0.4, `different: ${dot(a, c)}`);
      assert.equal(res.usage.prompt_tokens, 6 + 6 + 4);

      const f = await oa.embeddings.create({ model: 'm', input: 'the cat sat on the mat', dimensions: 16, encoding_format: 'float' });
      assert.equal(f.data[0].embedding.length, 16);
      const g = await oa.embeddings.create({ model: 'm', input: 'the cat sat on the mat', dimensions: 16 });
      assert.ok(f.data[0].embedding.every((v, i) => Math.abs(v - g.data[0].embedding[i]) < 1e-6));
    }));

  test('models list', () =>
    withMock({ kind: 'openai', models: ['a', 'b'] }, async (mock) => {
      const ids: string[] = [];
      for await (const m of client(mock).models.list()) ids.push(m.id);
      assert.deepEqual(ids, ['a', 'b']);
    }));

  test('injected 500 → InternalServerError', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ errorRate: 1 });
      await assert.rejects(
        client(mock).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.InternalServerError);
          assert.equal(err.status, 500);
          assert.equal(err.type, 'server_error');
          return true;
        },
      );
      assert.equal(mock.stats().errors, 1);
    }));

  test('429 with retryAfterS → RateLimitError with retry-after header', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ errorRate: 1, retryAfterS: 7 });
      await assert.rejects(
        client(mock).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.RateLimitError);
          assert.equal(err.status, 429);
          assert.equal(err.headers?.get('retry-after'), '7');
          assert.equal(err.code, 'rate_limit_exceeded');
          return true;
        },
      );
    }));

  test('missing messages → BadRequestError', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      await assert.rejects(client(mock).chat.completions.create({ model: MODEL, messages: [] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.equal(err.type, 'invalid_request_error');
        return true;
      });
      const raw = await fetch(`${mock.baseUrl}/chat/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL }) });
      assert.equal(raw.status, 400);
      assert.equal(((await raw.json()) as { error: { param: string } }).error.param, 'messages');
    }));

  test('down → APIConnectionError', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ down: true });
      await assert.rejects(
        client(mock).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.APIConnectionError);
          return true;
        },
      );
      assert.equal(mock.stats().resets, 1);
      assert.equal(mock.stats().requests, 1);
    }));

  test('malformed stream → for-await throws', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ malformed: true });
      const quiet = new OpenAI({ apiKey: 'test', baseURL: mock.baseUrl, maxRetries: 0, logLevel: 'off' });
      const stream = await quiet.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x y z' }], stream: true });
      let n = 0;
      await assert.rejects(async () => {
        for await (const _ of stream) n++;
      }, SyntaxError);
      assert.equal(n, 1);
    }));

  test('stallAfterChunks + abort ends the stream and counts aborted', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ stallAfterChunks: 2 });
      const ac = new AbortController();
      const stream = await client(mock).chat.completions.create(
        { model: MODEL, messages: [{ role: 'user', content: 'a b c d e' }], stream: true },
        { signal: ac.signal },
      );
      let n = 0;
      const consumed = (async () => {
        for await (const _ of stream) {
          n++;
          if (n === 2) setTimeout(() => ac.abort(), 50);
        }
      })();
      await consumed.catch((err: unknown) => assert.ok(err instanceof OpenAI.APIUserAbortError, String(err)));
      assert.equal(n, 2);
      await waitFor(() => mock.stats().aborted >= 1, 2000, 'aborted');
      assert.equal(mock.stats().inFlight, 0);
    }));

  test('latency delays the answer; abort during latency counts aborted', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ latencyMs: 150 });
      const oa = client(mock);
      const t0 = Date.now();
      await oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] });
      assert.ok(Date.now() - t0 >= 145, `took ${Date.now() - t0}ms`);

      mock.setFaults({ latencyMs: 5000 });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(
        oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { signal: ac.signal }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.APIUserAbortError);
          return true;
        },
      );
      await waitFor(() => mock.stats().aborted === 1, 2000, 'aborted');
      assert.equal(mock.stats().completed, 1);
    }));
});

describe('openai client: provider-level faults', () => {
  const ask = (content = 'x'): OpenAI.Chat.Completions.ChatCompletionMessageParam[] => [{ role: 'user', content }];

  test('contextLength → BadRequestError context_length_exceeded (chat, streaming and embeddings)', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ contextLength: true });
      const oa = client(mock);
      const check = (err: unknown): true => {
        assert.ok(err instanceof OpenAI.BadRequestError, String(err));
        assert.equal(err.status, 400);
        assert.equal(err.code, 'context_length_exceeded');
        assert.equal(err.param, 'messages');
        assert.equal(err.type, 'invalid_request_error');
        assert.match(err.message, /This model's maximum context length is 128000 tokens\. However, your messages resulted in \d+ tokens/);
        return true;
      };
      await assert.rejects(oa.chat.completions.create({ model: MODEL, messages: ask('a b c') }), check);
      await assert.rejects(oa.chat.completions.create({ model: MODEL, messages: ask(), stream: true }), check);
      await assert.rejects(oa.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.match(err.message, /maximum context length is 8192 tokens, however you requested \d+ tokens/);
        return true;
      });
      assert.equal(mock.stats().errors, 3);
    }));

  test('contentFilter → finish_reason content_filter, no content (buffered and streaming)', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ contentFilter: true });
      const oa = client(mock);
      const res = await oa.chat.completions.create({ model: MODEL, messages: ask('use the tool'), tools });
      assert.equal(res.choices[0].finish_reason, 'content_filter');
      assert.equal(res.choices[0].message.content, null);
      assert.equal(res.choices[0].message.tool_calls, undefined);
      const got = await collect(await oa.chat.completions.create({ model: MODEL, messages: ask('hello'), stream: true }));
      assert.equal(got.text, '');
      assert.equal(got.finish, 'content_filter');
      assert.equal(got.chunks.at(-1)?.choices[0].finish_reason, 'content_filter');
    }));

  test('errorStatus 429 without retryAfterS → RateLimitError, real body, no Retry-After', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ errorRate: 1, errorStatus: 429 });
      await assert.rejects(client(mock).chat.completions.create({ model: MODEL, messages: ask() }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError);
        assert.equal(err.headers?.get('retry-after'), null);
        assert.equal(err.type, 'requests');
        assert.equal(err.code, 'rate_limit_exceeded');
        assert.equal(err.param, null);
        assert.match(err.message, /^429 Rate limit reached for gpt-4o-mini in organization/);
        return true;
      });
    }));

  test('503 → InternalServerError with the real overloaded body', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ errorRate: 1, errorStatus: 503 });
      await assert.rejects(client(mock).chat.completions.create({ model: MODEL, messages: ask() }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.InternalServerError);
        assert.equal(err.status, 503);
        assert.equal(err.type, 'server_error');
        assert.match(err.message, /The server is overloaded or not ready yet\./);
        return true;
      });
    }));

  test('omitDone → the SDK reads every chunk of a stream that has no [DONE]', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ omitDone: true });
      const got = await collect(await client(mock).chat.completions.create({ model: MODEL, messages: ask('no terminator'), stream: true }));
      assert.equal(got.text, `Echo from ${MODEL}: no terminator`);
      assert.equal(got.finish, 'stop');
      const body = JSON.stringify({ model: MODEL, messages: ask(), stream: true });
      const raw = await fetch(`${mock.baseUrl}/chat/completions`, { method: 'POST', body });
      const text = await raw.text();
      assert.ok(text.includes('"finish_reason":"stop"') && !text.includes('[DONE]'), text);
    }));

  test('malformedAfterChunks 2 → two content chunks, then for-await throws', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ malformedAfterChunks: 2 });
      const quiet = new OpenAI({ apiKey: 'test', baseURL: mock.baseUrl, maxRetries: 0, logLevel: 'off' });
      const stream = await quiet.chat.completions.create({ model: MODEL, messages: ask('a b c d'), stream: true });
      let text = '';
      await assert.rejects(async () => {
        for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      }, SyntaxError);
      assert.equal(text, 'Echo from ');
    }));

  test('ttftMs delays the first content chunk, not the role chunk', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ ttftMs: 200 });
      const stream = await client(mock).chat.completions.create({ model: MODEL, messages: ask('slow start'), stream: true });
      const at: number[] = [];
      let text = '';
      for await (const c of stream) {
        at.push(Date.now());
        text += c.choices[0]?.delta.content ?? '';
      }
      assert.equal(text, `Echo from ${MODEL}: slow start`);
      assert.ok(at[1] - at[0] >= 190, `first content ${at[1] - at[0]}ms after the role chunk`);
    }));

  test('one-model outage: gpt-4o fails, gpt-4o-mini works, /health 200', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o'] });
      const oa = client(mock);
      await assert.rejects(oa.chat.completions.create({ model: 'gpt-4o', messages: ask() }), OpenAI.InternalServerError);
      const ok = await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: ask('fine') });
      assert.equal(ok.choices[0].message.content, 'Echo from gpt-4o-mini: fine');
      const emb = await oa.embeddings.create({ model: 'text-embedding-3-small', input: 'x' });
      assert.equal(emb.data.length, 1);
      assert.equal((await fetch(`${mock.origin}/health`)).status, 200);
      assert.equal(mock.stats().errors, 1);
      // down restricted to gpt-4o: connection errors for it only.
      mock.setFaults({ down: true, models: ['gpt-4o'] });
      await assert.rejects(oa.chat.completions.create({ model: 'gpt-4o', messages: ask() }), OpenAI.APIConnectionError);
      assert.equal((await oa.chat.completions.create({ model: 'gpt-4o-mini', messages: ask() })).choices[0].finish_reason, 'stop');
      assert.equal((await fetch(`${mock.origin}/health`)).status, 200);
    }));

  test('emptyAnswers → content "", finish_reason stop, no tool calls (buffered and streaming)', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ emptyAnswers: true });
      const oa = client(mock);
      const res = await oa.chat.completions.create({ model: MODEL, messages: ask('use the tool'), tools });
      assert.equal(res.choices[0].message.content, '');
      assert.equal(res.choices[0].message.tool_calls, undefined);
      assert.equal(res.choices[0].finish_reason, 'stop');
      assert.equal(res.usage?.completion_tokens, 0);
      const got = await collect(await oa.chat.completions.create({ model: MODEL, messages: ask('use the tool'), tools, stream: true }));
      assert.equal(got.text, '');
      assert.equal(got.finish, 'stop');
      assert.ok(got.chunks.every((c) => c.choices[0]?.delta.tool_calls === undefined));
    }));

  test('garbageAnswers → deterministic nonsense; JSON mode gets invalid JSON', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ garbageAnswers: true });
      const oa = client(mock);
      const a = await oa.chat.completions.create({ model: MODEL, messages: ask('what is 2+2') });
      const b = await oa.chat.completions.create({ model: MODEL, messages: ask('something else') });
      const text = a.choices[0].message.content ?? '';
      assert.match(text, /^\uFFFD\uFFFD lorem ## /);
      assert.ok(!text.includes('Echo'));
      assert.equal(b.choices[0].message.content, text, 'deterministic');
      assert.equal(a.choices[0].finish_reason, 'stop');
      const streamed = await collect(await oa.chat.completions.create({ model: MODEL, messages: ask(), stream: true }));
      assert.equal(streamed.text, text);
      const jsonMode = { type: 'json_object' } as const;
      const j = await oa.chat.completions.create({ model: MODEL, messages: ask('answer in JSON'), response_format: jsonMode });
      const content = j.choices[0].message.content ?? '';
      assert.ok(content.startsWith('{'), content);
      assert.throws(() => JSON.parse(content), SyntaxError);
    }));

  test('a trailing assistant message is not continued: the answer starts afresh (no prefill in Chat Completions)', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      const res = await client(mock).chat.completions.create({
        model: MODEL,
        messages: [
          { role: 'user', content: 'tell a story' },
          { role: 'assistant', content: 'Echo from gpt-4o-mini:' },
        ],
      });
      assert.equal(res.choices[0].message.content, `Echo from ${MODEL}: tell a story`);
    }));

  test('a user message asking to continue a cut-off reply gets the rest of the answer, streamed the same', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
        { role: 'user', content: 'tell a story about the sea' },
        { role: 'assistant', content: `Echo from ${MODEL}: tell a ` },
        { role: 'user', content: 'You were cut off. Continue where you stopped.' },
      ];
      const oa = client(mock);
      const res = await oa.chat.completions.create({ model: MODEL, messages });
      assert.equal(res.choices[0].message.content, ' story about the sea', 'the rest, with the space before the next word');
      assert.equal(res.usage?.completion_tokens, 4);
      assert.equal(
        (await collect(await oa.chat.completions.create({ model: MODEL, messages, stream: true }))).text,
        ' story about the sea',
      );
    }));

  test('continuationFault: an imperfect follower repeats the last words, or starts over', () =>
    withMock({ kind: 'openai-compatible' }, async (mock) => {
      const messages: OpenAI.Chat.Completions.ChatCompletionMessageParam[] = [
        { role: 'user', content: 'tell a story about the sea' },
        { role: 'assistant', content: `Echo from ${MODEL}: tell a` },
        { role: 'user', content: 'Please continue.' },
      ];
      const oa = client(mock);
      mock.setFaults({ continuationFault: 'repeatTail' });
      assert.equal(
        (await oa.chat.completions.create({ model: MODEL, messages })).choices[0].message.content,
        `${MODEL}: tell a story about the sea`,
      );
      mock.setFaults({ continuationFault: 'restart' });
      const restarted = await collect(await oa.chat.completions.create({ model: MODEL, messages, stream: true }));
      assert.equal(restarted.text, `Echo from ${MODEL}: tell a story about the sea`);
      // A plain question is answered as always.
      assert.equal(
        (await oa.chat.completions.create({ model: MODEL, messages: ask('continue please') })).choices[0].message.content,
        `Echo from ${MODEL}: continue please`,
      );
    }));
});
