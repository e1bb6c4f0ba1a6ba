/** Degradation end to end: model chains, dropped capabilities, stream → buffered mode. */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { refusingProxy, type RefusingProxy } from './support/refusing-proxy';
import { chat, startTestStack, type TestStack } from './support/stack';

const OPENAI = 'openai-us-east-1';
const ANTHROPIC = 'anthropic-eu-west-1';
const SELF = 'selfhosted-onprem';
const TOOLS = [
  { type: 'function', function: { name: 'lookup', description: 'look something up', parameters: { type: 'object', properties: {} } } },
];

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

const job = (request: unknown) => s.runJob(request, 60_000);

test('every gpt-4o target down: answered by a smaller model, each step recorded', async () => {
  s.mocks[OPENAI].setFaults({ down: true });
  s.mocks[ANTHROPIC].setFaults({ down: true });
  const j = await job(chat('gpt-4o', 'degrade me'));
  assert.equal(j.status, 'completed', JSON.stringify(j));
  assert.equal(j.result?.model, 'llama-3.1-8b');
  assert.equal(j.result?.target, SELF);
  assert.equal(j.result?.message.content, 'Echo from llama-3.1-8b: degrade me');
  assert.deepEqual(
    j.degradations.map((d) => [d.kind, d.from, d.to]),
    [
      ['model', 'gpt-4o', 'gpt-4o-mini'],
      ['model', 'gpt-4o-mini', 'claude-3-5-haiku'],
      ['model', 'claude-3-5-haiku', 'llama-3.1-8b'],
    ],
  );
  assert.match(j.degradations[0].reason, /every target of gpt-4o failed/);
});

test('tools required and only tool-less targets left: a clear error, unless the caller allows dropping tools', async () => {
  s.mocks[OPENAI].setFaults({ down: true });
  s.mocks[ANTHROPIC].setFaults({ down: true });
  const refused = await job(chat('gpt-4o', 'use the tool', { tools: TOOLS }));
  assert.equal(refused.status, 'failed');
  assert.match(refused.error!.message, /llama-3\.1-8b \(no tool support \(allow with routing\.allowDrop: \["tools"\]\)\)/);
  assert.equal(s.mocks[SELF].stats().requests, 0, 'the tool-less model was never called');

  const dropped = await job(chat('gpt-4o', 'use the tool', { tools: TOOLS, routing: { allowDrop: ['tools'] } }));
  assert.equal(dropped.status, 'completed', JSON.stringify(dropped));
  assert.equal(dropped.result?.model, 'llama-3.1-8b');
  assert.equal(dropped.result?.message.tool_calls, undefined);
  const last = dropped.degradations.at(-1)!;
  assert.equal(last.to, 'llama-3.1-8b');
  assert.match(last.reason, /dropped tools/);
  assert.equal((s.mocks[SELF].stats().lastRequest?.body as any).tools, undefined, 'tools were not sent to a model without them');
});

test('a prompt too long for a fallback model skips it', async () => {
  s.mocks[OPENAI].setFaults({ down: true });
  s.mocks[ANTHROPIC].setFaults({ down: true });
  const long = 'word '.repeat(40_000); // ~50k tokens: beyond llama-3.1-8b's 8k window
  const j = await job(chat('gpt-4o', long));
  assert.equal(j.status, 'failed');
  assert.match(j.error!.message, /llama-3\.1-8b \(prompt .* exceeds the 8192-token context window\)/);
  assert.equal(s.mocks[SELF].stats().requests, 0);
});

test('a stream that fails before the first token: the same target answers buffered, sent as a normal stream', async () => {
  s.mocks[OPENAI].setFaults({ malformed: true });
  const stream = await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'stream or bust' }],
    stream: true,
  });
  let text = '';
  let last: any;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    last = chunk;
  }
  assert.equal(text, 'Echo from gpt-4o: stream or bust');
  const sp = last.stormproof;
  assert.equal(sp.target, OPENAI);
  assert.deepEqual(
    sp.degradations.map((d: any) => [d.kind, d.from, d.to]),
    [['mode', 'stream', 'buffered']],
  );
  assert.deepEqual(
    sp.attempts.map((a: any) => a.outcome),
    ['ProviderMalformed', 'ok'],
  );
  assert.equal(s.mocks[OPENAI].stats().lastRequest?.stream, false, 'the last call was buffered');
});

