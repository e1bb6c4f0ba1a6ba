/**
 * One attempt: one call of one candidate in one mode (plus, for a hedged buffered call, the
 * second call the worker starts beside it), as tagged outcomes. Decides nothing about what comes
 * next; the request workflow does.
 */
import { CancellationScope, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type * as activities from '../activities/types';
import { FailureType, GatewayFailure } from '../contracts/failures';
import type { AiRequest } from '../contracts/request';
import type { AnswerContext, CallPolicy, ProviderCallInput, ProviderCallResult } from '../contracts/routing';
import { cancelledBy, hedgeReportOf, summarizeFailure } from './failure';
import { fastCall, runsLocally, sameTargetAttempts, slowCall, streamCall } from './options';
import { answeredOutcomes, otherCall, type Outcome } from './outcome';
import type { Mode, PlannedCandidate } from './plan';

type Pair = { target: string; model: string };

export type { Outcome };

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
  /** Publish the response to the waiting client as soon as the provider answered (no cut stream before). */
  answerTo?: Omit<AnswerContext, 'startedAt'>;
  /** Another candidate is left after this one (then no call retries its target for the provider's own failure). */
  othersLeft?: boolean;
  /** How long the target's calls take (observed), when known: decides local or regular activity. */
  expectedMs?: number;
}

const pairOf = (c: Pair): Pair => ({ target: c.target, model: c.model });

function callInput(a: AttemptInput, startedAt: number): ProviderCallInput {
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
    ...(limits.hedge && a.mode === 'buffered'
      ? { slowAfterMs: limits.hedge.afterMs, hedge: { ...limits.hedge.with, afterMs: limits.hedge.afterMs } }
      : {}),
    ...(a.answerTo ? { answerTo: { ...a.answerTo, startedAt } } : {}),
  };
}

function call(a: AttemptInput, input: ProviderCallInput): Promise<ProviderCallResult> {
  if (a.mode === 'stream') {
    const { streamProvider } = proxyActivities<activities.ProviderActivities>(streamCall(a.policy, a.summary, a.othersLeft === true));
    return streamProvider(input);
  }
  const summary = input.hedge
    ? `${a.summary}, hedged by ${input.hedge.target} (${input.hedge.model}) after ${input.hedge.afterMs} ms`
    : a.summary;
  const attempts = sameTargetAttempts(a.policy, a.othersLeft === true);
  if (runsLocally(a.policy, a.expectedMs)) {
    const { callProvider } = proxyLocalActivities<activities.ProviderActivities>(fastCall(a.policy, summary, attempts));
    return callProvider(input);
  }
  const { callProvider } = proxyActivities<activities.ProviderActivities>(slowCall(a.policy, summary, attempts));
  return callProvider(input);
}

/**
 * Runs one attempt. Outcomes in order: one, or two when a hedge was started (the loser or the
 * failed other call first, the answer, if any, last). Only the client's cancellation propagates.
 */
export async function attempt(a: AttemptInput): Promise<Outcome[]> {
  const startedAt = Date.now(); // the workflow clock: deterministic on replay
  const mine = pairOf(a.candidate);
  const input = callInput(a, startedAt);
  try {
    const result = await call(a, input);
    return answeredOutcomes(input, result, startedAt, Date.now() - startedAt);
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
