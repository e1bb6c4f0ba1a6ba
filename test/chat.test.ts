/** The OpenAI-compatible endpoint, driven by the official `openai` client. */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './support/wait';
import OpenAI, { APIError, BadRequestError, NotFoundError } from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { startTestStack, type TestStack } from './support/stack';

let s: TestStack;
let client: OpenAI;
before(async () => {
  s = await startTestStack();
  client = new OpenAI({ baseURL: `${s.gateway.apiUrl}/v1`, apiKey: 'x', maxRetries: 0 });
});
after(async () => {
  await s?.close();
});
afterEach(() => s.resetFaults());

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';
const user = (text: string) => [{ role: 'user' as const, content: text }];
const TOOLS = [
  {
    type: 'function' as const,
    function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
  },
];

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}
const textOf = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');

describe('non-streaming', () => {
  test('answers like OpenAI, with the job id, target and failovers in headers and a stormproof extension', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages: user('hello there') }).withResponse();
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.content, 'Echo from gpt-4o: hello there');
    assert.equal(data.choices[0].finish_reason, 'stop');
    assert.equal(data.model, 'gpt-4o');
    assert.ok(data.usage && data.usage.total_tokens > 0);
    const jobId = response.headers.get('x-stormproof-job-id');
    assert.match(jobId ?? '', /^job-/);
    assert.equal(response.headers.get('x-stormproof-target'), PRIMARY);
    assert.equal(response.headers.get('x-stormproof-failovers'), '0');
    assert.equal(response.headers.get('x-stormproof-degraded'), 'false');
    const ext = (data as unknown as { stormproof: any }).stormproof;
    assert.equal(ext.job_id, jobId);
    assert.deepEqual(
      ext.attempts.map((a: any) => [a.target, a.outcome]),
      [[PRIMARY, 'ok']],
    );
    // The worker answers the moment the provider did; the workflow records the same answer right
    // after: wait for that record (not for a moment), then compare.
    const job = await s.waitForJob(jobId!);
    assert.equal(job.status, 'completed', 'each call is a durable job');
    assert.equal(job.result?.message.content, 'Echo from gpt-4o: hello there');
  });

  test('failover is visible in the headers', async () => {
    s.mocks[PRIMARY].setFaults({ down: true });
    const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages: user('fail me over') }).withResponse();
    assert.equal(data.choices[0].message.content, 'Echo from claude-sonnet-4-20250514: fail me over');
    assert.equal(response.headers.get('x-stormproof-target'), SECONDARY);
    assert.equal(response.headers.get('x-stormproof-failovers'), '1');
  });

  test('tools: the tool call comes back in OpenAI shape', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: user('use a tool please'), tools: TOOLS });
    assert.equal(res.choices[0].finish_reason, 'tool_calls');
    const call = res.choices[0].message.tool_calls?.[0];
    assert.equal(call?.type, 'function');
    assert.equal(call?.type === 'function' ? call.function.name : undefined, 'get_weather');
    assert.match(call?.id ?? '', /^call_/);
    assert.deepEqual(
      s.mocks[PRIMARY].stats().lastRequest?.body && (s.mocks[PRIMARY].stats().lastRequest!.body as any).tools,
      TOOLS,
      'tools reach the provider unchanged',
    );
  });
});

