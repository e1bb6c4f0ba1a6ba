/** The Anthropic-compatible endpoint `POST /v1/messages`, driven by the official `@anthropic-ai/sdk`. */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic, { APIError, BadRequestError, NotFoundError } from '@anthropic-ai/sdk';
import { startTestStack, type TestStack } from './support/stack';

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
const TOOLS: Anthropic.Tool[] = [{ name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];

describe('non-streaming', () => {
  test('answers like the Messages API, with the job id in a header and a stormproof extension', async () => {
    const { data, response } = await client.messages.create({ model: 'claude-sonnet-4', max_tokens: 100, system: 'be brief', messages: user('hello there') }).withResponse();
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
      messages: [...user('call the tool'), { role: 'assistant', content: msg.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny' }] }],
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
    await assert.rejects(client.messages.create(noMax), (err: unknown) => err instanceof BadRequestError && /max_tokens/.test(err.message) && (err.error as any).error.type === 'invalid_request_error');
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
    assert.deepEqual([...new Set(types)], ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
  });

  test('a tool call in a stream arrives as a tool_use block', async () => {
    const final = await client.messages.stream({ model: 'gpt-4o', max_tokens: 50, tools: TOOLS, messages: user('call the tool') }).finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const use = final.content.find((b) => b.type === 'tool_use');
    assert.equal(use?.type === 'tool_use' && use.name, 'get_weather');
  });

  test('tokens sent, then the attempt fails: the stream ends with an error event, never as a complete answer', async () => {
    // The role chunk and 7 words: past the 32 characters held back for the answer checks, so text reached the client.
    s.mocks[PRIMARY].setFaults({ stallAfterChunks: 8 });
    const body = { model: 'gpt-4o', max_tokens: 100, messages: user('one two three four five six'), stream: true as const, routing: { allowDegradation: false } };
    const { data: stream, response } = await client.messages.create(body as unknown as Anthropic.MessageCreateParamsStreaming).withResponse();
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
