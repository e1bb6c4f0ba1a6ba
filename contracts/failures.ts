/**
 * Stable failure types and the one table that says what each means: whether the same target is
 * retried, whether the target's breaker counts it, whether the request itself is at fault, and what
 * a client is told when it ends a request (HTTP status and stable code). Adapters and workflows
 * throw Temporal ApplicationFailures with these `type`s; across Temporal we match on the type
 * string, never on class identity. Every list elsewhere in the code (retry policies, request
 * faults, what the breaker ignores, the API's status mapping) is derived from {@link FAILURE_TABLE}.
 */
import { ErrorCode, type ErrorCodeName } from './errors';
import { RagFailure } from './rag-failure';

/** What one provider call can fail with. */
export const FailureType = {
  /** Connection refused or reset, DNS failure: fail over at once, retrying the same target wastes time. */
  Unavailable: 'ProviderUnavailable',
  /** The call took longer than its timeout: fail over at once (the same target is still slow). */
  Timeout: 'ProviderTimeout',
  /** 5xx from the provider. Retryable. */
  ServerError: 'ProviderServerError',
  /** 429. Retried after a short Retry-After, else the target is skipped. */
  RateLimited: 'ProviderRateLimited',
  /** 400: the request itself is wrong; no other target will accept it either. */
  BadRequest: 'ProviderBadRequest',
  /**
   * 400 "prompt too long for this model's context window": not the target's fault and not the
   * request's either; a model with a larger window may serve it (the workflow tries only those).
   */
  ContextLength: 'ProviderContextLength',
  /** 401/403: this target's credentials are wrong; another target may still serve. */
  Auth: 'ProviderAuth',
  /** 404, or a 400 naming an unknown model: the model or route is missing on this target. */
  NotFound: 'ProviderNotFound',
  /** The provider refused the content. Not retried, not failed over. */
  ContentPolicy: 'ProviderContentPolicy',
  /** The answer could not be parsed (e.g. a malformed stream). */
  Malformed: 'ProviderMalformed',
  /** The stream stopped producing data: fail over at once, like a timeout. */
  Stalled: 'ProviderStalled',
  /**
   * A 200 that answers nothing usable (empty without tool calls, invalid JSON where JSON was
   * asked): the provider is up but useless. Fail over, and count it against the target.
   */
  BadAnswer: 'ProviderBadAnswer',
} as const;
export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Workflow-level failure types (a request's end, or an attempt outcome the workflow decides). */
export const GatewayFailure = {
  /** Every candidate failed; details carry the whole attempt trace. */
  Exhausted: 'AllTargetsFailed',
  /** No configured target can serve the request's model. */
  NoCandidate: 'NoCandidate',
  /** RAG fell back to keyword search but the request forbids degradation. */
  DataDegradationRefused: 'DataDegradationRefused',
  /** A call asked to continue a cut stream was answered with a 400: the next candidate is asked instead. */
  ContinuationRefused: 'ContinuationRefused',
  /**
   * A try cancelled by the worker (e.g. a workflow-cache eviction), not by the client: an
   * infrastructure fault of that try, retried once, then failed over.
   */
  Interrupted: 'AttemptInterrupted',
  /** The client cancelled the request. */
  Cancelled: 'Cancelled',
} as const;
export type GatewayFailureName = (typeof GatewayFailure)[keyof typeof GatewayFailure];

type RagFailureName = (typeof RagFailure)[keyof typeof RagFailure];

/** Every failure type the table knows. */
export type AnyFailureName = FailureTypeName | GatewayFailureName | RagFailureName;

/** What one failure type means. */
export interface FailureTraits {
  /** Retry the same target (under the bounded retry policy). */
  retryable: boolean;
  /** Counts as a failure in the target's breaker window. */
  countsForBreaker: boolean;
  /**
   * One model of a target can cause it while the target's other models work: it counts in that
   * model's breaker instead of the target's (workflows/breaker-models.ts).
   */
  modelScoped: boolean;
  /** The request itself is at fault: end the request, no failover. */
  requestFault: boolean;
  /** Nobody could take the call (down or busy), as opposed to "it went wrong there". */
  unreachable: boolean;
  /**
   * May be a fault of the streaming path alone (a broken or malformed stream): the same target may
   * still answer buffered. Down, silent, limited or refusing targets are not asked again in any mode.
   */
  streamingFault: boolean;
  /** HTTP status a client gets when this failure ends its request. */
  httpStatus: number;
  /** Stable error code a client gets when this failure ends its request. */
  code: ErrorCodeName;
}

const provider = (t: Partial<FailureTraits> & Pick<FailureTraits, 'retryable' | 'countsForBreaker'>): FailureTraits => ({
  modelScoped: false,
  requestFault: false,
  unreachable: false,
  streamingFault: false,
  // A provider failure that is not the request's fault never ends a request on its own: the
  // request ends as AllTargetsFailed. These are what a client would see if one ever did.
  httpStatus: 502,
  code: ErrorCode.AllTargetsFailed,
  ...t,
});
const gateway = (httpStatus: number, code: ErrorCodeName, t: Partial<FailureTraits> = {}): FailureTraits => ({
  retryable: false,
  countsForBreaker: false,
  modelScoped: false,
  requestFault: false,
  unreachable: false,
  streamingFault: false,
  httpStatus,
  code,
  ...t,
});

// #region guide:failure-table
/** The one table. */
export const FAILURE_TABLE: Readonly<Record<AnyFailureName, FailureTraits>> = {
  ProviderUnavailable: provider({ retryable: false, countsForBreaker: true, unreachable: true }),
  ProviderTimeout: provider({ retryable: false, countsForBreaker: true }),
  ProviderServerError: provider({ retryable: true, countsForBreaker: true, modelScoped: true, streamingFault: true }),
  ProviderRateLimited: provider({ retryable: true, countsForBreaker: false, unreachable: true }),
  ProviderBadRequest: provider({
    retryable: false,
    countsForBreaker: false,
    requestFault: true,
    httpStatus: 400,
    code: ErrorCode.ProviderRejected,
  }),
  ProviderContextLength: provider({ retryable: false, countsForBreaker: false, httpStatus: 400, code: ErrorCode.ContextLengthExceeded }),
  ProviderAuth: provider({ retryable: false, countsForBreaker: true }),
  ProviderNotFound: provider({ retryable: false, countsForBreaker: true, modelScoped: true }),
  ProviderContentPolicy: provider({
    retryable: false,
    countsForBreaker: false,
    requestFault: true,
    httpStatus: 400,
    code: ErrorCode.ContentFiltered,
  }),
  ProviderMalformed: provider({ retryable: true, countsForBreaker: true, modelScoped: true, streamingFault: true }),
  ProviderStalled: provider({ retryable: false, countsForBreaker: true }),
  ProviderBadAnswer: provider({ retryable: false, countsForBreaker: true, modelScoped: true }),
  // 503 instead when every attempt was unreachable (api/outcome.ts).
  AllTargetsFailed: gateway(502, ErrorCode.AllTargetsFailed),
  NoCandidate: gateway(503, ErrorCode.NoTargetAvailable),
  DataDegradationRefused: gateway(503, ErrorCode.Unavailable),
  ContinuationRefused: gateway(502, ErrorCode.AllTargetsFailed),
  AttemptInterrupted: gateway(503, ErrorCode.Unavailable, { retryable: true }),
  Cancelled: gateway(499, ErrorCode.Cancelled),
  RagCollectionNotFound: gateway(404, ErrorCode.CollectionNotFound),
  RagUnavailable: gateway(503, ErrorCode.Unavailable, { retryable: true }),
  RagInvalidIngest: gateway(400, ErrorCode.InvalidRequest),
};
// #endregion guide:failure-table

/** The traits of `type`, or undefined for a type the table does not know. */
export function failureTraits(type: string): FailureTraits | undefined {
  return Object.prototype.hasOwnProperty.call(FAILURE_TABLE, type) ? FAILURE_TABLE[type as AnyFailureName] : undefined;
}

const ALL = Object.entries(FAILURE_TABLE) as Array<[AnyFailureName, FailureTraits]>;
const typesWhere = (f: (t: FailureTraits) => boolean): readonly string[] => ALL.filter(([, t]) => f(t)).map(([k]) => k);

/** Failure types that no retry of the same target can fix (every retry policy's non-retryable list). */
export const NON_RETRYABLE_FAILURES: readonly string[] = typesWhere((t) => !t.retryable);

/** Failure types that end the request at once: the request, not the target, is at fault. */
export const REQUEST_FAULTS: readonly string[] = typesWhere((t) => t.requestFault);

/** Outcomes that say nothing about a target's health (the breaker ignores them). */
export const BREAKER_IGNORED: readonly string[] = ['cancelled', ...typesWhere((t) => !t.countsForBreaker)];

/** Failures that count in one model's breaker, not the target's (5xx, model not found, useless or malformed answers). */
export const MODEL_SCOPED_FAILURES: readonly string[] = typesWhere((t) => t.countsForBreaker && t.modelScoped);

/** Attempt outcomes that mean "nobody could take the call". */
export const UNREACHABLE_FAILURES: readonly string[] = typesWhere((t) => t.unreachable);

/** Stream failures before the first token after which the same target may be asked buffered. */
export const STREAMING_FAULTS: readonly string[] = typesWhere((t) => t.streamingFault);
