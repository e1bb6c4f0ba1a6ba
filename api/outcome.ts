/** How a failed request workflow is told to an HTTP client: status, stable code, message, trace. */
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure, TerminatedFailure } from '@temporalio/common';
import { ErrorCode, type ErrorCodeName } from '../contracts/errors';
import { FailureType, GatewayFailure } from '../contracts/failures';
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
}

/** Attempt outcomes that mean "nobody could take the call", as opposed to "it went wrong there". */
const UNREACHABLE = new Set<string>([FailureType.Unavailable, FailureType.RateLimited]);

/**
 * Maps a workflow failure. All targets failed: 503 when none was reachable (or all were busy),
 * else 502. The request's own fault (provider 400, content policy): 400. Cancelled: 499.
 */
export function failedOutcome(err: unknown): FailedOutcome {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  const { error, details } = failureView(err);
  const attempts = details.attempts ?? [];
  const base = { type: error.type, message: error.message, attempts, degradations: details.degradations ?? [] };
  if (cause instanceof CancelledFailure) return { ...base, status: 499, code: ErrorCode.Cancelled, message: 'the request was cancelled' };
  if (cause instanceof TerminatedFailure) return { ...base, status: 503, code: ErrorCode.Unavailable, message: 'the request was terminated by an operator' };
  switch (error.type) {
    case GatewayFailure.Exhausted: {
      const unreachable = attempts.length > 0 && attempts.every((a) => UNREACHABLE.has(a.outcome));
      return { ...base, status: unreachable ? 503 : 502, code: ErrorCode.AllTargetsFailed };
    }
    case GatewayFailure.NoCandidate:
      return { ...base, status: 503, code: ErrorCode.NoTargetAvailable };
    case 'RagCollectionNotFound':
      return { ...base, status: 404, code: ErrorCode.CollectionNotFound };
    case GatewayFailure.DataDegradationRefused:
      return { ...base, status: 503, code: ErrorCode.Unavailable };
    case FailureType.BadRequest:
      return { ...base, status: 400, code: ErrorCode.ProviderRejected };
    case FailureType.ContentPolicy:
      return { ...base, status: 400, code: ErrorCode.ContentFiltered };
    default:
      return { ...base, status: 502, code: ErrorCode.AllTargetsFailed };
  }
}
