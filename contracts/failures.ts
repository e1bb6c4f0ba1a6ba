/**
 * Stable failure types. Adapters throw Temporal ApplicationFailures with these `type`s; across
 * Temporal we match on the type string, never on class identity.
 */
export const FailureType = {
  /** Connection refused or reset, DNS failure: fail over at once, retrying the same target wastes time. */
  Unavailable: 'ProviderUnavailable',
  /** The call took longer than its timeout. Retryable. */
  Timeout: 'ProviderTimeout',
  /** 5xx from the provider. Retryable. */
  ServerError: 'ProviderServerError',
  /** 429. Retried after Retry-After when that is short, else the target is skipped. */
  RateLimited: 'ProviderRateLimited',
  /** 400: the request itself is wrong; no other target will accept it either. */
  BadRequest: 'ProviderBadRequest',
  /** 401/403: this target's credentials are wrong; another target may still serve. */
  Auth: 'ProviderAuth',
  /** 404: the model or route is missing on this target. */
  NotFound: 'ProviderNotFound',
  /** The provider refused the content. Not retried, not failed over. */
  ContentPolicy: 'ProviderContentPolicy',
  /** The answer could not be parsed (e.g. a malformed stream). */
  Malformed: 'ProviderMalformed',
  /** The stream stopped producing data. */
  Stalled: 'ProviderStalled',
} as const;
export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Failure types that no retry of the same target can fix. */
export const NON_RETRYABLE_FAILURES: readonly string[] = [
  FailureType.Unavailable,
  FailureType.BadRequest,
  FailureType.Auth,
  FailureType.NotFound,
  FailureType.ContentPolicy,
];

/** Failure types that end the request at once: the request, not the target, is at fault. */
export const REQUEST_FAULTS: readonly string[] = [FailureType.BadRequest, FailureType.ContentPolicy];

/** Workflow-level failure types. */
export const GatewayFailure = {
  /** Every candidate failed; details carry the whole attempt trace. */
  Exhausted: 'AllTargetsFailed',
  /** No configured target can serve the request's model. */
  NoCandidate: 'NoCandidate',
  /** RAG fell back to keyword search but the request forbids degradation. */
  DataDegradationRefused: 'DataDegradationRefused',
} as const;
