/**
 * Mid-stream continuation as a client sees it, with the official `openai` client: a stream cut on
 * an Anthropic target goes on on an OpenAI target (which has no prefill: it is asked to continue),
 * the client is told where, and the seam is clean even with an imperfect follower. A garbage
 * stream fails over before a single character reaches the client.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { CONTINUE_INSTRUCTION } from '../activities/continuation';
import { startTestStack, type TestStack } from './support/stack';

const ANTHROPIC = 'anthropic-eu-west-1';
const OPENAI = 'openai-us-east-1';
const QUESTION = 'tell a story about the sea';
/** What the Anthropic mock streams before it stalls (message_start, content_block_start, ping, 4 words). */
const DELIVERED = 'Echo from claude-sonnet-4-20250514: tell ';
const WHOLE = 'Echo from claude-sonnet-4-20250514: tell a story about the sea';

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

type Chunk = ChatCompletionChunk & { stormproof?: any };

async function read(model: string, question = QUESTION) {
  const { data, response } = await client.chat.completions
    .create({ model, messages: [{ role: 'user', content: question }], stream: true })
    .withResponse();
  const chunks: Chunk[] = [];
  for await (const c of data) chunks.push(c);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  return { chunks, text, jobId: response.headers.get('x-stormproof-job-id')!, target: response.headers.get('x-stormproof-target') };
}

const continuedNotices = (chunks: Chunk[]) => chunks.filter((c) => c.stormproof?.continued).map((c) => c.stormproof.continued);

test('a stream cut on Anthropic continues on OpenAI: asked to continue (no prefill there), the client told where, one whole answer', async () => {
  s.mocks[ANTHROPIC].setFaults({ stallAfterChunks: 7 });
  const { chunks, text, jobId } = await read('claude-sonnet-4');
  assert.equal(text, WHOLE);
  const [notice, ...more] = continuedNotices(chunks);
  assert.deepEqual(more, []);
  assert.deepEqual({ ...notice, reason: undefined }, { from: ANTHROPIC, to: OPENAI, at: DELIVERED.length, reason: undefined });
  assert.match(notice.reason, /ProviderStalled|sent nothing/);
  const noticeChunk = chunks.find((c) => c.stormproof?.continued)!;
  assert.deepEqual(noticeChunk.choices, [], 'no choices: an OpenAI client reads no text from it');
  assert.equal(noticeChunk.object, 'chat.completion.chunk');
  const asked = (s.mocks[OPENAI].stats().lastRequest?.body as any).messages;
  assert.deepEqual(asked.slice(-2), [
    { role: 'assistant', content: DELIVERED },
    { role: 'user', content: CONTINUE_INSTRUCTION },
  ]);
  const job = await s.waitForJob(jobId);
  assert.equal(job.result?.message.content, WHOLE, 'the job record has the same whole answer');
  assert.ok(job.degradations.some((d) => d.kind === 'mode' && d.to === `continued on ${OPENAI}`));
});

for (const fault of ['repeatTail', 'restart'] as const) {
  test(`an imperfect follower (${fault}) on the OpenAI side: the client still reads each word once`, async () => {
    s.mocks[ANTHROPIC].setFaults({ stallAfterChunks: 7 });
    s.mocks[OPENAI].setFaults({ continuationFault: fault });
    const { text, jobId } = await read('claude-sonnet-4');
    assert.equal(text, WHOLE);
    assert.equal((await s.waitForJob(jobId)).result?.message.content, WHOLE);
  });
}

test("the OpenAI SDK's stream helper reads a continued stream to its final completion", async () => {
  s.mocks[ANTHROPIC].setFaults({ stallAfterChunks: 7 });
  const runner = client.chat.completions.stream({ model: 'claude-sonnet-4', messages: [{ role: 'user', content: QUESTION }] });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, WHOLE);
  assert.equal(final.choices[0].finish_reason, 'stop');
});

test('a garbage stream fails over with nothing relayed: the client reads only the good answer', async () => {
  s.mocks[OPENAI].setFaults({ garbageAnswers: true });
  const { chunks, text, jobId, target } = await read('gpt-4o', 'say something useful');
  assert.equal(text, 'Echo from claude-sonnet-4-20250514: say something useful');
  assert.equal(target, ANTHROPIC);
  assert.deepEqual(continuedNotices(chunks), [], 'a clean failover, not a continuation');
  const job = await s.waitForJob(jobId);
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [OPENAI, 'ProviderBadAnswer'],
      [ANTHROPIC, 'ok'],
    ],
  );
  assert.match(job.attempts[0].error ?? '', /U\+FFFD.*nothing reached the client/);
});
