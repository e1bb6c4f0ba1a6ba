/**
 * One attempt: one call of one candidate in one mode (plus, for a hedged buffered call, the
 * second call the worker starts beside it), as tagged outcomes. Decides nothing about what comes
 * next; the request workflow does.
 */
import { CancellationScope, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type * as activities from '../activities/types';
import { FailureType, GatewayFailure } from '../contracts/failures';
import type { AiRequest } from '../contracts/request';
import type { CallPolicy, HedgeReport, ProviderCallInput, ProviderCallResult } from '../contracts/routing';
import { cancelledBy, hedgeReportOf, summarizeFailure, type FailureSummary } from './failure';
import { fastCall, streamCall } from './options';
import type { Mode, PlannedCandidate } from './plan';

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

/** Limits of one try. */
export interface AttemptLimits {
  /** What is left of the request's budget, at most the call policy's limit. */
  timeoutMs?: number;
  /** Streams: give up on a first token later than this (another candidate is left). */
  firstTokenMs?: number;
  /** Buffered: call this candidate beside the first one after `afterMs`. */
  hedge?: { with: Pair; afterMs: number };
}

/** Everything one attempt needs. */
export interface AttemptInput {
  candidate: PlannedCandidate;
  mode: Mode;
  /** The request as the candidate's stage sends it. */
  request: AiRequest;
  policy: CallPolicy;
  jobId: string;
  streamTo?: string;
  /** Shown in the Web UI as the activity's summary. */
  summary: string;
  limits: AttemptLimits;
  /** The failover this attempt begins, for the worker's metrics. */
  failoverFrom?: ProviderCallInput['failoverFrom'];
  /** Continue this text, already sent to the client, instead of answering from scratch. */
  continuation?: string;
}

const pairOf = (c: Pair): Pair => ({ target: c.target, model: c.model });

function callInput(a: AttemptInput): ProviderCallInput {
  const { limits } = a;
  return {
    target: a.candidate.target,
    model: a.candidate.model,
    request: a.mode === 'stream' ? a.request : { ...a.request, stream: false },
    jobId: a.jobId,
    ...(a.streamTo !== undefined ? { streamTo: a.streamTo } : {}),
    ...(a.failoverFrom ? { failoverFrom: a.failoverFrom } : {}),
    // A last resort is never refused by a half-open target's trial budget (worker/trial-gate.ts).
    ...(a.candidate.lastResort ? { lastResort: a.candidate.lastResort } : {}),
    ...(a.continuation !== undefined ? { continuation: { text: a.continuation } } : {}),
    ...(limits.timeoutMs !== undefined ? { timeoutMs: limits.timeoutMs } : {}),
    ...(limits.firstTokenMs !== undefined && a.mode === 'stream' ? { firstTokenMs: limits.firstTokenMs } : {}),
    ...(limits.hedge && a.mode === 'buffered' ? { slowAfterMs: limits.hedge.afterMs, hedge: { ...limits.hedge.with, afterMs: limits.hedge.afterMs } } : {}),
  };
}

function call(a: AttemptInput, input: ProviderCallInput): Promise<ProviderCallResult> {
  if (a.mode === 'stream') {
    const { streamProvider } = proxyActivities<activities.ProviderActivities>(streamCall(a.policy, a.summary));
    return streamProvider(input);
  }
  const summary = input.hedge ? `${a.summary}, hedged by ${input.hedge.target} (${input.hedge.model}) after ${input.hedge.afterMs} ms` : a.summary;
  const { callProvider } = proxyLocalActivities<activities.ProviderActivities>(fastCall(a.policy, summary));
  return callProvider(input);
}

/** The other call of a hedged pair, as an outcome. */
function otherCall(r: HedgeReport): Outcome {
  const pair = { target: r.target, model: r.model };
  const durationMs = Math.round(r.durationMs);
  if (r.outcome === 'Hedged') return { kind: 'hedged', pair, durationMs };
  return { kind: 'failed', pair, failure: { type: r.outcome, message: r.error ?? r.outcome, retries: 0, chunks: 0, partialText: '' }, durationMs };
}

/**
 * Runs one attempt. Outcomes in order: one, or two when a hedge was started (the loser or the
 * failed other call first, the answer, if any, last). Only the client's cancellation propagates.
 */
export async function attempt(a: AttemptInput): Promise<Outcome[]> {
  const startedAt = Date.now(); // the workflow clock: deterministic on replay
  const mine = pairOf(a.candidate);
  const input = callInput(a);
  try {
    const { hedge, ...answer } = await call(a, input);
    const durationMs = Date.now() - startedAt;
    const winner = hedge && input.hedge && answer.target === input.hedge.target && answer.model === input.hedge.model ? pairOf(input.hedge) : mine;
    const ok: Outcome = { kind: 'answered', pair: winner, answer, durationMs };
    return hedge ? [otherCall(hedge), ok] : [ok];
  } catch (err) {
    const durationMs = Date.now() - startedAt;
    const by = cancelledBy(err, CancellationScope.current().consideredCancelled);
    if (by === 'client') throw err;
    const failure = summarizeFailure(err);
    if (by === 'worker') {
      const message = `cancelled by the worker, not the client (${failure.message})`;
      return [{ kind: 'interrupted', pair: mine, failure: { ...failure, type: GatewayFailure.Interrupted, message }, durationMs }];
    }
    const hedge = hedgeReportOf(err);
    let outcome: Outcome;
    if (a.continuation !== undefined && failure.type === FailureType.BadRequest) {
      const refusal = { ...failure, type: GatewayFailure.ContinuationRefused, message: `continuation refused: ${failure.message}` };
      outcome = { kind: 'refused', pair: mine, failure: refusal, durationMs };
    } else if (a.mode === 'stream' && failure.chunks > 0) {
      outcome = { kind: 'cut', pair: mine, failure, durationMs };
    } else {
      outcome = { kind: 'failed', pair: mine, failure, durationMs };
    }
    return hedge ? [outcome, otherCall(hedge)] : [outcome];
  }
}
