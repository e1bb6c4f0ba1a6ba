/** The Anthropic-compatible endpoint `POST /v1/messages`, driven by the official `@anthropic-ai/sdk`. */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Anthropic, { APIError, BadRequestError, ConflictError, NotFoundError } from '@anthropic-ai/sdk';
import { jobIdFor } from '../api/idempotency';
import { startTestStack, type TestStack } from './support/stack';
import { waitFor } from './support/wait';

let s: TestStack;
let client: Anthropic;
before(async () => {
  s = await startTestStack({ mockOptions: { chunkDelayMs: 20 } });
  client = new Anthropic({ baseURL: s.gateway.apiUrl, apiKey: 'x', maxRetries: 0 });
});
after(async () => {
  await s?.close();
});
afterEach(() => s.resetFaults());

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';
const user = (text: string) => [{ role: 'user' as const, content: text }];
const textOf = (m: Anthropic.Message) => m.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
const TOOLS: Anthropic.Tool[] = [
  { name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
];

describe('non-streaming', () => {
  test('answers like the Messages API, with the job id in a header and a stormproof extension', async () => {
    const { data, response } = await client.messages
      .create({ model: 'claude-sonnet-4', max_tokens: 100, system: 'be brief', messages: user('hello there') })
      .withResponse();
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.match(data.id, /^msg_job-/);
    assert.equal(textOf(data), 'Echo from claude-sonnet-4-20250514: hello there');
    assert.equal(data.stop_reason, 'end_turn');
    assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0);
    const jobId = response.headers.get('x-stormproof-job-id')!;
    assert.equal(data.id, `msg_${jobId}`);
    assert.equal(response.headers.get('x-stormproof-target'), SECONDARY);
    assert.equal((data as unknown as { stormproof: { job_id: string } }).stormproof.job_id, jobId);
    assert.equal((await s.waitForJob(jobId)).status, 'completed', 'the call is a durable job like any other');
  });

  test('a tier or an OpenAI model serves an Anthropic client too (failover across providers)', async () => {
    s.mocks[SECONDARY].setFaults({ down: true });
    const msg = await client.messages.create({ model: 'smart', max_tokens: 50, messages: user('anyone there') });
    assert.equal(textOf(msg), 'Echo from gpt-4o: anyone there');
  });

  test('tools: the tool call comes back as a tool_use block, and its result goes back in', async () => {
    // Through the gateway's standard (OpenAI-shaped) request to the Anthropic target and back.
    const msg = await client.messages.create({ model: 'claude-sonnet-4', max_tokens: 50, tools: TOOLS, messages: user('call the tool') });
    assert.equal(msg.stop_reason, 'tool_use');
    const use = msg.content.find((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    assert.ok(use);
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, {});
    const next = await client.messages.create({
      model: 'claude-sonnet-4',
      max_tokens: 50,
      tools: TOOLS,
      messages: [
        ...user('call the tool'),
        { role: 'assistant', content: msg.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] },
      ],
    });
    assert.equal(next.stop_reason, 'end_turn');
    // What the provider got: the tool_use turn and its tool_result, as the Messages API wants them.
    const sent = (s.mocks[SECONDARY].stats().lastRequest?.body as { messages: Array<{ role: string; content: unknown }> }).messages;
    assert.deepEqual(sent.slice(-2), [
      { role: 'assistant', content: [{ type: 'tool_use', id: use.id, name: 'get_weather', input: {} }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] },
    ]);
  });

  test('errors use the Messages API shape: unknown model 404, bad body 400', async () => {
    await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 5, messages: user('x') }), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.equal((err.error as any).error.type, 'not_found_error');
      assert.equal((err.error as any).stormproof.code, 'STORMPROOF_ERR_UNKNOWN_MODEL');
      return true;
    });
    const noMax = { model: 'gpt-4o', messages: user('x') } as unknown as Anthropic.MessageCreateParamsNonStreaming;
    await assert.rejects(
      client.messages.create(noMax),
      (err: unknown) =>
        err instanceof BadRequestError && /max_tokens/.test(err.message) && (err.error as any).error.type === 'invalid_request_error',
    );
  });
});

