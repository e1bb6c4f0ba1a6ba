/**
 * The breaker's state machine, pure: (state, event, now) → state. The workflow feeds it signals,
 * probe results and clock ticks; unit tests feed it by hand.
 *
 * closed --(error rate | slow rate | N failures in a row)--> open --(cooldown)--> half-open
 * half-open --(N successful trials | passing probe)--> closed;  --(any failure | failing probe)--> open
 * The cooldown doubles on each trip from half-open (bounded), so a flapping target cannot make
 * the breaker oscillate faster than its cooldown. Operator overrides pin the state until reset.
 */
import type { BreakerAction, BreakerPublished, BreakerSettings, OutcomeBatch, ProbeResult } from '../contracts/breaker';
import type { BreakerState } from '../contracts/routing';
import { SlidingWindow, type Bucket } from './breaker-window';

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

export function initialState(target: string, now: number): MachineState {
  return { target, state: 'closed', since: now, trips: 0, consecutiveFailures: 0, halfOpenSuccesses: 0, buckets: [], probe: { healthy: true, samples: [] }, transitions: [] };
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
  }
}

/** Why the closed breaker should trip now, or undefined. */
export function tripReason(m: MachineState, s: BreakerSettings, now: number): string | undefined {
  if (m.consecutiveFailures >= s.consecutiveFailures) return `${m.consecutiveFailures} failures in a row`;
  const t = new SlidingWindow(s.windowMs, s.bucketMs, m.buckets).totals(now);
  if (t.calls < s.minCalls) return undefined;
  if (t.errorRate >= s.errorRateThreshold) return `error rate ${(t.errorRate * 100).toFixed(0)}% ≥ ${(s.errorRateThreshold * 100).toFixed(0)}% over ${t.calls} calls`;
  if (t.slowRate >= s.slowCallRateThreshold) return `slow-call rate ${(t.slowRate * 100).toFixed(0)}% ≥ ${(s.slowCallRateThreshold * 100).toFixed(0)}% (> ${s.slowCallMs} ms) over ${t.calls} calls`;
  return undefined;
}

/** Applies one event. Returns the same object, mutated (the workflow keeps one state). */
export function step(m: MachineState, ev: MachineEvent, now: number, s: BreakerSettings): MachineState {
  const window = new SlidingWindow(s.windowMs, s.bucketMs, m.buckets);
  switch (ev.kind) {
    case 'batch': {
      const b = ev.batch;
      window.add(Math.min(b.to, now), { calls: b.calls, failures: b.failures, slow: b.slow, totalMs: b.totalMs }, now);
      m.buckets = window.toJSON();
      m.consecutiveFailures = b.failures > 0 && b.trailingFailures === b.calls ? m.consecutiveFailures + b.calls : b.trailingFailures;
      if (m.forced) break;
      if (m.state === 'closed') {
        const reason = tripReason(m, s, now);
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
