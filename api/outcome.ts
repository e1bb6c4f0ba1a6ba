/** How a failed request workflow is told to an HTTP client: status, stable code, message, trace. */
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure, TerminatedFailure } from '@temporalio/common';
import { ErrorCode, type ErrorCodeName } from '../contracts/errors';
import { FAILURE_TABLE, failureTraits, GatewayFailure, UNREACHABLE_FAILURES } from '../contracts/failures';
import type { Attempt, Degradation } from '../contracts/response';
import { failureView } from './job-view';

/** A failed request, ready to send. */
export interface FailedOutcome {
  status: number;
  code: ErrorCodeName;
  message: string;
  /** The failure type (e.g. AllTargetsFailed, ProviderBadRequest). */
  type: string;
  attempts: Attempt[];
  degradations: Degradation[];
  /** The request's failovers (0 for failures that carry no count). */
  failovers: number;
}

/**
 * Maps a workflow failure through the failure table (contracts/failures.ts). All targets failed:
 * 503 when none was reachable (or all were busy), else 502. Cancelled: 499. A type the table does
 * not know is reported like all targets failing.
 */
export function failedOutcome(err: unknown): FailedOutcome {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  const { error, details } = failureView(err);
  const attempts = details.attempts ?? [];
  const base = {
    type: error.type,
    message: error.message,
    attempts,
    degradations: details.degradations ?? [],
    failovers: details.failovers ?? 0,
  };
  if (cause instanceof CancelledFailure) {
    const t = FAILURE_TABLE[GatewayFailure.Cancelled];
    return { ...base, status: t.httpStatus, code: t.code, message: 'the request was cancelled' };
  }
  if (cause instanceof TerminatedFailure)
    return { ...base, status: 503, code: ErrorCode.Unavailable, message: 'the request was terminated by an operator' };
  const traits = failureTraits(error.type) ?? FAILURE_TABLE[GatewayFailure.Exhausted];
  const unreachable =
    error.type === GatewayFailure.Exhausted && attempts.length > 0 && attempts.every((a) => UNREACHABLE_FAILURES.includes(a.outcome));
  return { ...base, status: unreachable ? 503 : traits.httpStatus, code: traits.code };
}
