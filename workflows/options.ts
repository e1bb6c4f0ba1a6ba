/**
 * Activity option presets, named once. Every number comes from the config's call policy
 * (read into the routing snapshot) so operators tune them without a code change.
 */
import type { ActivityOptions, LocalActivityOptions, RetryPolicy } from '@temporalio/workflow';
import type { CallPolicy } from '../contracts/routing';
import { FailureType, NON_RETRYABLE_FAILURES } from '../contracts/failures';

/** Temporal's own timeout sits this far above the activity's time limit. */
const BACKSTOP_MS = 5_000;

/**
 * Why: a local activity's retry backoff longer than this is a durable workflow timer instead of a
 * wait in the worker's memory. A workflow-cache eviction cancels a local activity waiting in memory
 * ("Local Activity cancelled"), and with SDK 1.24 a run evicted then can loop on its replays; a
 * timer survives any eviction, so no retry depends on the cache. The price: a workflow task per
 * retry and, on the dev server, about 1 s per timer however short (50 and 100 ms backoffs fired
 * after ~960 ms). The SDK default (1 minute) kept every backoff in memory. 0 behaved the same as
 * 1 ms in our runs; 1 ms leaves only a zero backoff (Retry-After: 0) in memory.
 */
export const LOCAL_RETRY_THRESHOLD_MS = 1;

// #region guide:retry-policy
/**
 * Short, bounded retries of one target for transient faults; the rest is failover's job.
 * `attempts` caps them (1: no retry).
 */
export function providerRetry(policy: CallPolicy, attempts = policy.retry.maxAttempts): RetryPolicy {
  return {
    maximumAttempts: Math.min(attempts, policy.retry.maxAttempts),
    initialInterval: policy.retry.initialIntervalMs,
    backoffCoefficient: policy.retry.backoffCoefficient,
    maximumInterval: policy.retry.maxIntervalMs,
    nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES],
  };
}

/**
 * Why: a same-target retry waits a backoff (a durable timer: about 1 s on the dev server however
 * short) on a target that just failed, while failing over asks a healthy one now. So a buffered
 * call retries its target only when it is the last candidate left.
 */
export function sameTargetAttempts(policy: CallPolicy, othersLeft: boolean): number {
  return othersLeft ? 1 : policy.retry.maxAttempts;
}

/**
 * A short non-streaming provider call: a local activity, because it saves the activity task
 * round trips (tens of ms here) and its result is still recorded in history before it is used.
 */
export function fastCall(policy: CallPolicy, summary: string, attempts = policy.retry.maxAttempts): LocalActivityOptions {
  // Wait for the cancel to reach the activity, so a cancelled job really aborts its HTTP call.
  // The activity enforces its own time limit (reported as a ProviderTimeout); Temporal's timeout
  // is a backstop above it.
  return {
    startToCloseTimeout: policy.callMs + BACKSTOP_MS,
    retry: providerRetry(policy, attempts),
    localRetryThreshold: LOCAL_RETRY_THRESHOLD_MS,
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    summary,
  };
}
// #endregion guide:retry-policy

/**
 * A long non-streaming provider call (see CallPolicy.localCallMaxMs): a regular activity that
 * heartbeats, so a dead worker is noticed after `heartbeatMs` and cancellation reaches the HTTP
 * call; it holds no workflow task, so no task timeout can repeat it.
 */
export function slowCall(policy: CallPolicy, summary: string, attempts = policy.retry.maxAttempts): ActivityOptions {
  return {
    startToCloseTimeout: policy.callMs + BACKSTOP_MS,
    heartbeatTimeout: policy.heartbeatMs,
    retry: providerRetry(policy, attempts),
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    summary,
  };
}

/** Whether a buffered call whose target answers in about `expectedMs` runs as a local activity. */
export function runsLocally(policy: CallPolicy, expectedMs: number | undefined): boolean {
  return policy.localCallMaxMs === undefined || expectedMs === undefined || expectedMs <= policy.localCallMaxMs;
}

/**
 * A streaming call: a regular activity that heartbeats per chunk, so a dead worker or a stalled
 * stream is noticed after `heartbeatMs`, and cancellation reaches the HTTP call. Its one retry
 * resumes a stream whose worker died; with another candidate left (`othersLeft`), a provider's
 * own failure (a 5xx, a 429, a malformed stream) is not retried on the same target, after a
 * backoff of about a second: the next candidate is asked at once, as for a buffered call.
 */
export function streamCall(policy: CallPolicy, summary: string, othersLeft = false): ActivityOptions {
  const retry = providerRetry(policy);
  return {
    startToCloseTimeout: policy.streamMs,
    heartbeatTimeout: policy.heartbeatMs,
    retry: {
      ...retry,
      maximumAttempts: Math.min(2, policy.retry.maxAttempts),
      ...(othersLeft ? { nonRetryableErrorTypes: [...new Set([...retry.nonRetryableErrorTypes!, ...Object.values(FailureType)])] } : {}),
    },
    cancellationType: 'TRY_CANCEL',
    summary,
  };
}

/** Reading the routing snapshot: in-memory in the worker, so a tight timeout and a few quick retries. */
export const SNAPSHOT_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '5s',
  retry: { maximumAttempts: 5, initialInterval: '50ms', maximumInterval: '1s' },
  localRetryThreshold: LOCAL_RETRY_THRESHOLD_MS,
  summary: 'read routing snapshot',
};

/**
 * Retrieval: a local activity (short I/O in the worker). The vector → keyword fallback happens
 * inside it within `vectorBudgetMs`, so Temporal retries only cover a keyword-index failure.
 */
export function retrievalCall(vectorBudgetMs: number): LocalActivityOptions {
  return {
    startToCloseTimeout: vectorBudgetMs + 3_000,
    retry: { maximumAttempts: 2, initialInterval: '100ms', nonRetryableErrorTypes: [...NON_RETRYABLE_FAILURES] },
    localRetryThreshold: LOCAL_RETRY_THRESHOLD_MS,
    summary: 'retrieve passages (vector, else keyword)',
  };
}
