/**
 * The breaker's state machine, pure: (state, event, now) → state. The workflow feeds it signals,
 * probe results and clock ticks; unit tests feed it by hand.
 *
 * closed --(error rate | slow rate | N failures in a row)--> open --(cooldown)--> half-open
 * half-open --(N successful trials | passing probe)--> closed;  --(any failure | failing probe)--> open
 * The cooldown doubles on each trip from half-open (bounded), so a flapping target cannot make
 * the breaker oscillate faster than its cooldown. Operator overrides pin the state until reset.
 */
import {
  DEFAULT_FAST_WINDOW_MS,
  type BreakerAction,
  type BreakerPublished,
  type BreakerSettings,
  type OutcomeBatch,
  type ProbeResult,
} from '../contracts/breaker';
import type { BreakerState } from '../contracts/routing';
import { SlidingWindow, wilsonLowerBound, type Bucket, type WindowTotals } from './breaker-window';

/** The machine's whole state: plain data, carried across continue-as-new. */
export interface MachineState {
  target: string;
  state: BreakerState;
  forced?: 'open' | 'close';
  since: number;
  retryAt?: number;
  trips: number;
  consecutiveFailures: number;
  halfOpenSuccesses: number;
  buckets: Bucket[];
  /** The fast window's buckets (`fastWindowMs`); absent in a state carried from an older run. */
  fastBuckets?: Bucket[];
  probe: { healthy: boolean; lastAt?: number; lastError?: string; latencyEwmaMs?: number; samples: number[] };
  transitions: BreakerPublished['transitions'];
}

export type MachineEvent =
  | { kind: 'batch'; batch: OutcomeBatch }
  | { kind: 'probe'; result: ProbeResult }
  | { kind: 'override'; action: BreakerAction }
  | { kind: 'tick' };

const MAX_TRANSITIONS = 20;
const MAX_SAMPLES = 50;
const EWMA_ALPHA = 0.3;
/** The fast window compares the lower end of its rates' 99% confidence interval with the thresholds. */
const FAST_CONFIDENCE_Z = 2.58;

/** A fresh, closed machine. */
export function initialState(target: string, now: number): MachineState {
  return {
    target,
    state: 'closed',
    since: now,
    trips: 0,
    consecutiveFailures: 0,
    halfOpenSuccesses: 0,
    buckets: [],
    fastBuckets: [],
    probe: { healthy: true, samples: [] },
    transitions: [],
  };
}

/**
 * The settings one workflow run applies. A run that is not `upgraded` (it started on code older than
 * the fast window, see workflows/breaker.ts) keeps the old rules whatever its input says, so its
 * history replays; an upgraded one gets the fast window even if its input predates the setting.
 */
export function settingsForRun(s: BreakerSettings, upgraded: boolean): BreakerSettings {
  if (upgraded) return { ...s, fastWindowMs: s.fastWindowMs ?? DEFAULT_FAST_WINDOW_MS };
  const { fastWindowMs: _dropped, ...legacy } = s;
  return legacy;
}

/** Whether these settings apply the rules of issue 11 (fast window, runs inside batches). */
const currentRules = (s: BreakerSettings) => s.fastWindowMs !== undefined;

/** The fast window of these settings, or undefined when it is off. */
function fastWindow(s: BreakerSettings, buckets: Bucket[] | undefined): SlidingWindow | undefined {
  if (!s.fastWindowMs) return undefined;
  return new SlidingWindow(s.fastWindowMs, Math.max(1, Math.min(s.bucketMs, Math.floor(s.fastWindowMs / 10))), buckets ?? []);
}

/** Cooldown after the n-th trip: doubles each time, bounded. */
export function cooldownFor(trips: number, s: BreakerSettings): number {
  return Math.min(s.maxCooldownMs, s.cooldownMs * 2 ** Math.max(0, trips - 1));
}

