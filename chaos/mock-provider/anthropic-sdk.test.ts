/**
 * The official `@anthropic-ai/sdk` client against the mock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import type { MockProvider } from './server';
import { waitFor, withMock } from './test-utils';

const MODEL = 'claude-test-1';
const client = (mock: MockProvider): Anthropic => new Anthropic({ apiKey: 'test', baseURL: mock.baseUrl, maxRetries: 0 });
const tools: Anthropic.Tool[] = [
  { name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: {} } },
  { name: 'other', input_schema: { type: 'object', properties: {} } },
];
const textOf = (m: Anthropic.Message): string => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');

describe('anthropic client', () => {
  test('non-streaming messages.create', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      const msg = await client(mock).messages.create({
        model: MODEL,
        max_tokens: 100,
        system: 'be brief',
        messages: [{ role: 'user', content: 'hello there world' }],
      });
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.match(msg.id, /^msg_/);
      assert.equal(textOf(msg), `Echo from ${MODEL}: hello there world`);
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.usage.input_tokens, 5);
      assert.equal(msg.usage.output_tokens, 6);
    }));

  test('max_tokens truncation → stop_reason max_tokens', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      const msg = await client(mock).messages.create({
        model: MODEL,
        max_tokens: 3,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'one two three' }] }],
      });
      assert.equal(textOf(msg), 'Echo from claude-test-1:');
      assert.equal(msg.stop_reason, 'max_tokens');
    }));

  test('streaming (messages.stream and create({stream:true})) equals non-streaming', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      const an = client(mock);
      const params = { model: MODEL, max_tokens: 100, messages: [{ role: 'user' as const, content: 'stream me please' }] };
      const plain = await an.messages.create(params);

      const stream = an.messages.stream(params);
      let deltas = '';
      stream.on('text', (t) => (deltas += t));
      const final = await stream.finalMessage();
      assert.equal(textOf(final), textOf(plain));
      assert.equal(deltas, textOf(plain));
      assert.equal(final.stop_reason, 'end_turn');
      assert.equal(final.usage.output_tokens, plain.usage.output_tokens);
      assert.equal(final.usage.input_tokens, plain.usage.input_tokens);

      const raw = await an.messages.create({ ...params, stream: true });
      const types: string[] = [];
      let text = '';
      for await (const ev of raw) {
        types.push(ev.type);
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
      }
      assert.equal(text, textOf(plain));
      assert.equal(types[0], 'message_start');
      assert.equal(types.at(-1), 'message_stop');
      assert.ok(types.includes('message_delta') && types.includes('content_block_stop'));
    }));

  test('tool_use, non-streaming and streaming', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      const an = client(mock);
      const params = { model: MODEL, max_tokens: 100, tools, messages: [{ role: 'user' as const, content: 'please use a tool' }] };
      const msg = await an.messages.create(params);
      assert.equal(msg.stop_reason, 'tool_use');
      const block = msg.content[0];
      assert.ok(block.type === 'tool_use');
      assert.equal(block.name, 'get_weather');
      assert.deepEqual(block.input, {});
      assert.match(block.id, /^toolu_\d+$/);

      const final = await an.messages.stream(params).finalMessage();
      assert.equal(final.stop_reason, 'tool_use');
      const b2 = final.content[0];
      assert.ok(b2.type === 'tool_use' && b2.name === 'get_weather');
      assert.deepEqual(b2.input, {});

      const after = await an.messages.create({
        ...params,
        messages: [
          ...params.messages,
          { role: 'assistant', content: msg.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: block.id, content: 'sunny' }] },
        ],
      });
      assert.equal(after.stop_reason, 'end_turn');
      assert.equal(textOf(after), `Echo from ${MODEL}: please use a tool`);
    }));

  test('injected 529 → APIError status 529 overloaded_error', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ errorRate: 1, errorStatus: 529 });
      await assert.rejects(
        client(mock).messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => {
          assert.ok(err instanceof Anthropic.APIError);
          assert.equal(err.status, 529);
          assert.equal((err.error as { error: { type: string } }).error.type, 'overloaded_error');
          assert.match(err.requestID ?? '', /^req_/);
          return true;
        },
      );
    }));

  test('429 with retryAfterS → RateLimitError with retry-after', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ errorRate: 1, retryAfterS: 3 });
      await assert.rejects(
        client(mock).messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => {
          assert.ok(err instanceof Anthropic.RateLimitError);
          assert.equal(err.headers?.get('retry-after'), '3');
          return true;
        },
      );
    }));

  test('missing max_tokens → BadRequestError', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      const bad = { model: MODEL, messages: [{ role: 'user', content: 'x' }] } as unknown as Anthropic.MessageCreateParamsNonStreaming;
      await assert.rejects(client(mock).messages.create(bad), (err: unknown) => {
        assert.ok(err instanceof Anthropic.BadRequestError);
        assert.equal((err.error as { error: { type: string } }).error.type, 'invalid_request_error');
        assert.match(err.message, /max_tokens/);
        return true;
      });
    }));

  test('down → APIConnectionError', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ down: true });
      await assert.rejects(
        client(mock).messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
        (err: unknown) => {
          assert.ok(err instanceof Anthropic.APIConnectionError);
          return true;
        },
      );
    }));

  test('malformed stream → iteration throws', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ malformed: true });
      const quiet = new Anthropic({ apiKey: 'test', baseURL: mock.baseUrl, maxRetries: 0, logLevel: 'off' });
      const stream = await quiet.messages.create({
        model: MODEL,
        max_tokens: 10,
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      });
      await assert.rejects(async () => {
        for await (const _ of stream) {
          /* drain */
        }
      });
    }));

  test('stallAfterChunks + abort counts aborted', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ stallAfterChunks: 3 });
      const ac = new AbortController();
      const stream = await client(mock).messages.create(
        { model: MODEL, max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'x y' }] },
        { signal: ac.signal },
      );
      const types: string[] = [];
      const consumed = (async () => {
        for await (const ev of stream) {
          types.push(ev.type);
          if (types.length === 2) setTimeout(() => ac.abort(), 50); // ping is filtered by the SDK
        }
      })();
      await consumed.catch((err: unknown) => assert.ok(err instanceof Anthropic.APIUserAbortError, String(err)));
      assert.deepEqual(types, ['message_start', 'content_block_start']);
      await waitFor(() => mock.stats().aborted >= 1, 2000, 'aborted');
    }));
});