describe('streaming', () => {
  test('streams text deltas as they arrive, then the final message', async () => {
    const words = 'one two three four five six seven eight nine ten';
    const stream = client.messages.stream({ model: 'gpt-4o', max_tokens: 100, messages: user(words) });
    const deltas: string[] = [];
    const types: string[] = [];
    stream.on('streamEvent', (e) => types.push(e.type));
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    assert.equal(textOf(final), `Echo from gpt-4o: ${words}`);
    assert.equal(deltas.join(''), `Echo from gpt-4o: ${words}`);
    assert.ok(deltas.length >= 10, `text arrived in ${deltas.length} deltas`);
    assert.equal(final.stop_reason, 'end_turn');
    assert.ok(final.usage.output_tokens > 0);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
    assert.deepEqual(
      [...new Set(types)],
      ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'],
    );
  });

  test('a tool call in a stream arrives as a tool_use block', async () => {
    const final = await client.messages
      .stream({ model: 'gpt-4o', max_tokens: 50, tools: TOOLS, messages: user('call the tool') })
      .finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const use = final.content.find((b) => b.type === 'tool_use');
    assert.equal(use?.type === 'tool_use' && use.name, 'get_weather');
  });

  test('tokens sent, then the attempt fails: the stream ends with an error event, never as a complete answer', async () => {
    // The role chunk and 7 words: past the 32 characters held back for the answer checks, so text reached the client.
    s.mocks[PRIMARY].setFaults({ stallAfterChunks: 8 });
    const body = {
      model: 'gpt-4o',
      max_tokens: 100,
      messages: user('one two three four five six'),
      stream: true as const,
      routing: { allowDegradation: false },
    };
    const { data: stream, response } = await client.messages
      .create(body as unknown as Anthropic.MessageCreateParamsStreaming)
      .withResponse();
    const jobId = response.headers.get('x-stormproof-job-id')!;
    let text = '';
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of stream) {
          seen.push(e.type);
          if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
        }
      })(),
      (err: unknown) => err instanceof APIError && /\/v1\/jobs\/job-/.test(err.message),
    );
    assert.ok(text.length > 0, 'some tokens had arrived');
    assert.ok(!seen.includes('message_stop') && !seen.includes('message_delta'), 'the answer was never presented as complete');
    const job = await s.waitForJob(jobId, 30_000);
    assert.equal(job.status, 'completed');
  });
});

describe('a stream continued on another target', () => {
  // What the Anthropic mock streams before it stalls (message_start, content_block_start, ping, 4 words).
  const DELIVERED = 'Echo from claude-sonnet-4-20250514: tell ';
  const WHOLE = 'Echo from claude-sonnet-4-20250514: tell a story about the sea';
  type Continued = {
    type: 'stormproof_continued';
    stormproof: { job_id: string; continued: { from: string; to: string; at: number; reason: string } };
  };
  const isContinued = (e: { type: string }): e is Continued => e.type === 'stormproof_continued';

  test('the client is told with a stormproof_continued event, which the SDK passes on as it is', async () => {
    s.mocks[SECONDARY].setFaults({ stallAfterChunks: 7 });
    const body = { model: 'claude-sonnet-4', max_tokens: 100, messages: user('tell a story about the sea'), stream: true as const };
    const { data: stream, response } = await client.messages.create(body).withResponse();
    const events: Array<{ type: string }> = [];
    for await (const e of stream) events.push(e);
    const text = events
      .map((e) =>
        (e as Anthropic.RawMessageStreamEvent).type === 'content_block_delta'
          ? (((e as Anthropic.RawContentBlockDeltaEvent).delta as { text?: string }).text ?? '')
          : '',
      )
      .join('');
    assert.equal(text, WHOLE);
    const notices = events.filter(isContinued);
    assert.equal(notices.length, 1, JSON.stringify(events.map((e) => e.type)));
    const { continued, job_id } = notices[0].stormproof;
    assert.equal(job_id, response.headers.get('x-stormproof-job-id'));
    assert.deepEqual({ ...continued, reason: undefined }, { from: SECONDARY, to: PRIMARY, at: DELIVERED.length, reason: undefined });
    assert.match(continued.reason, /ProviderStalled|sent nothing/);
    // Inside the one text block, between two deltas: the answer reads as one text.
    const i = events.indexOf(notices[0]);
    assert.deepEqual([events[i - 1].type, events[i + 1].type], ['content_block_delta', 'content_block_delta']);
    assert.equal(events.filter((e) => e.type === 'content_block_start').length, 1);
    assert.equal(events.at(-1)?.type, 'message_stop');
  });

  test("the SDK's stream helper sees the notice as a stream event and ends with the whole message", async () => {
    s.mocks[SECONDARY].setFaults({ stallAfterChunks: 7 });
    const stream = client.messages.stream({ model: 'claude-sonnet-4', max_tokens: 100, messages: user('tell a story about the sea') });
    const seen: string[] = [];
    stream.on('streamEvent', (e) => seen.push(e.type));
    const final = await stream.finalMessage();
    assert.equal(textOf(final), WHOLE);
    assert.deepEqual(
      final.content.map((b) => b.type),
      ['text'],
    );
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(seen.filter((t) => t === 'stormproof_continued').length, 1);
  });
});

