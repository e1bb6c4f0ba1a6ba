/**
 * A synchronous client is answered the moment the provider's answer exists in the worker: the
 * provider call publishes the request's response (into the API's hub, in this process), and the
 * workflow then records the same response as the job's result. Asserted on the events the hub
 * saw and on the records, never on timing.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { jobIdFor } from '../api/idempotency';
import type { StreamEvent } from '../contracts/streaming';
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

/** A key (so the job id is known before the call) and the hub events of that job. */
function watch(): { key: string; events: StreamEvent[]; stop: () => void } {
  const key = randomUUID();
  const events: StreamEvent[] = [];
  const stop = s.gateway.hub.subscribe(jobIdFor(key), (e) => events.push(e));
  return { key, events, stop };
}

type Ext = { job_id: string; target: string; failovers: number; attempts: unknown[]; degradations: unknown[] };

test('a buffered answer comes from the call that got it, and it is the job record', async () => {
  const w = watch();
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o', messages: user('early bird') }, { headers: { 'Idempotency-Key': w.key } })
    .withResponse();
  w.stop();
  const answers = w.events.filter((e) => e.type === 'answer');
  assert.equal(answers.length, 1, 'the provider call published the response once');
  const early = answers[0].type === 'answer' ? answers[0].response : undefined;
  const ext = (data as unknown as { stormproof: Ext }).stormproof;
  assert.equal(data.choices[0].message.content, early?.message.content);
  assert.deepEqual(ext.attempts, early?.attempts, 'the client got the published response');
  const job = await s.waitForJob(response.headers.get('x-stormproof-job-id')!);
  assert.equal(job.status, 'completed');
  assert.deepEqual(job.result, early, 'the workflow recorded exactly what the client got');
  assert.deepEqual(
    job.result?.attempts.map((a) => [a.target, a.outcome]),
    [[PRIMARY, 'ok']],
  );
});

test('after a failover: the same trace for the client and the record (switch, durations)', async () => {
  s.mocks[PRIMARY].setFaults({ down: true });
  const w = watch();
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o', messages: user('fail over early') }, { headers: { 'Idempotency-Key': w.key } })
    .withResponse();
  w.stop();
  const ext = (data as unknown as { stormproof: Ext }).stormproof;
  assert.equal(response.headers.get('x-stormproof-failovers'), '1');
  const job = await s.waitForJob(response.headers.get('x-stormproof-job-id')!);
  assert.equal(job.result?.target, SECONDARY);
  assert.deepEqual(ext.attempts, job.result?.attempts, 'attempts, outcomes and durations agree');
  assert.equal(ext.failovers, job.result?.failovers);
  assert.deepEqual(
    job.result?.switches.map((x) => [x.from, x.to]),
    [[PRIMARY, SECONDARY]],
  );
  assert.ok(
    w.events.some((e) => e.type === 'answer' && e.target === SECONDARY),
    'the answering call published it',
  );
});

test('a stream ends on the published answer; its last chunk carries the record', async () => {
  const w = watch();
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'gpt-4o', stream: true, messages: user('stream to the end early') }, { headers: { 'Idempotency-Key': w.key } })
    .withResponse();
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  w.stop();
  const kinds = w.events.map((e) => e.type);
  assert.ok(kinds.indexOf('answer') > kinds.lastIndexOf('delta'), `the answer follows the deltas (${kinds.join(',')})`);
  const last = [...chunks].reverse().find((c) => (c as unknown as { stormproof?: Ext }).stormproof) as unknown as { stormproof: Ext };
  const job = await s.waitForJob(response.headers.get('x-stormproof-job-id')!);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), job.result?.message.content);
  assert.deepEqual(last.stormproof.attempts, job.result?.attempts);
});

test('a job (nobody waits synchronously) is unchanged: its record is its result', async () => {
  const job = await s.runJob({ model: 'gpt-4o', messages: user('no one waits') });
  assert.equal(job.status, 'completed');
  assert.equal(job.result?.message.content, 'Echo from gpt-4o: no one waits');
});
