/** The response a call publishes early is the one the workflow records from the same data. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProviderCallInput, ProviderCallResult } from '../contracts/routing';
import { answeredOutcomes, attemptRecord, earlyResponse, responseOf, type Outcome } from './outcome';
import { Trace } from './trace';

const A = { target: 'openai-us-east-1', model: 'gpt-4o' };
const B = { target: 'anthropic-eu-west-1', model: 'claude-sonnet-4' };
const request = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }] };
const answer = (pair: typeof A, extra: Partial<ProviderCallResult> = {}): ProviderCallResult => ({
  ...pair,
  message: { role: 'assistant', content: `Echo from ${pair.model}: hi` },
  finishReason: 'stop',
  usage: { prompt_tokens: 1, completion_tokens: 4, total_tokens: 5 },
  ...extra,
});

/** What the workflow does with the call's result (attempt.ts, walk.ts, request.ts). */
function recorded(trace: Trace, input: ProviderCallInput, result: ProviderCallResult, sources?: string[]) {
  const outcomes = answeredOutcomes(input, result, input.answerTo!.startedAt, 99_999);
  for (const o of outcomes) trace.record(o.pair, attemptRecord(o, input.hedge?.afterMs ?? 0));
  const won = outcomes.at(-1) as Extract<Outcome, { kind: 'answered' }>;
  return responseOf(input.jobId, won.answer, trace, sources);
}

test('after a failover: the same attempts, switch and duration (answeredAt − startedAt, not the workflow clock)', () => {
  const trace = new Trace();
  trace.begin(A);
  trace.record(A, { outcome: 'ProviderUnavailable', error: 'connection refused', retries: 0, durationMs: 4 });
  trace.begin(B);
  const input: ProviderCallInput = {
    ...B,
    request,
    jobId: 'job-1',
    answerTo: { startedAt: 1_000, trace: trace.state(), sources: ['doc.md'] },
  };
  const result = answer(B, { answeredAt: 1_042 });
  const early = earlyResponse({ ...input, answerTo: input.answerTo! }, result);
  assert.deepEqual(early, recorded(trace, input, result, ['doc.md']));
  assert.equal(early.attempts[1].durationMs, 42);
  assert.deepEqual(
    early.switches.map((x) => [x.from, x.to, x.reason]),
    [[A.target, B.target, 'ProviderUnavailable']],
  );
  assert.equal(early.failovers, 1);
  assert.deepEqual(early.sources, ['doc.md']);
});

test('a hedge the second call won: the loser first, then the winner, one failover, on both sides', () => {
  const trace = new Trace();
  trace.begin(A);
  const input: ProviderCallInput = {
    ...A,
    request,
    jobId: 'job-2',
    hedge: { ...B, afterMs: 1_000 },
    answerTo: { startedAt: 5_000, trace: trace.state() },
  };
  const result = answer(B, { answeredAt: 6_300, hedge: { ...A, outcome: 'Hedged', durationMs: 1_300.4 } });
  const early = earlyResponse({ ...input, answerTo: input.answerTo! }, result);
  assert.deepEqual(early, recorded(trace, input, result));
  assert.deepEqual(
    early.attempts.map((a) => [a.target, a.outcome, a.durationMs]),
    [
      [A.target, 'Hedged', 1_300],
      [B.target, 'ok', 1_300],
    ],
  );
  assert.equal(early.target, B.target);
  assert.equal(early.failovers, 1);
});

test('without answeredAt (histories recorded before early answers) the workflow clock counts', () => {
  const outcomes = answeredOutcomes({ ...A, request, jobId: 'j' }, answer(A), 1_000, 17);
  assert.equal(outcomes[0].durationMs, 17);
});

test('the trace travels as plain data: from(state()) goes on exactly where it was', () => {
  const t = new Trace();
  t.begin(A);
  t.record(A, { outcome: 'ProviderServerError', error: '503', retries: 2, durationMs: 900 });
  const copy = Trace.from(JSON.parse(JSON.stringify(t.state())));
  for (const x of [t, copy]) {
    x.begin(B);
    x.record(B, { outcome: 'ok', durationMs: 10 });
  }
  assert.deepEqual(copy.details(), t.details());
});