/**
 * The SDK's own fetch, except that its first call is dropped once `when` holds, as a reset
 * connection is (undici's `TypeError: fetch failed`): the SDK retries it on a new request.
 */
function droppingFetch(when: () => boolean) {
  let calls = 0;
  return async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (calls++ > 0) return fetch(url, init);
    const abort = new AbortController();
    fetch(url, { ...init, signal: abort.signal }).catch(() => undefined);
    await waitFor(when, 'the first send to reach the provider');
    abort.abort();
    throw new TypeError('fetch failed');
  };
}
const retrying = (f?: typeof fetch) => new Anthropic({ baseURL: s.gateway.apiUrl, apiKey: 'x', maxRetries: 2, ...(f ? { fetch: f } : {}) });
const keyed = (key: string, more: Record<string, string> = {}) => ({ headers: { 'Idempotency-Key': key, ...more } });

/** The SSE events of a streamed answer read through the SDK's raw response: (id, event, data). */
async function sseOf(res: Response, stopAfterDeltas = Infinity) {
  const out: Array<{ id?: string; event?: string; data: any }> = [];
  const decoder = new TextDecoder();
  let buf = '';
  const reader = res.body!.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(block)?.[1];
      out.push({ id: field('id'), event: field('event'), data: JSON.parse(field('data') ?? 'null') });
      if (out.filter((e) => e.event === 'content_block_delta').length >= stopAfterDeltas) {
        await reader.cancel();
        return out;
      }
    }
  }
  return out;
}
const textOfEvents = (events: Array<{ event?: string; data: any }>) =>
  events.map((e) => (e.event === 'content_block_delta' ? (e.data.delta.text ?? '') : '')).join('');

