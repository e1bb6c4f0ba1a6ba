/**
 * The AI-specific failures: a provider that is up but useless (empty answers, broken JSON), a
 * 429 without Retry-After, and streams judged by their first token, end to end over real HTTP.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallOutcome } from '../activities';
import { chat, startTestStack, tapOutcomes, type TestStack } from './support/stack';

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';

let s: TestStack;
const outcomes: CallOutcome[] = [];
before(async () => {
  s = await startTestStack({ mockOptions: { chunkDelayMs: 40 } });
  tapOutcomes(s, outcomes);
});
after(async () => {
  await s?.close();
});
afterEach(() => {
  s.resetFaults();
  outcomes.length = 0;
});

const primaryOutcomes = () => outcomes.filter((o) => o.target === PRIMARY && !o.inFlight).map((o) => o.outcome);

test('an empty 200 fails over and counts against the target', async () => {
  s.mocks[PRIMARY].setFaults({ emptyAnswers: true });
  const job = await s.runJob(chat('gpt-4o', 'say something'));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.deepEqual(
    job.attempts.map((a) => [a.target, a.outcome]),
    [
      [PRIMARY, 'ProviderBadAnswer'],
      [SECONDARY, 'ok'],
    ],
  );
  assert.match(job.attempts[0].error ?? '', /empty answer/);
  assert.deepEqual(primaryOutcomes(), ['ProviderBadAnswer']);
});

test('an empty stream fails over too, still as a stream', async () => {
  s.mocks[PRIMARY].setFaults({ emptyAnswers: true });
  const job = await s.runJob(chat('gpt-4o', 'stream something', { stream: true }));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.deepEqual(job.degradations, []);
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
});

test('garbage where JSON was asked fails over to a target that answers JSON', async () => {
  s.mocks[PRIMARY].setFaults({ garbageAnswers: true });
  const job = await s.runJob(chat('gpt-4o-mini', '{"q": 1}', { response_format: { type: 'json_object' } }));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.attempts[0].outcome, 'ProviderBadAnswer');
  assert.match(job.attempts[0].error ?? '', /does not parse/);
  assert.notEqual(job.result?.target, PRIMARY);
});

test('a content-filter refusal is the answer, not a target fault', async () => {
  s.mocks[PRIMARY].setFaults({ contentFilter: true });
  const job = await s.runJob(chat('gpt-4o', 'something forbidden'));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, PRIMARY);
  assert.equal(job.result?.finishReason, 'content_filter');
  assert.deepEqual(primaryOutcomes(), ['ok']);
});

test('a 429 without Retry-After is not hammered: one call, then failover', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 429 });
  const job = await s.runJob(chat('gpt-4o', 'limited'));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.result?.target, SECONDARY);
  assert.equal(s.mocks[PRIMARY].stats().requests, 1);
  assert.deepEqual(
    job.attempts.map((a) => [a.outcome, a.retries ?? 0]),
    [
      ['ProviderRateLimited', 0],
      ['ok', 0],
    ],
  );
});

test('a stream is judged by its first token: a long healthy answer is not slow', async () => {
  const words = Array.from({ length: 30 }, (_, i) => `w${i}`).join(' ');
  const job = await s.runJob(chat('gpt-4o', words, { stream: true }));
  assert.equal(job.status, 'completed', JSON.stringify(job));
  const done = outcomes.find((o) => o.target === PRIMARY && o.outcome === 'ok');
  assert.ok(done?.firstTokenMs !== undefined, JSON.stringify(outcomes));
  // 30+ chunks at 40 ms: the whole stream takes over a second, its first token far less.
  assert.ok(done.durationMs > 1_000, `the stream took ${done.durationMs} ms`);
  assert.ok(done.firstTokenMs < done.durationMs / 4, `first token after ${done.firstTokenMs} of ${done.durationMs} ms`);
});
