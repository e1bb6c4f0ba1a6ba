/**
 * The rules one breaker "cell" follows: the target's own breaker, or one of its models'. Pure:
 * windows, trip reasons, runs of failures in a row, transitions and cooldowns.
 */
import {
  DEFAULT_FAST_WINDOW_MS,
  type BreakerSettings,
  type BreakerTransition,
  type FailureRuns,
  type OutcomeBatch,
} from '../contracts/breaker';
import type { BreakerState } from '../contracts/routing';
import { SlidingWindow, wilsonLowerBound, type Bucket, type WindowTotals } from './breaker-window';

/** The settings one run applies: the target's settings plus which generation of rules it follows. */
export type RunSettings = BreakerSettings & {
  /**
   * 3: the rules of workflows/breaker.ts's `breaker-models-probes-trials` patch (per-model cells,
   * half-open deadline, probe-decided half-open, publication seq). Absent: older rules.
   */
  revision?: 3;
};

/** Defaults a current run gives settings recorded before these keys existed. */
export const DEFAULT_HALF_OPEN_TIMEOUT_MS = 20_000;
export const DEFAULT_PUBLISH_INTERVAL_MS = 5_000;

/** Whether these settings apply the rules of the fast window (runs inside batches). */
export const fastRules = (s: BreakerSettings) => s.fastWindowMs !== undefined;
/** Whether these settings apply revision 3 (see RunSettings). */
export const currentRules = (s: RunSettings) => s.revision === 3;
/** The probe alone decides half-open: probes are on and they call the target's models. */
export const probeDecides = (s: BreakerSettings) => s.probes && s.probeEvidence === 'model';

/** A breaker's position and evidence: the target's, or one model's. Plain data. */
export interface Cell {
  state: BreakerState;
  since: number;
  retryAt?: number;
  /** Revision 3: half-open ends at this time without a decision. */
  halfOpenUntil?: number;
  trips: number;
  consecutiveFailures: number;
  halfOpenSuccesses: number;
  buckets: Bucket[];
  /** The fast window's buckets (`fastWindowMs`); absent in a state carried from an older run. */
  fastBuckets?: Bucket[];
  transitions: BreakerTransition[];
}

/** Numbers transitions across the target and its models (the export's `seq`). */
export interface TransitionCounter {
  seq?: number;
}

/** The fast window confidence: the lower end of its rates' 99% interval is compared with the thresholds. */
const FAST_CONFIDENCE_Z = 2.58;

export const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

// #region guide:cooldown
/** Cooldown after the n-th trip: doubles each time, bounded. */
export function cooldownFor(trips: number, s: BreakerSettings): number {
  return Math.min(s.maxCooldownMs, s.cooldownMs * 2 ** Math.max(0, trips - 1));
}
// #endregion guide:cooldown

/** A cell's long window. */
export const longWindow = (c: Cell, s: BreakerSettings) => new SlidingWindow(s.windowMs, s.bucketMs, c.buckets);

/** A cell's fast window under these settings, or undefined when it is off. */
export function fastWindow(s: BreakerSettings, buckets: Bucket[] | undefined): SlidingWindow | undefined {
  if (!s.fastWindowMs) return undefined;
  return new SlidingWindow(s.fastWindowMs, Math.max(1, Math.min(s.bucketMs, Math.floor(s.fastWindowMs / 10))), buckets ?? []);
}

/** Adds counts observed at `at` to both windows of a cell. */
export function addCounts(
  c: Cell,
  s: BreakerSettings,
  at: number,
  counts: { calls: number; failures: number; slow: number; totalMs: number },
  now: number,
): void {
  const long = longWindow(c, s);
  long.add(at, counts, now);
  c.buckets = long.toJSON();
  const fast = fastWindow(s, c.fastBuckets);
  if (fast) {
    fast.add(at, counts, now);
    c.fastBuckets = fast.toJSON();
  }
}

/** Drops what fell out of a cell's windows. */
export function expireCell(c: Cell, s: BreakerSettings, now: number): void {
  const long = longWindow(c, s);
  long.expire(now);
  c.buckets = long.toJSON();
  const fast = fastWindow(s, c.fastBuckets);
  if (fast) {
    fast.expire(now);
    c.fastBuckets = fast.toJSON();
  }
}

/** Why the rates of one window should trip, or undefined. `z` set: compare their lower confidence bound. */
function rateReason(t: WindowTotals, s: BreakerSettings, z?: number): string | undefined {
  if (t.calls < s.minCalls) return undefined;
  const errorRate = z === undefined ? t.errorRate : wilsonLowerBound(t.failures, t.calls, z);
  const slowRate = z === undefined ? t.slowRate : wilsonLowerBound(t.slow, t.calls, z);
  const over = z === undefined ? `over ${t.calls} calls` : `over the last ${(s.fastWindowMs! / 1_000).toFixed(0)} s (${t.calls} calls)`;
  const shown = (observed: number, bound: number) => (z === undefined ? pct(observed) : `${pct(observed)} (99% lower bound ${pct(bound)})`);
  if (errorRate >= s.errorRateThreshold) return `error rate ${shown(t.errorRate, errorRate)} ≥ ${pct(s.errorRateThreshold)} ${over}`;
  if (slowRate >= s.slowCallRateThreshold) {
    return `slow-call rate ${shown(t.slowRate, slowRate)} ≥ ${pct(s.slowCallRateThreshold)} (> ${s.slowCallMs} ms) ${over}`;
  }
  if (z !== undefined) {
    // Fast window only: a brownout fails some calls (streams without a first token) and slows the
    // rest (hedged calls), splitting itself between the two rules above; together they count.
    const badCount = Math.min(t.calls, t.failures + t.slow);
    const bad = wilsonLowerBound(badCount, t.calls, z);
    if (bad >= s.slowCallRateThreshold) {
      return `failed-or-slow rate ${shown(badCount / t.calls, bad)} ≥ ${pct(s.slowCallRateThreshold)} ${over}`;
    }
  }
  return undefined;
}