describe('Idempotency-Key', () => {
  test('the same key twice: one job, one provider call, the same message', async () => {
    const key = `k-${randomUUID()}`;
    const body = { model: 'gpt-4o', max_tokens: 50, messages: user('once only') };
    const first = await client.messages.create(body, keyed(key)).withResponse();
    const again = await client.messages.create(body, keyed(key)).withResponse();
    assert.equal(first.response.headers.get('x-stormproof-job-id'), jobIdFor(key));
    assert.equal(again.response.headers.get('x-stormproof-job-id'), jobIdFor(key));
    assert.equal(again.data.id, first.data.id);
    assert.equal(textOf(again.data), 'Echo from gpt-4o: once only');
    assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  });

  test("the SDK's retry after a dropped connection attaches to the running job: one provider call", async () => {
    s.mocks[PRIMARY].setFaults({ latencyMs: 1_500 });
    const key = `k-${randomUUID()}`;
    const sdk = retrying(droppingFetch(() => s.mocks[PRIMARY].stats().inFlight === 1));
    const { data, response } = await sdk.messages
      .create({ model: 'gpt-4o', max_tokens: 50, messages: user('dropped once') }, keyed(key))
      .withResponse();
    assert.equal(textOf(data), 'Echo from gpt-4o: dropped once');
    assert.equal(response.headers.get('x-stormproof-job-id'), jobIdFor(key));
    assert.equal(s.mocks[PRIMARY].stats().requests, 1, 'one provider call for both sends');
  });

  test("a stream dropped before its first event: the SDK's retry gets the whole stream, one provider call", async () => {
    s.mocks[PRIMARY].setFaults({ latencyMs: 1_000 });
    const key = `k-${randomUUID()}`;
    const sdk = retrying(droppingFetch(() => s.mocks[PRIMARY].stats().inFlight === 1));
    const final = await sdk.messages
      .stream({ model: 'gpt-4o', max_tokens: 50, messages: user('stream it once only please') }, keyed(key))
      .finalMessage();
    assert.equal(textOf(final), 'Echo from gpt-4o: stream it once only please');
    assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  });

  test('a client that left mid-stream comes back with Last-Event-ID and gets exactly the rest', async () => {
    const key = `k-${randomUUID()}`;
    const words = 'one two three four five six seven eight nine ten eleven twelve';
    const body = { model: 'gpt-4o', max_tokens: 100, messages: user(words), stream: true as const };
    const first = await sseOf(await client.messages.create(body, keyed(key)).asResponse(), 3);
    const lastId = first.filter((e) => e.id).at(-1)?.id;
    assert.match(lastId ?? '', /^\d+\.[A-Za-z0-9_-]+$/);
    assert.ok(
      first.filter((e) => e.event === 'content_block_delta').every((e) => e.id),
      'every text delta carries its position',
    );
    assert.equal(Number(lastId!.split('.')[0]), textOfEvents(first).length, 'the id counts the characters received');
    const rest = await sseOf(await client.messages.create(body, keyed(key, { 'Last-Event-ID': lastId! })).asResponse());
    assert.equal(textOfEvents(first) + textOfEvents(rest), `Echo from gpt-4o: ${words}`);
    assert.equal(rest.at(-1)?.event, 'message_stop');
    assert.equal(rest.find((e) => e.event === 'message_delta')?.data.stormproof.job_id, jobIdFor(key));
    assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  });

  test('a key reused with another body: 409 in the Messages shape, and the SDK is told not to retry it', async () => {
    const key = `k-${randomUUID()}`;
    const sdk = retrying();
    await sdk.messages.create({ model: 'gpt-4o', max_tokens: 50, messages: user('first') }, keyed(key));
    await assert.rejects(sdk.messages.create({ model: 'gpt-4o', max_tokens: 50, messages: user('second') }, keyed(key)), (err: unknown) => {
      assert.ok(err instanceof ConflictError, String(err));
      assert.equal((err.error as any).type, 'error');
      assert.equal((err.error as any).stormproof.code, 'STORMPROOF_ERR_IDEMPOTENCY_CONFLICT');
      assert.equal(err.headers?.get('x-should-retry'), 'false');
      return true;
    });
    assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  });

  test('a bad key is a 400 in the Messages shape', async () => {
    await assert.rejects(
      client.messages.create({ model: 'gpt-4o', max_tokens: 5, messages: user('x') }, keyed('has spaces in it')),
      (err: unknown) => {
        assert.ok(err instanceof BadRequestError, String(err));
        assert.equal((err.error as any).stormproof.code, 'STORMPROOF_ERR_INVALID_IDEMPOTENCY_KEY');
        return true;
      },
    );
  });

  test('a request that failed after all its failovers is not retried by the SDK (one chain of provider calls)', async () => {
    for (const m of Object.values(s.mocks)) m.setFaults({ down: true });
    await assert.rejects(retrying().messages.create({ model: 'gpt-4o', max_tokens: 5, messages: user('anyone?') }), (err: unknown) => {
      assert.ok(err instanceof APIError && err.status === 503, String(err));
      assert.equal(err.headers?.get('x-should-retry'), 'false');
      const attempts = (err.error as any).stormproof.attempts.length;
      const calls = Object.values(s.mocks).reduce((n, m) => n + m.stats().requests, 0);
      assert.equal(calls, attempts, `one job's ${attempts} attempts, not the SDK's 3 tries of it`);
      return true;
    });
  });
});
