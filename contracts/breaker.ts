/**
 * Breaker workflow contract: settings, the signals workers and operators send, and what the
 * breaker publishes (its memo) for every worker's router. Pure; shared by workflows and clients.
 */
import type { BreakerState } from './routing';

/** Circuit-breaker settings of one target (all durations in ms). */
export interface BreakerSettings {
  /** Sliding time window over which rates are computed. */
  windowMs: number;
  /** Window resolution: outcomes are counted in buckets this long. */
  bucketMs: number;
  /** Calls needed in the window before the rate rules may trip. */
  minCalls: number;
  /** Failure share (0..1) that trips the breaker. */
  errorRateThreshold: number;
  /** A call slower than this counts as slow. */
  slowCallMs: number;
  /** Slow-call share (0..1) that trips the breaker. */
  slowCallRateThreshold: number;
  /**
   * A short window beside `windowMs`, so a new fault is not diluted by minutes of healthy history
   * (issue 11). Bucketed at min(bucketMs, fastWindowMs / 10). Its error and slow-call rates trip
   * with the same thresholds once it holds `minCalls`, compared by their 99% lower confidence
   * bound (Wilson, z = 2.58), so chance bursts in a small sample do not trip a healthy target.
   *
   * Bound, with n ≥ minCalls calls per fastWindowMs and F the worker flush interval:
   * - a fault that slows (or fails) every call trips within fastWindowMs + fastWindowMs / 10 + F,
   *   provided n / (n + 6.66) ≥ the threshold (n = 10 covers thresholds up to 0.6). A slow call
   *   counts slowCallMs after it starts (its in-flight notice). At the defaults and 40 req/s a
   *   brownout trips 6 s after calls turn slow. (Failing every call trips sooner, by the
   *   consecutive rule, at the first flush.)
   * - a fault failing a share r of the calls trips within the same time once
   *   r − 2.58·√(r(1−r)/n) ≳ the threshold: at the defaults 40% errors need ≥ 16 req/s (tripped
   *   after 9–10 s at 40 req/s), 50% ≥ 4.5 req/s. Below that, `windowMs` trips it as before.
   * Settings without it (recorded before it existed) keep the old rules: no fast window, and
   * batches' run fields ignored, so old histories replay. 0 turns the fast window off.
   */
  fastWindowMs?: number;
  /**
   * This many failures in a row trip at once, whatever the window says: runs inside a batch
   * (`maxFailureRun`) and runs across batches (`trailingFailures` then `leadingFailures`) count.
   */
  consecutiveFailures: number;
  /** First open period; doubles on each re-trip from half-open, up to maxCooldownMs. */
  cooldownMs: number;
  maxCooldownMs: number;
  /** Successful trial calls (or one passing probe) needed in half-open to close. */
  halfOpenTrials: number;
  /** Run active health probes at all. */
  probes: boolean;
  /** Probe period while closed, and while open or half-open. */
  probeIntervalMs: number;
  probeOpenIntervalMs: number;
  /** Continue-as-new once history has this many events. */
  continueAsNewAfterEvents: number;
}

/** Default of `BreakerSettings.fastWindowMs` (also given to breakers started before it existed, from their next run). */
export const DEFAULT_FAST_WINDOW_MS = 10_000;

/** Outcomes of one target seen by one worker during one flush interval. */
export interface OutcomeBatch {
  worker: string;
  /** Epoch ms of the first and last outcome in the batch. */
  from: number;
  to: number;
  calls: number;
  failures: number;
  slow: number;
  /** Failures in a row at the end of the batch (0 if the last call succeeded). */
  trailingFailures: number;
  /** Failures in a row at the start of the batch (absent from older workers: then unknown). */
  leadingFailures?: number;
  /** The longest run of failures in a row inside the batch (absent from older workers: then unknown). */
  maxFailureRun?: number;
  /** Failure counts by type, for the operator's eyes. */
  byType: Record<string, number>;
  /** Sum of call durations in ms (for the mean). */
  totalMs: number;
}

/** One probe result. */
export interface ProbeResult {
  at: number;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/** Operator override. */
export type BreakerAction = 'open' | 'close' | 'reset';

/** What the breaker publishes in its memo (and answers to the state query). */
export interface BreakerPublished {
  target: string;
  state: BreakerState;
  /** Set while an operator override holds the state. */
  forced?: 'open' | 'close';
  since: number;
  /** When an open breaker moves to half-open. */
  retryAt?: number;
  trips: number;
  window: { calls: number; failures: number; slow: number; errorRate: number; slowRate: number; meanMs: number };
  consecutiveFailures: number;
  probe: { healthy: boolean; lastAt?: number; lastError?: string; latencyEwmaMs?: number; p50Ms?: number; p95Ms?: number };
  /** Recent transitions, newest last (bounded). */
  transitions: Array<{ at: number; from: BreakerState; to: BreakerState; reason: string }>;
}

/** Input of the breaker workflow; `carry` is the state handed over by continue-as-new. */
export interface BreakerWorkflowInput {
  target: string;
  settings: BreakerSettings;
  carry?: unknown;
}

export const BREAKER_WORKFLOW = 'breakerWorkflow';
export const OUTCOMES_SIGNAL = 'outcomes';
export const OVERRIDE_SIGNAL = 'override';
export const BREAKER_STATE_QUERY = 'breakerState';
export const BREAKER_MEMO_KEY = 'breaker';

/** Fixed workflow id of a target's breaker. */
export function breakerWorkflowId(target: string): string {
  return `breaker-${target}`;
}
