/**
 * What one call came to, and how an answered call becomes the request's response, pure: the
 * workflow uses these, and so does a provider call that answers the waiting client before the
 * workflow has recorded its result (AnswerContext), so both compute the same response.
 */
import type { AiResponse, Attempt } from '../contracts/response';
import type { AnswerContext, HedgeReport, ProviderCallInput, ProviderCallResult } from '../contracts/routing';
import type { FailureSummary } from './failure';
import { Trace } from './trace';

type Pair = { target: string; model: string };

/** What one call came to. */
export type Outcome =
  | { kind: 'answered'; pair: Pair; answer: ProviderCallResult; durationMs: number }
  /** Failed without reaching the client (nothing streamed). */
  | { kind: 'failed'; pair: Pair; failure: FailureSummary; durationMs: number }
  /** A stream that failed after tokens reached the client. */
  | { kind: 'cut'; pair: Pair; failure: FailureSummary; durationMs: number }
  /** Asked to continue a cut stream, it answered 400: it refuses the continuation, not the request. */
  | { kind: 'refused'; pair: Pair; failure: FailureSummary; durationMs: number }
  /** Lost a hedge: aborted because the other call of the pair answered first. */
  | { kind: 'hedged'; pair: Pair; durationMs: number }
  /** Cancelled by the worker (e.g. a cache eviction), not by the client. */
  | { kind: 'interrupted'; pair: Pair; failure: FailureSummary; durationMs: number };

const pairOf = (c: Pair): Pair => ({ target: c.target, model: c.model });

/** The other call of a hedged pair, as an outcome. */
export function otherCall(r: HedgeReport): Outcome {
  const pair = { target: r.target, model: r.model };
  const durationMs = Math.round(r.durationMs);
  if (r.outcome === 'Hedged') return { kind: 'hedged', pair, durationMs };
  return {
    kind: 'failed',
    pair,
    failure: { type: r.outcome, message: r.error ?? r.outcome, retries: 0, chunks: 0, partialText: '' },
    durationMs,
  };
}

/**
 * The outcomes of a call of `input` that answered `result`: the answer, after the other call of a
 * hedged pair when there was one. `elapsedMs` is the attempt's duration on the workflow clock; an
 * answer published early (`answeredAt`) counts from the attempt's start to that instant instead,
 * the figure its client was told.
 */
export function answeredOutcomes(input: ProviderCallInput, result: ProviderCallResult, startedAt: number, elapsedMs: number): Outcome[] {
  const { hedge, ...answer } = result;
  const durationMs = answer.answeredAt !== undefined ? Math.max(0, answer.answeredAt - startedAt) : elapsedMs;
  const mine = pairOf(input);
  const winner =
    hedge && input.hedge && answer.target === input.hedge.target && answer.model === input.hedge.model ? pairOf(input.hedge) : mine;
  const ok: Outcome = { kind: 'answered', pair: winner, answer, durationMs };
  return hedge ? [otherCall(hedge), ok] : [ok];
}

/** How an outcome reads in the attempt trace. */
export function attemptRecord(o: Outcome, hedgeDelayMs: number): Omit<Attempt, 'target' | 'model'> {
  switch (o.kind) {
    case 'answered':
      return { outcome: 'ok', durationMs: o.durationMs };
    case 'hedged':
      return {
        outcome: 'Hedged',
        error: `hedged after ${hedgeDelayMs} ms: the other call of the pair answered first, this one was aborted`,
        durationMs: o.durationMs,
      };
    default:
      return { outcome: o.failure.type, error: o.failure.message, retries: o.failure.retries, durationMs: o.durationMs };
  }
}

/** The request's response: the answer and the whole trace (and the sources of a RAG request). */
export function responseOf(id: string, answer: ProviderCallResult, trace: Trace, sources?: string[]): AiResponse {
  return {
    id,
    model: answer.model,
    target: answer.target,
    message: answer.message,
    finishReason: answer.finishReason,
    usage: answer.usage,
    ...trace.details(),
    ...(sources ? { sources } : {}),
  };
}

/**
 * The response a call with `input.answerTo` publishes the moment its provider answered: what the
 * workflow will record once the call's result reaches it (the trace so far, this call's outcomes,
 * the answer). `result.answeredAt` must be set.
 */
export function earlyResponse(input: ProviderCallInput & { answerTo: AnswerContext }, result: ProviderCallResult): AiResponse {
  const ctx = input.answerTo;
  const trace = Trace.from(ctx.trace);
  const outcomes = answeredOutcomes(input, result, ctx.startedAt, 0);
  for (const o of outcomes) trace.record(o.pair, attemptRecord(o, input.hedge?.afterMs ?? 0));
  const won = outcomes[outcomes.length - 1] as Extract<Outcome, { kind: 'answered' }>;
  return responseOf(input.jobId, won.answer, trace, ctx.sources);
}
