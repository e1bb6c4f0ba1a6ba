/**
 * Stable failure types and the one table that says what each means. Adapters throw Temporal
 * ApplicationFailures with these `type`s; across Temporal we match on the type string, never on
 * class identity. Every list elsewhere in the code (non-retryable types, request faults, what the
 * breaker ignores) is derived from {@link FAILURE_TABLE}. What a client is told (HTTP status and
 * stable code) stays in api/outcome.ts with the error catalogue in contracts/errors.ts.
 */
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
  /** 401/403: this target's credentials are wrong; another target may still serve. */
  Auth: 'ProviderAuth',
  /** 404: the model or route is missing on this target. */
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

/** What one failure type means for retries, failover and the breaker. */
export interface FailureTraits {
  /** Retry the same target (under the bounded retry policy). */
  retryable: boolean;
  /** Counts as a failure in the target's breaker window. */
  countsForBreaker: boolean;
  /** The request itself is at fault: end the request, no failover. */
  requestFault: boolean;
}

/** The one table. */
export const FAILURE_TABLE: Readonly<Record<FailureTypeName, FailureTraits>> = {
  ProviderUnavailable: { retryable: false, countsForBreaker: true, requestFault: false },
  ProviderTimeout: { retryable: false, countsForBreaker: true, requestFault: false },
  ProviderServerError: { retryable: true, countsForBreaker: true, requestFault: false },
  ProviderRateLimited: { retryable: true, countsForBreaker: false, requestFault: false },
  ProviderBadRequest: { retryable: false, countsForBreaker: false, requestFault: true },
  ProviderAuth: { retryable: false, countsForBreaker: true, requestFault: false },
  ProviderNotFound: { retryable: false, countsForBreaker: true, requestFault: false },
  ProviderContentPolicy: { retryable: false, countsForBreaker: false, requestFault: true },
  ProviderMalformed: { retryable: true, countsForBreaker: true, requestFault: false },
  ProviderStalled: { retryable: false, countsForBreaker: true, requestFault: false },
  ProviderBadAnswer: { retryable: false, countsForBreaker: true, requestFault: false },
};

const ALL = Object.entries(FAILURE_TABLE) as Array<[FailureTypeName, FailureTraits]>;

/** Failure types that no retry of the same target can fix. */
export const NON_RETRYABLE_FAILURES: readonly string[] = ALL.filter(([, t]) => !t.retryable).map(([k]) => k);

/** Failure types that end the request at once: the request, not the target, is at fault. */
export const REQUEST_FAULTS: readonly string[] = ALL.filter(([, t]) => t.requestFault).map(([k]) => k);

/** Outcomes that say nothing about a target's health (the breaker ignores them). */
export const BREAKER_IGNORED: readonly string[] = ['cancelled', ...ALL.filter(([, t]) => !t.countsForBreaker).map(([k]) => k)];

/** Workflow-level failure types. */
export const GatewayFailure = {
  /** Every candidate failed; details carry the whole attempt trace. */
  Exhausted: 'AllTargetsFailed',
  /** No configured target can serve the request's model. */
  NoCandidate: 'NoCandidate',
  /** RAG fell back to keyword search but the request forbids degradation. */
  DataDegradationRefused: 'DataDegradationRefused',
} as const;