describe('anthropic client: provider-level faults', () => {
  const params = (content = 'x', model = MODEL) => ({ model, max_tokens: 50, messages: [{ role: 'user' as const, content }] });
  const errType = (err: InstanceType<typeof Anthropic.APIError>): string => (err.error as { error: { type: string } }).error.type;

  test('contextLength → BadRequestError "prompt is too long: N tokens > M maximum" (buffered and streaming)', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ contextLength: true });
      const check = (err: unknown): true => {
        assert.ok(err instanceof Anthropic.BadRequestError, String(err));
        assert.equal(errType(err), 'invalid_request_error');
        assert.match(err.message, /prompt is too long: \d+ tokens > 200000 maximum/);
        const n = Number(/too long: (\d+)/.exec(err.message)![1]);
        assert.ok(n > 200000);
        return true;
      };
      await assert.rejects(client(mock).messages.create(params('a b c')), check);
      await assert.rejects(client(mock).messages.create({ ...params(), stream: true }), check);
    }));

  test('contentFilter → stop_reason refusal, empty content (buffered and streaming)', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ contentFilter: true });
      const an = client(mock);
      const msg = await an.messages.create({ ...params('use a tool'), tools });
      assert.equal(msg.stop_reason, 'refusal');
      assert.deepEqual(msg.content, []);
      const final = await an.messages.stream(params('hi')).finalMessage();
      assert.equal(final.stop_reason, 'refusal');
      assert.deepEqual(final.content, []);
    }));

  test('errorStatus 429 without retryAfterS → RateLimitError, rate_limit_error body, no Retry-After', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ errorRate: 1, errorStatus: 429 });
      await assert.rejects(client(mock).messages.create(params()), (err: unknown) => {
        assert.ok(err instanceof Anthropic.RateLimitError);
        assert.equal(err.headers?.get('retry-after'), null);
        assert.equal(errType(err), 'rate_limit_error');
        assert.match(err.message, /rate limit/);
        return true;
      });
    }));

  test('500 → InternalServerError api_error', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ errorRate: 1 });
      await assert.rejects(client(mock).messages.create(params()), (err: unknown) => {
        assert.ok(err instanceof Anthropic.InternalServerError);
        assert.equal(err.status, 500);
        assert.equal(errType(err), 'api_error');
        assert.equal((err.error as { type: string }).type, 'error');
        return true;
      });
    }));

  test('omitDone → raw events end at message_delta; MessageStream finds no finished message', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ omitDone: true });
      const an = client(mock);
      const types: string[] = [];
      let text = '';
      for await (const ev of await an.messages.create({ ...params('no stop'), stream: true })) {
        types.push(ev.type);
        if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
      }
      assert.equal(text, `Echo from ${MODEL}: no stop`);
      assert.equal(types.at(-1), 'message_delta');
      assert.ok(!types.includes('message_stop'));
      await assert.rejects(an.messages.stream(params()).finalMessage(), /stream ended without producing a Message/);
    }));

  test('malformedAfterChunks 2 → two text deltas, then iteration throws', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ malformedAfterChunks: 2 });
      const quiet = new Anthropic({ apiKey: 'test', baseURL: mock.baseUrl, maxRetries: 0, logLevel: 'off' });
      let text = '';
      await assert.rejects(async () => {
        for await (const ev of await quiet.messages.create({ ...params('a b c'), stream: true })) {
          if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
        }
      });
      assert.equal(text, 'Echo from ');
    }));

  test('ttftMs: message_start at once, content after the delay', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ ttftMs: 200 });
      const at: Record<string, number> = {};
      for await (const ev of await client(mock).messages.create({ ...params('slow'), stream: true })) at[ev.type] ??= Date.now();
      const gap = at.content_block_start - at.message_start;
      assert.ok(gap >= 190, `content ${gap}ms after message_start`);
      assert.ok(at.message_stop !== undefined);
    }));

  test('one-model outage: one model fails with 529, another works, /health 200', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ errorRate: 1, errorStatus: 529, models: ['claude-sick'] });
      const an = client(mock);
      await assert.rejects(an.messages.create(params('x', 'claude-sick')), (err: unknown) => {
        assert.ok(err instanceof Anthropic.APIError && err.status === 529 && errType(err) === 'overloaded_error');
        return true;
      });
      assert.equal(textOf(await an.messages.create(params('fine', 'claude-ok'))), 'Echo from claude-ok: fine');
      assert.equal((await fetch(`${mock.origin}/health`)).status, 200);
    }));

  test('emptyAnswers → no content, end_turn (buffered and streaming)', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ emptyAnswers: true });
      const an = client(mock);
      const msg = await an.messages.create({ ...params('use a tool'), tools });
      assert.equal(textOf(msg), '');
      assert.ok(msg.content.every((b) => b.type !== 'tool_use'));
      assert.equal(msg.stop_reason, 'end_turn');
      assert.equal(msg.usage.output_tokens, 0);
      const final = await an.messages.stream(params()).finalMessage();
      assert.equal(textOf(final), '');
      assert.equal(final.stop_reason, 'end_turn');
    }));

  test('garbageAnswers → deterministic nonsense text, streamed the same', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ garbageAnswers: true });
      const an = client(mock);
      const text = textOf(await an.messages.create(params('what is 2+2')));
      assert.match(text, /^\uFFFD\uFFFD lorem ## /);
      assert.equal(textOf(await an.messages.create(params('other'))), text);
      assert.equal(textOf(await an.messages.stream(params()).finalMessage()), text);
      assert.throws(() => JSON.parse(text), SyntaxError);
    }));

  test('a trailing assistant message is a prefill: the answer continues it', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      const msg = await client(mock).messages.create({
        model: MODEL,
        max_tokens: 50,
        messages: [
          { role: 'user', content: 'tell a story' },
          { role: 'assistant', content: 'Echo from claude-test-1:' },
        ],
      });
      // Like the real model, it puts back the space the trimmed prefill lost.
      assert.equal(textOf(msg), ' tell a story');
    }));

  test('a prefill ending in whitespace is refused with the real 400', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      const an = client(mock);
      for (const content of ['Echo from claude-test-1: ', [{ type: 'text' as const, text: 'Echo\n\n' }]]) {
        await assert.rejects(
          an.messages.create({
            model: MODEL,
            max_tokens: 50,
            messages: [
              { role: 'user', content: 'tell a story' },
              { role: 'assistant', content },
            ],
          }),
          (err: unknown) => {
            assert.ok(err instanceof Anthropic.BadRequestError, String(err));
            assert.equal((err.error as any)?.error?.type, 'invalid_request_error');
            assert.equal((err.error as any)?.error?.message, 'messages: final assistant content cannot end with trailing whitespace');
            return true;
          },
        );
      }
      // Whitespace inside, or in an earlier assistant turn, is fine.
      const ok = await an.messages.create({
        model: MODEL,
        max_tokens: 50,
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b ' },
          { role: 'user', content: 'tell a story' },
        ],
      });
      assert.equal(textOf(ok), `Echo from ${MODEL}: tell a story`);
    }));
});
