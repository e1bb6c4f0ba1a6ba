/**
 * Per-model breakers beside the target's (revision 3 of the rules): an outage of one model
 * (gpt-4o failing while gpt-4o-mini answers on the same target) opens that model only.
 * Model-scoped failures (5xx, model not found, useless or malformed answers) count in the
 * model's cell; connection-level and latency failures count in the target's. Two models open
 * at once open the target ("failures across models"); a model that opens makes a probe of every
 * model of the target due, so a target-wide fault seen through one model shows in the others.
 */
import type { ModelPublished, OutcomeBatch, ProbeResult } from '../contracts/breaker';
import {
  addCounts,
  applyRuns,
  cellTripReason,
  expireCell,
  moveCell,
  probeDecides,
  tickCell,
  type Cell,
  type RunSettings,
  type TransitionCounter,
} from './breaker-rules';

/** One model's breaker. */
export interface ModelCell extends Cell {
  /** Its last known-answer probe passed (true until one fails). */
  healthy: boolean;
  lastError?: string;
  /** Last time a batch held a call of it (0: seen in probes only). */
  lastSeenAt: number;
}

/** The part of the machine's state the model cells need. */
export interface WithModels extends TransitionCounter {
  models?: Record<string, ModelCell>;
  forced?: 'open' | 'close';
  probeDue?: boolean;
}

/** Model transitions kept per model. */
const MODEL_TRANSITIONS = 10;

function cellOf(m: WithModels, model: string, now: number): ModelCell {
  m.models ??= {};
  return (m.models[model] ??= {
    state: 'closed',
    since: now,
    trips: 0,
    consecutiveFailures: 0,
    halfOpenSuccesses: 0,
    buckets: [],
    fastBuckets: [],
    transitions: [],
    healthy: true,
    lastSeenAt: 0,
  });
}

const move = (m: WithModels, c: ModelCell, to: ModelCell['state'], now: number, reason: string, s: RunSettings) =>
  moveCell(c, m, to, now, reason, s, { settings: s, keep: MODEL_TRANSITIONS });

/** Applies a batch's per-model counts; returns the models it opened. */
export function applyModelBatch(m: WithModels, b: OutcomeBatch, now: number, s: RunSettings): string[] {
  const opened: string[] = [];
  for (const [model, counts] of Object.entries(b.byModel ?? {})) {
    const c = cellOf(m, model, now);
    c.lastSeenAt = now;
    addCounts(c, s, Math.min(b.to, now), { calls: counts.calls, failures: counts.failures, slow: 0, totalMs: 0 }, now);
    const run = applyRuns(c, counts);
    if (m.forced) continue;
    if (c.state === 'closed') {
      const reason = cellTripReason(c, s, now, run);
      if (reason && move(m, c, 'open', now, reason, s)) opened.push(model);
    } else if (c.state === 'half-open') {
      if (counts.failures > 0) move(m, c, 'open', now, 'trial call failed', s);
      else if (!probeDecides(s)) {
        c.halfOpenSuccesses += counts.successes;
        if (c.halfOpenSuccesses >= s.halfOpenTrials) move(m, c, 'closed', now, `${c.halfOpenSuccesses} successful trial calls`, s);
      }
    }
  }
  if (opened.length) m.probeDue = true;
  return opened;
}

/**
 * Applies a probe's known-answer results per model. A result decides a half-open model only if
 * its probe started within that half-open period (`startedAt`); a failing one marks the model
 * unhealthy (the router demotes it) whatever its state.
 */
export function applyModelProbe(m: WithModels, r: ProbeResult, startedAt: number | undefined, now: number, s: RunSettings): void {
  for (const p of r.models ?? []) {
    const c = cellOf(m, p.model, now);
    c.healthy = p.ok;
    c.lastError = p.ok ? undefined : p.error;
    if (m.forced || c.state !== 'half-open' || (startedAt !== undefined && startedAt < c.since)) continue;
    if (p.ok) move(m, c, 'closed', now, `known-answer probe passed (${p.calls} call(s), ${Math.round(p.latencyMs)} ms)`, s);
    else move(m, c, 'open', now, `probe failed: ${p.error ?? 'unhealthy'}`, s);
  }
}

/** Clock tick for every model: windows, cooldowns, half-open deadlines; forgets idle healthy ones. */
export function tickModels(m: WithModels, now: number, s: RunSettings): void {
  for (const [model, c] of Object.entries(m.models ?? {})) {
    expireCell(c, s, now);
    if (!m.forced && tickCell(c, m, now, s, MODEL_TRANSITIONS)) m.probeDue = true;
    if (c.state === 'closed' && c.trips > 0 && now - c.since >= s.windowMs) c.trips = 0;
    const idle = c.state === 'closed' && c.healthy && now - Math.max(c.lastSeenAt, c.since) >= s.windowMs;
    if (idle) delete m.models![model];
  }
}

/** Models not closed (open or half-open), in name order. */
export function modelsOut(m: WithModels): string[] {
  return Object.entries(m.models ?? {})
    .filter(([, c]) => c.state !== 'closed')
    .map(([id]) => id)
    .sort();
}

/** Models seen in traffic within the window, in name order. */
export function modelsInUse(m: WithModels, now: number, s: RunSettings): string[] {
  return Object.entries(m.models ?? {})
    .filter(([, c]) => c.lastSeenAt > 0 && now - c.lastSeenAt < s.windowMs)
    .map(([id]) => id)
    .sort();
}

/** The next cooldown end or half-open deadline among the models. */
export function modelsDeadline(m: WithModels): number | undefined {
  if (m.forced) return undefined;
  const times = Object.values(m.models ?? {}).map((c) =>
    c.state === 'open' ? c.retryAt : c.state === 'half-open' ? c.halfOpenUntil : undefined,
  );
  const due = times.filter((t): t is number => t !== undefined);
  return due.length ? Math.min(...due) : undefined;
}

/** What the memo shows of each model. */
export function publishModels(m: WithModels): Record<string, ModelPublished> | undefined {
  const entries = Object.entries(m.models ?? {});
  if (!entries.length) return undefined;
  const out: Record<string, ModelPublished> = {};
  for (const [id, c] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out[id] = {
      state: c.state,
      since: c.since,
      ...(c.retryAt !== undefined ? { retryAt: c.retryAt } : {}),
      trips: c.trips,
      healthy: c.healthy,
      ...(c.lastError ? { lastError: c.lastError } : {}),
      consecutiveFailures: c.consecutiveFailures,
      transitions: c.transitions,
    };
  }
  return out;
}
