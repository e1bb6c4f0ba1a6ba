/** Reads a provider failure out of whatever Temporal handed the workflow. Pure. */
import { ActivityFailure, ApplicationFailure, isCancellation, TimeoutFailure } from '@temporalio/workflow';
import { FailureType } from '../contracts/failures';
import type { HedgeReport, ProviderFailureDetails } from '../contracts/routing';

/** The parts of a failed provider call the attempt trace keeps. */
export interface FailureSummary {
  type: string;
  message: string;
  retries: number;
  /** Streaming: chunks that reached the client before the failure, and their text. */
  chunks: number;
  partialText: string;
}

/** Classifies an error thrown by a provider activity, matching on `type`, not class identity. */
export function summarizeFailure(err: unknown): FailureSummary {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    const details = cause.details?.[0] as ProviderFailureDetails | undefined;
    return {
      type: cause.type ?? 'Error',
      message: cause.message,
      retries: Math.max(0, (details?.attempt ?? 1) - 1),
      chunks: details?.chunks ?? 0,
      partialText: details?.partialText ?? '',
    };
  }
  if (cause instanceof TimeoutFailure) {
    // A stream that checkpoints its delivered text in heartbeats tells exactly what the client has.
    const beat = cause.lastHeartbeatDetails as { chunks?: number; partialText?: unknown } | undefined;
    const partialText = typeof beat?.partialText === 'string' ? beat.partialText : '';
    const message = `no answer within the ${cause.timeoutType === 'HEARTBEAT' ? 'heartbeat' : 'call'} timeout`;
    return { type: FailureType.Timeout, message, retries: 0, chunks: beat?.chunks ?? 0, partialText };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type: 'Error', message, retries: 0, chunks: 0, partialText: '' };
}

/** The other call of a hedged pair that failed on both sides, if `err` carries one. */
export function hedgeReportOf(err: unknown): HedgeReport | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? (cause.details?.[0] as ProviderFailureDetails | undefined)?.hedge : undefined;
}

/**
 * Who cancelled, when `err` is a cancellation: the client when the workflow itself was asked to
 * cancel; otherwise the worker (core cancels a local activity when it evicts the run from its
 * cache), which is an infrastructure fault of that try, not the client's wish.
 */
export function cancelledBy(err: unknown, workflowCancelled: boolean): 'client' | 'worker' | undefined {
  if (!isCancellation(err)) return undefined;
  return workflowCancelled ? 'client' : 'worker';
}