function percentile(samples: number[], p: number): number | undefined {
  if (!samples.length) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function moveTo(m: MachineState, to: BreakerState, now: number, reason: string, s: BreakerSettings): void {
  if (m.state === to) return;
  m.transitions = [...m.transitions, { at: now, from: m.state, to, reason }].slice(-MAX_TRANSITIONS);
  m.state = to;
  m.since = now;
  m.halfOpenSuccesses = 0;
  if (to === 'open') {
    m.trips += 1;
    m.retryAt = now + cooldownFor(m.trips, s);
  } else {
    m.retryAt = undefined;
  }
  if (to === 'closed') {
    m.consecutiveFailures = 0;
    // Start closed with a fresh window: the failures that tripped it must not trip it again.
    m.buckets = [];
    if (m.fastBuckets) m.fastBuckets = [];
  }
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/** Why the rates of one window should trip the breaker, or undefined. `z` set: compare their lower confidence bound. */
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

/**
 * Why the closed breaker should trip now, or undefined. `run` is the longest run of failures the
 * last batch showed (inside it, or continued from earlier batches), if longer than the current one.
 */
export function tripReason(m: MachineState, s: BreakerSettings, now: number, run = 0): string | undefined {
  const longest = Math.max(run, m.consecutiveFailures);
  if (longest >= s.consecutiveFailures) return `${longest} failures in a row`;
  const fast = fastWindow(s, m.fastBuckets);
  const long = rateReason(new SlidingWindow(s.windowMs, s.bucketMs, m.buckets).totals(now), s);
  return long ?? (fast && rateReason(fast.totals(now), s, FAST_CONFIDENCE_Z));
}

/**
 * Applies a batch to the run of failures in a row; returns the longest run the batch showed. A batch
 * without the run fields (older workers), or settings with the old rules, count as before.
 */
function applyRuns(m: MachineState, b: OutcomeBatch, s: BreakerSettings): number {
  const prev = m.consecutiveFailures;
  if (!currentRules(s) || b.leadingFailures === undefined || b.maxFailureRun === undefined) {
    m.consecutiveFailures = b.failures > 0 && b.trailingFailures === b.calls ? prev + b.calls : b.trailingFailures;
    return m.consecutiveFailures;
  }
  // No success in the batch: its failures are both its leading and its trailing run.
  const noSuccess = b.failures > 0 && b.leadingFailures === b.failures && b.trailingFailures === b.failures;
  m.consecutiveFailures = noSuccess ? prev + b.failures : b.trailingFailures;
  return Math.max(m.consecutiveFailures, b.maxFailureRun, b.leadingFailures > 0 ? prev + b.leadingFailures : 0);
}

/** Applies one event. Returns the same object, mutated (the workflow keeps one state). */
export function step(m: MachineState, ev: MachineEvent, now: number, s: BreakerSettings): MachineState {
  const window = new SlidingWindow(s.windowMs, s.bucketMs, m.buckets);
  const fast = fastWindow(s, m.fastBuckets);
  switch (ev.kind) {
    case 'batch': {
      const b = ev.batch;
      const counts = { calls: b.calls, failures: b.failures, slow: b.slow, totalMs: b.totalMs };
      window.add(Math.min(b.to, now), counts, now);
      m.buckets = window.toJSON();
      if (fast) {
        fast.add(Math.min(b.to, now), counts, now);
        m.fastBuckets = fast.toJSON();
      }
      const run = applyRuns(m, b, s);
      if (m.forced) break;
      if (m.state === 'closed') {
        const reason = tripReason(m, s, now, run);
        if (reason) moveTo(m, 'open', now, reason, s);
      } else if (m.state === 'half-open') {
        if (b.failures > 0) moveTo(m, 'open', now, `trial call failed (${Object.keys(b.byType).join(', ') || 'failure'})`, s);
        else {
          m.halfOpenSuccesses += b.calls - b.slow;
          if (m.halfOpenSuccesses >= s.halfOpenTrials) moveTo(m, 'closed', now, `${m.halfOpenSuccesses} successful trial calls`, s);
        }
      }
      break;
    }
    case 'probe': {
      // A probe slower than the slow-call bound does not pass: a browned-out target is not healthy.
      const r = ev.result.ok && ev.result.latencyMs > s.slowCallMs ? { ...ev.result, ok: false, error: `probe took ${Math.round(ev.result.latencyMs)} ms (> ${s.slowCallMs} ms)` } : ev.result;
      m.probe.lastAt = r.at;
      m.probe.healthy = r.ok;
      m.probe.lastError = r.ok ? undefined : r.error;
      if (ev.result.ok) {
        m.probe.latencyEwmaMs = m.probe.latencyEwmaMs === undefined ? r.latencyMs : EWMA_ALPHA * r.latencyMs + (1 - EWMA_ALPHA) * m.probe.latencyEwmaMs;
        m.probe.samples = [...m.probe.samples, r.latencyMs].slice(-MAX_SAMPLES);
      }
      if (m.forced) break;
      if (m.state === 'half-open') {
        if (r.ok) moveTo(m, 'closed', now, `probe passed (${Math.round(r.latencyMs)} ms)`, s);
        else moveTo(m, 'open', now, `probe failed: ${r.error ?? 'unhealthy'}`, s);
      }
      break;
    }
    case 'override': {
      if (ev.action === 'reset') {
        m.forced = undefined;
        // Forget the old observations too; the workflow probes again right away.
        m.probe = { ...m.probe, healthy: true, lastError: undefined };
        moveTo(m, 'closed', now, 'operator reset', s);
        m.trips = 0;
        m.consecutiveFailures = 0;
        m.buckets = [];
        if (m.fastBuckets) m.fastBuckets = [];
      } else if (ev.action === 'open') {
        m.forced = 'open';
        moveTo(m, 'open', now, 'operator forced open', s);
        m.retryAt = undefined;
      } else {
        m.forced = 'close';
        moveTo(m, 'closed', now, 'operator forced close', s);
      }
      break;
    }
    case 'tick': {
      if (m.forced) break;
      if (m.state === 'open' && m.retryAt !== undefined && now >= m.retryAt) moveTo(m, 'half-open', now, 'cooldown elapsed', s);
      // A full quiet window after recovering forgets old trips, so the cooldown shrinks again.
      if (m.state === 'closed' && m.trips > 0 && now - m.since >= s.windowMs) m.trips = 0;
      m.buckets = (window.expire(now), window.toJSON());
      if (fast) m.fastBuckets = (fast.expire(now), fast.toJSON());
      break;
    }
  }
  return m;
}

/** The next time the machine must wake up without a signal (cooldown end), if any. */
export function nextDeadline(m: MachineState): number | undefined {
  return m.state === 'open' && !m.forced ? m.retryAt : undefined;
}

/** The published view (memo and query). */
export function publish(m: MachineState, s: BreakerSettings, now: number): BreakerPublished {
  const t = new SlidingWindow(s.windowMs, s.bucketMs, m.buckets).totals(now);
  return {
    target: m.target,
    state: m.state,
    ...(m.forced ? { forced: m.forced } : {}),
    since: m.since,
    ...(m.retryAt !== undefined ? { retryAt: m.retryAt } : {}),
    trips: m.trips,
    window: { calls: t.calls, failures: t.failures, slow: t.slow, errorRate: t.errorRate, slowRate: t.slowRate, meanMs: t.meanMs },
    consecutiveFailures: m.consecutiveFailures,
    probe: {
      healthy: m.probe.healthy,
      lastAt: m.probe.lastAt,
      lastError: m.probe.lastError,
      latencyEwmaMs: m.probe.latencyEwmaMs,
      p50Ms: percentile(m.probe.samples, 50),
      p95Ms: percentile(m.probe.samples, 95),
    },
    transitions: m.transitions,
  };
}
