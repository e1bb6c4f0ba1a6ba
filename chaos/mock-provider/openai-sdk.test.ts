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
        messages: [{ role: 'user', content: [{ type: 'text', text: 'one two ' }, { type: 'text', text: 'three' }] }],
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
        messages: [...messages, { role: 'assistant', content: null, tool_calls: msg.tool_calls }, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
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
      assert.equal(mock.stats().lastRequest?.body && (mock.stats().lastRequest?.body as { encoding_format?: string }).encoding_format, 'base64');
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
      await assert.rejects(client(mock).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError);
        assert.equal(err.status, 429);
        assert.equal(err.headers?.get('retry-after'), '7');
        assert.equal(err.code, 'rate_limit_exceeded');
        return true;
      });
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
      await assert.rejects(client(mock).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.APIConnectionError);
        return true;
      });
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
      await assert.rejects(oa.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }, { signal: ac.signal }), (err: unknown) => {
        assert.ok(err instanceof OpenAI.APIUserAbortError);
        return true;
      });
      await waitFor(() => mock.stats().aborted === 1, 2000, 'aborted');
      assert.equal(mock.stats().completed, 1);
    }));
});