describe('streaming', () => {
  test('chunks in OpenAI format, usage in the last chunk, stormproof extension, read to the end', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: user('stream me a few words please'), stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(response.headers.get('x-stormproof-target'), PRIMARY);
    assert.equal(response.headers.get('x-stormproof-failovers'), '0');
    const jobId = response.headers.get('x-stormproof-job-id');
    const chunks = await collect(stream);
    assert.equal(textOf(chunks), 'Echo from gpt-4o: stream me a few words please');
    assert.ok(chunks.filter((c) => c.choices[0]?.delta?.content).length >= 5, 'the answer arrives in several chunks');
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, `chatcmpl-${jobId}`);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const finish = chunks.at(-2)!;
    assert.equal(finish.choices[0].finish_reason, 'stop');
    const last = chunks.at(-1)! as ChatCompletionChunk & { stormproof?: any };
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage && last.usage.completion_tokens > 0);
    assert.equal(last.stormproof.job_id, jobId);
    assert.equal(last.stormproof.target, PRIMARY);
    assert.deepEqual(
      last.stormproof.attempts.map((a: any) => a.outcome),
      ['ok'],
    );
    assert.ok(
      chunks.slice(0, -1).every((c) => c.usage === null),
      'usage is null until the last chunk',
    );
  });

  test('without include_usage the finish chunk is the last and carries the extension', async () => {
    const chunks = await collect(
      await client.chat.completions.create({ model: 'claude-3-5-haiku', messages: user('short one'), stream: true }),
    );
    assert.equal(textOf(chunks), 'Echo from claude-3-5-haiku-20241022: short one');
    const last = chunks.at(-1)! as ChatCompletionChunk & { stormproof?: any };
    assert.equal(last.choices[0].finish_reason, 'stop');
    assert.equal(last.stormproof.target, SECONDARY);
    assert.ok(chunks.every((c) => c.usage === undefined));
  });

  test('primary down: the stream comes from the next target, failover in the headers', async () => {
    s.mocks[PRIMARY].setFaults({ down: true });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: user('over there'), stream: true })
      .withResponse();
    assert.equal(response.headers.get('x-stormproof-target'), SECONDARY);
    assert.equal(response.headers.get('x-stormproof-failovers'), '1');
    const chunks = await collect(stream);
    assert.equal(textOf(chunks), 'Echo from claude-sonnet-4-20250514: over there');
  });

  test('tools in a stream: the tool call arrives in chunks with index, id, name and arguments', async () => {
    const chunks = await collect(
      await client.chat.completions.create({ model: 'gpt-4o', messages: user('call the tool'), tools: TOOLS, stream: true }),
    );
    const calls = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].index, 0);
    assert.equal(calls[0].function?.name, 'get_weather');
    assert.equal(calls[0].function?.arguments, '{}');
    assert.equal(chunks.at(-1)!.choices[0].finish_reason, 'tool_calls');
  });

  test('tokens sent, then the attempt fails and continuation is off: the stream ends with an error, never as a complete answer', async () => {
    // The role chunk and 7 words: past the 32 characters held back for the answer checks, so text reached the client.
    s.mocks[PRIMARY].setFaults({ stallAfterChunks: 8 });
    // allowDegradation: false also turns off mid-stream continuation (test/degradation.test.ts has it on).
    const params = {
      model: 'gpt-4o',
      messages: user('one two three four five six'),
      stream: true as const,
      routing: { allowDegradation: false },
    };
    const { data: stream, response } = await client.chat.completions.create(params as typeof params & { routing: never }).withResponse();
    const jobId = response.headers.get('x-stormproof-job-id')!;
    const got: ChatCompletionChunk[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of stream) got.push(c);
      })(),
      (err: unknown) =>
        err instanceof APIError && (err.error as any)?.code === 'STORMPROOF_ERR_STREAM_INTERRUPTED' && /\/v1\/jobs\/job-/.test(err.message),
    );
    assert.ok(textOf(got).length > 0, 'some tokens had arrived');
    assert.ok(
      got.every((c) => c.choices[0]?.finish_reason == null),
      'no finish_reason was sent',
    );
    // The job carries on and completes elsewhere: the complete answer is in the job record.
    const job = await s.waitForJob(jobId, 30_000);
    assert.equal(job.status, 'completed');
    assert.equal(job.result?.target, SECONDARY);
  });
});