// #region guide:trip-rule
/**
 * Why a closed cell should trip now, or undefined. `run` is the longest run of failures the last
 * batch showed (inside it, or continued from earlier batches), if longer than the current one.
 */
export function cellTripReason(c: Cell, s: BreakerSettings, now: number, run = 0): string | undefined {
  const longest = Math.max(run, c.consecutiveFailures);
  if (longest >= s.consecutiveFailures) return `${longest} failures in a row`;
  const fast = fastWindow(s, c.fastBuckets);
  const long = rateReason(longWindow(c, s).totals(now), s);
  return long ?? (fast && rateReason(fast.totals(now), s, FAST_CONFIDENCE_Z));
}
// #endregion guide:trip-rule

/**
 * Applies a batch to the run of failures in a row; returns the longest run the batch showed. A batch
 * without the run fields (older workers), or settings with the oldest rules, count as before.
 */
export function applyBatchRuns(c: Cell, b: OutcomeBatch, s: BreakerSettings): number {
  const prev = c.consecutiveFailures;
  if (!fastRules(s) || b.leadingFailures === undefined || b.maxFailureRun === undefined) {
    c.consecutiveFailures = b.failures > 0 && b.trailingFailures === b.calls ? prev + b.calls : b.trailingFailures;
    return c.consecutiveFailures;
  }
  // No success in the batch: its failures are both its leading and its trailing run.
  const noSuccess = b.failures > 0 && b.leadingFailures === b.failures && b.trailingFailures === b.failures;
  c.consecutiveFailures = noSuccess ? prev + b.failures : b.trailingFailures;
  return Math.max(c.consecutiveFailures, b.maxFailureRun, b.leadingFailures > 0 ? prev + b.leadingFailures : 0);
}

/**
 * Revision 3: applies runs that say how many successes they hold, so outcomes that are neither
 * (an in-flight slow notice, another scope's failure) leave the run as it is.
 */
export function applyRuns(c: Cell, r: FailureRuns): number {
  const prev = c.consecutiveFailures;
  if (r.successes === 0) {
    c.consecutiveFailures = prev + r.failures;
    return c.consecutiveFailures;
  }
  c.consecutiveFailures = r.trailingFailures;
  return Math.max(c.consecutiveFailures, r.maxFailureRun, r.leadingFailures > 0 ? prev + r.leadingFailures : 0);
}

/** Options of a move. */
export interface MoveOptions {
  /** Revision 3: half-open gets its deadline. */
  settings?: RunSettings;
  /** Back to open without a new trip (half-open ended with no evidence against the target). */
  sameTrips?: boolean;
  /** Bound on the transitions kept. */
  keep: number;
}

/** Moves a cell to `to`, recording the transition (numbered by `counter`). */
export function moveCell(
  c: Cell,
  counter: TransitionCounter,
  to: BreakerState,
  now: number,
  reason: string,
  s: BreakerSettings,
  o: MoveOptions,
): boolean {
  if (c.state === to) return false;
  const from = c.state;
  c.state = to;
  c.since = now;
  c.halfOpenSuccesses = 0;
  c.halfOpenUntil = undefined;
  if (to === 'open') {
    if (!o.sameTrips) c.trips += 1;
    c.retryAt = now + cooldownFor(c.trips, s);
  } else {
    c.retryAt = undefined;
  }
  if (to === 'half-open' && o.settings && currentRules(o.settings))
    c.halfOpenUntil = now + (o.settings.halfOpenTimeoutMs ?? DEFAULT_HALF_OPEN_TIMEOUT_MS);
  if (to === 'closed') {
    c.consecutiveFailures = 0;
    // Start closed with a fresh window: the failures that tripped it must not trip it again.
    c.buckets = [];
    if (c.fastBuckets) c.fastBuckets = [];
  }
  counter.seq = (counter.seq ?? 0) + 1;
  c.transitions = [...c.transitions, { at: now, from, to, reason, seq: counter.seq, trips: c.trips }].slice(-o.keep);
  return true;
}

/**
 * Revision 3, on a clock tick: an open cell whose cooldown is over goes half-open; a half-open
 * cell past its deadline closes if trials succeeded and none failed, else goes back to open
 * (same trip count). Returns whether it moved to half-open (then a probe is due).
 */
export function tickCell(c: Cell, counter: TransitionCounter, now: number, s: RunSettings, keep: number): boolean {
  if (c.state === 'open' && c.retryAt !== undefined && now >= c.retryAt) {
    moveCell(c, counter, 'half-open', now, 'cooldown elapsed', s, { settings: s, keep });
    return true;
  }
  if (c.state === 'half-open' && c.halfOpenUntil !== undefined && now >= c.halfOpenUntil) {
    const waited = `${((now - c.since) / 1_000).toFixed(0)} s`;
    if (!probeDecides(s) && c.halfOpenSuccesses > 0)
      moveCell(c, counter, 'closed', now, `${c.halfOpenSuccesses} successful trial call(s) and no failure in ${waited}`, s, { keep });
    else
      moveCell(
        c,
        counter,
        'open',
        now,
        `no decision in ${waited} (${probeDecides(s) ? 'no probe result' : 'no trial result'}); the cooldown stays`,
        s,
        { sameTrips: true, keep },
      );
  }
  return false;
}

/** Settings with the fast window on by default (for runs that take the current rules). */
export function withFastWindow(s: BreakerSettings): BreakerSettings {
  return { ...s, fastWindowMs: s.fastWindowMs ?? DEFAULT_FAST_WINDOW_MS };
}