test('a stream stalled before any token fails over (a silent target is not asked again, buffered or not)', async () => {
  s.mocks[OPENAI].setFaults({ stallAfterChunks: 1 });
  const j = await job(chat('gpt-4o', 'stalled early', { stream: true }));
  assert.equal(j.status, 'completed', JSON.stringify(j));
  assert.equal(j.result?.target, ANTHROPIC);
  assert.equal(j.result?.message.content, 'Echo from claude-sonnet-4-20250514: stalled early');
  assert.deepEqual(
    j.attempts.map((a) => [a.target, a.outcome]),
    [
      [OPENAI, 'ProviderStalled'],
      [ANTHROPIC, 'ok'],
    ],
  );
  assert.deepEqual(j.degradations, [], 'still a stream: no mode degradation');
  assert.equal(s.mocks[OPENAI].stats().requests, 1);
});

test('a stream cut mid-answer continues on another target: the client reads one whole answer', async () => {
  // The role chunk and five words (past the 32 characters held back for the answer checks) reach
  // the client, then the primary stalls.
  s.mocks[OPENAI].setFaults({ stallAfterChunks: 6 });
  const stream = await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'continue this story please' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let last: any;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    last = chunk;
  }
  assert.equal(text, 'Echo from gpt-4o: continue this story please');
  // Usage counts every part delivered: the cut part's three tokens and the continuation's four.
  assert.equal(last.usage.completion_tokens, 7);
  const sp = last.stormproof;
  assert.equal(sp.failovers, 1, 'one move: from the cut target to the one that continued');
  assert.equal(sp.target, ANTHROPIC);
  assert.deepEqual(
    sp.attempts.map((a: any) => [a.target, a.outcome]),
    [
      [OPENAI, 'ProviderStalled'],
      [ANTHROPIC, 'ok'],
    ],
  );
  const d = sp.degradations.find((x: any) => x.kind === 'mode');
  assert.equal(d.from, `stream from ${OPENAI}`);
  assert.equal(d.to, `continued on ${ANTHROPIC}`);
  assert.match(d.reason, /cut after 32 characters \(ProviderStalled\)/);
  const prefill = (s.mocks[ANTHROPIC].stats().lastRequest?.body as any).messages.at(-1);
  assert.deepEqual(
    prefill,
    { role: 'assistant', content: [{ type: 'text', text: 'Echo from gpt-4o: continue this' }] },
    'the next target was asked to continue the text sent so far',
  );
});

/** Reads a streamed chat completion to its end: the text, and the error event if the stream ended in one. */
async function readStream(c: OpenAI, body: Record<string, unknown>) {
  const { data: stream, response } = await c.chat.completions.create({ ...body, stream: true } as never).withResponse();
  let text = '';
  let error: any;
  try {
    for await (const chunk of stream as unknown as AsyncIterable<any>) text += chunk.choices[0]?.delta?.content ?? '';
  } catch (err) {
    error = err;
  }
  return { text, error, jobId: response.headers.get('x-stormproof-job-id')! };
}

test('a stream with tools cut mid-answer is never continued: the client gets the interruption error, the job completes afresh elsewhere', async () => {
  // Past the 32 characters held back for the answer checks: text reached the client.
  s.mocks[OPENAI].setFaults({ stallAfterChunks: 6 });
  const { text, error, jobId } = await readStream(client, {
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'continue this story please' }],
    tools: TOOLS,
  });
  assert.equal(text, 'Echo from gpt-4o: continue this ', 'the part that reached the client');
  assert.equal(error?.code, 'STORMPROOF_ERR_STREAM_INTERRUPTED', String(error));
  const j = await s.waitForJob(jobId);
  assert.equal(j.status, 'completed', JSON.stringify(j));
  const last = (s.mocks[ANTHROPIC].stats().lastRequest?.body as any).messages.at(-1);
  assert.equal(last.role, 'user', 'no continuation was asked of the next target');
  assert.equal(j.result?.message.content, 'Echo from claude-sonnet-4-20250514: continue this story please');
  const d = j.degradations.find((x) => x.kind === 'mode');
  assert.equal(d?.to, `restarted on ${ANTHROPIC}`);
  assert.match(d?.reason ?? '', /cut after 32 characters \(ProviderStalled\); a request with tools is never continued/);
});