describe('errors in OpenAI shape', () => {
  test('unknown model: NotFoundError with a stable code', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'gpt-9', messages: user('x') }), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'STORMPROOF_ERR_UNKNOWN_MODEL');
      assert.equal(err.param, 'model');
      assert.equal(err.type, 'invalid_request_error');
      return true;
    });
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['no messages', { model: 'gpt-4o', messages: [] }, /messages/],
    ['unknown field', { model: 'gpt-4o', messages: user('x'), frobnicate: true }, /frobnicate/],
    ['n > 1', { model: 'gpt-4o', messages: user('x'), n: 2 }, /n=1/],
    ['temperature out of range', { model: 'gpt-4o', messages: user('x'), temperature: 9 }, /temperature/],
  ];
  for (const [name, body, message] of bad) {
    test(`bad input (${name}): BadRequestError`, async () => {
      await assert.rejects(client.chat.completions.create(body as any), (err: unknown) => {
        assert.ok(err instanceof BadRequestError, String(err));
        assert.equal(err.code, 'STORMPROOF_ERR_INVALID_REQUEST');
        assert.match(err.message, message);
        return true;
      });
    });
  }

  test('malformed JSON is a 400 in OpenAI shape', async () => {
    const res = await s.api('/v1/chat/completions', { method: 'POST', body: '{"model":', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.deepEqual(Object.keys(res.body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_INVALID_JSON');
  });

  test('every target down: 503 with the attempt trace, streaming or not', async () => {
    for (const m of Object.values(s.mocks)) m.setFaults({ down: true });
    for (const stream of [false, true]) {
      await assert.rejects(client.chat.completions.create({ model: 'smart', messages: user('anyone?'), stream }), (err: unknown) => {
        assert.ok(err instanceof APIError && !(err instanceof BadRequestError), String(err));
        assert.equal(err.status, 503);
        assert.equal(err.code, 'STORMPROOF_ERR_ALL_TARGETS_FAILED');
        assert.match(err.headers?.get('x-stormproof-job-id') ?? '', /^job-/);
        // smart's two targets, then its degradation chain (gpt-4o-mini, claude-3-5-haiku, llama-3.1-8b).
        const attempts = (err.error as any).stormproof.attempts;
        assert.ok(attempts.length >= 5 && attempts.every((a: any) => a.outcome === 'ProviderUnavailable'), JSON.stringify(attempts));
        return true;
      });
    }
  });

  test('targets answering 500: 502', async () => {
    for (const m of Object.values(s.mocks)) m.setFaults({ errorRate: 1, errorStatus: 500 });
    await assert.rejects(
      client.chat.completions.create({ model: 'smart', messages: user('broken') }),
      (err: unknown) => err instanceof APIError && err.status === 502,
    );
  });

  test('a provider 400 is a 400 for the client, not a failover', async () => {
    s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 400 });
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: user('bad') }),
      (err: unknown) => err instanceof BadRequestError && err.code === 'STORMPROOF_ERR_PROVIDER_REJECTED',
    );
    assert.equal(s.mocks[SECONDARY].stats().requests, 0);
  });
});

describe('client goes away', () => {
  async function cancelledCount(): Promise<number> {
    return (await s.gateway.client.workflow.count(`TaskQueue = "${s.gateway.taskQueue}" AND ExecutionStatus = "Canceled"`)).count;
  }

  test('non-streaming: the workflow is cancelled and the provider call aborted', async () => {
    const before = await cancelledCount();
    s.mocks[PRIMARY].setFaults({ latencyMs: 20_000 });
    const abort = new AbortController();
    const call = client.chat.completions.create({ model: 'gpt-4o', messages: user('never mind') }, { signal: abort.signal });
    await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 1, 'the provider call to start', 10_000);
    abort.abort();
    await assert.rejects(call);
    await waitFor(() => s.mocks[PRIMARY].stats().aborted === 1, 'the provider call to be aborted', 5_000);
    await waitFor(async () => (await cancelledCount()) === before + 1, 'the workflow to be cancelled', 10_000);
    assert.equal(s.mocks[SECONDARY].stats().requests, 0, 'a cancelled request does not fail over');
  });

  test('streaming: leaving mid-stream cancels the workflow; no failover', async () => {
    const before = await cancelledCount();
    // Past the 32 characters held back for the answer checks, so text reaches the client before the stall.
    s.mocks[PRIMARY].setFaults({ stallAfterChunks: 12 });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: user('a b c d e f g h i j k l'), stream: true });
    for await (const c of stream) {
      if (c.choices[0]?.delta?.content) break; // break aborts the HTTP request
    }
    await waitFor(async () => (await cancelledCount()) === before + 1, 'the workflow to be cancelled', 10_000);
    await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 0, 'the provider stream to be closed', 5_000);
    assert.equal(s.mocks[SECONDARY].stats().requests, 0);
  });
});

test('GET /v1/models lists models and tiers', async () => {
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4', 'claude-3-5-haiku', 'llama-3.1-8b', 'smart', 'fast']);
  const one = await client.models.retrieve('smart');
  assert.deepEqual((one as any).stormproof.members, ['gpt-4o', 'claude-sonnet-4']);
  await assert.rejects(client.models.retrieve('nope'), NotFoundError);
});
