/** Reads a provider failure out of whatever Temporal handed the workflow. Pure. */
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import { FailureType } from '../contracts/failures';
import type { ProviderFailureDetails } from '../contracts/routing';

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
    return { type: cause.type ?? 'Error', message: cause.message, retries: Math.max(0, (details?.attempt ?? 1) - 1), chunks: details?.chunks ?? 0, partialText: details?.partialText ?? '' };
  }
  if (cause instanceof TimeoutFailure) {
    const beat = cause.lastHeartbeatDetails as { chunks?: number } | undefined;
    return { type: FailureType.Timeout, message: `no answer within the ${cause.timeoutType === 'HEARTBEAT' ? 'heartbeat' : 'call'} timeout`, retries: 0, chunks: beat?.chunks ?? 0, partialText: '' };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type: 'Error', message, retries: 0, chunks: 0, partialText: '' };
}