describe('continuation refused', () => {
  /** A stack whose every target sits behind a proxy that can refuse continuations like a provider that allows none. */
  let r: TestStack;
  let rClient: OpenAI;
  const proxies: RefusingProxy[] = [];
  /** Text only a continuation of the cut answer carries. */
  const CUT = 'Echo from claude-sonnet-4-20250514:';
  before(async () => {
    for (let i = 0; i < 3; i++) proxies.push(await refusingProxy());
    r = await startTestStack({
      edit(raw) {
        raw.targets.forEach((t: { baseUrl: string; kind: string }, i: number) => (t.baseUrl = proxies[i].front(t.baseUrl, t.kind)));
      },
    });
    rClient = new OpenAI({ baseURL: `${r.gateway.apiUrl}/v1`, apiKey: 'x', maxRetries: 0 });
  });
  after(async () => {
    await r?.close();
    await Promise.all(proxies.map((p) => p.close()));
  });
  afterEach(() => {
    r.resetFaults();
    for (const p of proxies) p.refuse = () => false;
  });
  const refuseContinuations = (ids: string[]) => {
    r.config.targets.forEach((t, i) => {
      if (ids.includes(t.id)) proxies[i].refuse = (body) => body.includes(CUT);
    });
  };
  // claude-sonnet-4 streams three words (message_start, content_block_start, ping, three deltas), then stalls.
  const cutSonnet = () => r.mocks[ANTHROPIC].setFaults({ stallAfterChunks: 6, models: ['claude-sonnet-4-20250514'] });
  const ask = {
    model: 'claude-sonnet-4',
    messages: [{ role: 'user', content: 'continue this story please' }],
    stream_options: { include_usage: true },
  };

  test("a 400 to a continuation is not the request's fault: the next candidate continues", async () => {
    cutSonnet();
    refuseContinuations([OPENAI]);
    const { text, error, jobId } = await readStream(rClient, ask);
    assert.equal(error, undefined, String(error));
    assert.equal(text, 'Echo from claude-sonnet-4-20250514: continue this story please');
    const j = await r.waitForJob(jobId);
    assert.deepEqual(
      j.attempts.map((a) => [a.target, a.model, a.outcome]),
      [
        [ANTHROPIC, 'claude-sonnet-4', 'ProviderStalled'],
        [OPENAI, 'gpt-4o', 'ContinuationRefused'],
        [ANTHROPIC, 'claude-3-5-haiku', 'ok'],
      ],
    );
    assert.equal(j.result?.failovers, 2);
    assert.equal(j.result?.usage.completion_tokens, 7, 'the cut part and the continuation');
    assert.match(
      j.degradations.find((d) => d.to === `continued on ${ANTHROPIC}`)?.reason ?? '',
      /cut after \d+ characters \(ProviderStalled\)/,
    );
  });

  test("when no candidate accepts the continuation: a clean answer afresh, the client's stream reported interrupted", async () => {
    cutSonnet();
    refuseContinuations(r.config.targets.map((t) => t.id));
    const { error, jobId } = await readStream(rClient, ask);
    assert.equal(error?.code, 'STORMPROOF_ERR_STREAM_INTERRUPTED', String(error));
    const j = await r.waitForJob(jobId);
    assert.equal(j.status, 'completed', JSON.stringify(j));
    assert.equal(j.result?.message.content, 'Echo from gpt-4o: continue this story please', 'a whole answer, not a continuation');
    assert.deepEqual(
      j.attempts.map((a) => a.outcome),
      ['ProviderStalled', 'ContinuationRefused', 'ContinuationRefused', 'ContinuationRefused', 'ContinuationRefused', 'ok'],
    );
    const restart = j.degradations.find((d) => d.kind === 'mode');
    assert.equal(restart?.to, `restarted on ${OPENAI}`);
    assert.match(
      restart?.reason ?? '',
      /cut after \d+ characters \(ProviderStalled\); no candidate accepted the continuation/,
      'names the real cause',
    );
  });
});
