/**
 * The breaker's state machine, pure: (state, event, now) → state. The workflow feeds it signals,
 * probe results and clock ticks; unit tests feed it by hand.
 *
 * closed --(error rate | slow rate | N failures in a row | two models out)--> open --(cooldown)--> half-open
 * half-open --(passing known-answer probe | N successful trials)--> closed
 * half-open --(any failure | failing probe)--> open;  --(no decision by its deadline)--> open or closed
 * The cooldown doubles on each trip from half-open (bounded), so a flapping target cannot make
 * the breaker oscillate faster than its cooldown. Operator overrides pin the state until reset.
 * Each model of the target has a cell of its own (workflows/breaker-models.ts).
 */
import type {
  BreakerAction,
  BreakerPublished,
  BreakerSettings,
  BreakerTransition,
  OutcomeBatch,
  ProbeEvidence,
  ProbePlan,
  ProbeResult,
} from '../contracts/breaker';
import type { BreakerState } from '../contracts/routing';
import {
  applyModelBatch,
  applyModelProbe,
  modelsDeadline,
  modelsInUse,
  modelsOut,
  publishModels,
  tickModels,
  type ModelCell,
} from './breaker-models';
import {
  DEFAULT_HALF_OPEN_TIMEOUT_MS,
  DEFAULT_PUBLISH_INTERVAL_MS,
  addCounts,
  applyBatchRuns,
  applyRuns,
  cellTripReason,
  currentRules,
  expireCell,
  longWindow,
  moveCell,
  probeDecides,
  tickCell,
  withFastWindow,
  type Cell,
  type RunSettings,
} from './breaker-rules';

export { cooldownFor, type RunSettings } from './breaker-rules';

/** The machine's whole state: plain data, carried across continue-as-new. */
export interface MachineState extends Cell {
  target: string;
  forced?: 'open' | 'close';
  probe: { healthy: boolean; lastAt?: number; lastError?: string; latencyEwmaMs?: number; samples: number[]; evidence?: ProbeEvidence };
  /** Transitions so far, target's and models' (numbers them for the export). */
  seq?: number;
  /** Revision 3: per-model cells. */
  models?: Record<string, ModelCell>;
  /** Revision 3: workers that sent batches, with when they last did (pruned to the window). */
  workers?: Record<string, number>;
  /** Revision 3: a 429 cool-down reported by a worker, for every worker, and when it was last reported. */
  coolDownUntil?: number;
  coolDownSince?: number;
  /** Revision 3: a probe should start now (half-open began, a model opened, a reset). */
  probeDue?: boolean;
  /** Revision 3: when the last probe started (carried across continue-as-new). */
  lastProbeAt?: number;
  /** Revision 3: memo publications so far (the memo's `seq`, carried across continue-as-new). */
  publications?: number;
}

export type MachineEvent =
  | { kind: 'batch'; batch: OutcomeBatch }
  /** `startedAt`: workflow time the probe was scheduled (revision 3; decides which half-open period it judges). */
  | { kind: 'probe'; result: ProbeResult; startedAt?: number }
  | { kind: 'override'; action: BreakerAction }
  | { kind: 'tick' };

const MAX_TRANSITIONS = 20;
const MAX_SAMPLES = 50;
const EWMA_ALPHA = 0.3;

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
 * `current` runs (revision 3) also get the half-open deadline and publication interval defaults.
 */
export function settingsForRun(s: BreakerSettings, upgraded: boolean, current = false): RunSettings {
  const { revision: _r, ...plain } = s as RunSettings;
  if (!upgraded) {
    const { fastWindowMs: _dropped, ...legacy } = plain;
    return legacy;
  }
  if (!current) return withFastWindow(plain);
  return {
    ...withFastWindow(plain),
    revision: 3,
    halfOpenTimeoutMs: plain.halfOpenTimeoutMs ?? DEFAULT_HALF_OPEN_TIMEOUT_MS,
    publishIntervalMs: plain.publishIntervalMs ?? DEFAULT_PUBLISH_INTERVAL_MS,
  };
}

/**
 * Why the closed breaker should trip now, or undefined. `run` is the longest run of failures the
 * last batch showed (inside it, or continued from earlier batches), if longer than the current one.
 */
export function tripReason(m: MachineState, s: BreakerSettings, now: number, run = 0): string | undefined {
  return cellTripReason(m, s, now, run);
}

const moveTo = (m: MachineState, to: BreakerState, now: number, reason: string, s: RunSettings, sameTrips = false) =>
  moveCell(m, m, to, now, reason, s, { settings: s, sameTrips, keep: MAX_TRANSITIONS });

const failureTypes = (b: OutcomeBatch) => Object.keys(b.byType).join(', ') || 'failure';

/** Batches under the rules before revision 3. */
function batchBefore(m: MachineState, b: OutcomeBatch, now: number, s: RunSettings): void {
  addCounts(m, s, Math.min(b.to, now), { calls: b.calls, failures: b.failures, slow: b.slow, totalMs: b.totalMs }, now);
  const run = applyBatchRuns(m, b, s);
  if (m.forced) return;
  if (m.state === 'closed') {
    const reason = tripReason(m, s, now, run);
    if (reason) moveTo(m, 'open', now, reason, s);
  } else if (m.state === 'half-open') {
    if (b.failures > 0) moveTo(m, 'open', now, `trial call failed (${failureTypes(b)})`, s);
    else {
      m.halfOpenSuccesses += b.calls - b.slow;
      if (m.halfOpenSuccesses >= s.halfOpenTrials) moveTo(m, 'closed', now, `${m.halfOpenSuccesses} successful trial calls`, s);
    }
  }
}

/** Batches under revision 3: target-scoped counts for the target, per-model counts for its models. */
function batchCurrent(m: MachineState, b: OutcomeBatch, now: number, s: RunSettings): void {
  // A batch from an older worker (no targetRuns) counts every failure for the target, as before.
  const runs = b.targetRuns;
  addCounts(m, s, Math.min(b.to, now), { calls: b.calls, failures: runs?.failures ?? b.failures, slow: b.slow, totalMs: b.totalMs }, now);
  const run = runs ? applyRuns(m, runs) : applyBatchRuns(m, b, s);
  applyModelBatch(m, b, now, s);
  (m.workers ??= {})[b.worker] = now;
  if (b.coolDownUntil !== undefined) {
    m.coolDownUntil = Math.max(m.coolDownUntil ?? 0, Math.min(b.coolDownUntil, now + s.maxCooldownMs));
    m.coolDownSince = Math.min(b.to, now);
  }
  if (m.forced) return;
  if (m.state === 'closed') {
    const out = modelsOut(m);
    const reason = tripReason(m, s, now, run) ?? (out.length >= 2 ? `failures across models (${out.join(', ')} out)` : undefined);
    if (reason) moveTo(m, 'open', now, reason, s);
  } else if (m.state === 'half-open') {
    if (b.failures > 0) moveTo(m, 'open', now, `${probeDecides(s) ? 'call' : 'trial call'} failed (${failureTypes(b)})`, s);
    else if (!probeDecides(s)) {
      m.halfOpenSuccesses += b.successes ?? b.calls - b.slow;
      if (m.halfOpenSuccesses >= s.halfOpenTrials) moveTo(m, 'closed', now, `${m.halfOpenSuccesses} successful trial calls`, s);
    }
  }
}

/** How the probe reason reads. */
function passedReason(r: ProbeResult): string {
  if (!r.models?.length) return `probe passed (${Math.round(r.latencyMs)} ms)`;
  const calls = r.models.reduce((n, x) => n + x.calls, 0);
  return `known-answer probe passed (${calls} call(s) of ${r.models.map((x) => x.model).join(', ')}, ${Math.round(r.latencyMs)} ms)`;
}

function probeStep(m: MachineState, result: ProbeResult, now: number, s: RunSettings, startedAt?: number): void {
  if (result.evidence === 'none') {
    // Nothing could be judged: no health endpoint and no synthetic call. Unknown changes nothing.
    m.probe.lastAt = result.at;
    m.probe.lastError = result.error;
    m.probe.evidence = 'none';
    return;
  }
  // A probe slower than the slow-call bound does not pass: a browned-out target is not healthy.
  const r =
    result.ok && result.latencyMs > s.slowCallMs
      ? { ...result, ok: false, error: `probe took ${Math.round(result.latencyMs)} ms (> ${s.slowCallMs} ms)` }
      : result;
  m.probe.lastAt = r.at;
  m.probe.healthy = r.ok;
  m.probe.lastError = r.ok ? undefined : r.error;
  if (result.evidence) m.probe.evidence = result.evidence;
  if (result.ok) {
    m.probe.latencyEwmaMs =
      m.probe.latencyEwmaMs === undefined ? r.latencyMs : EWMA_ALPHA * r.latencyMs + (1 - EWMA_ALPHA) * m.probe.latencyEwmaMs;
    m.probe.samples = [...m.probe.samples, r.latencyMs].slice(-MAX_SAMPLES);
  }
  if (currentRules(s)) applyModelProbe(m, result, startedAt, now, s);
  if (m.forced || m.state !== 'half-open') return;
  // Revision 3: only a probe begun in this half-open period judges it (an older one saw the target before).
  if (currentRules(s) && startedAt !== undefined && startedAt < m.since) return;
  if (!r.ok) moveTo(m, 'open', now, `probe failed: ${r.error ?? 'unhealthy'}`, s);
  // A health endpoint alone cannot close a breaker: the model behind it may still fail.
  else if (result.evidence !== 'health') moveTo(m, 'closed', now, passedReason(r), s);
}

/** Applies one event. Returns the same object, mutated (the workflow keeps one state). */
export function step(m: MachineState, ev: MachineEvent, now: number, s: RunSettings): MachineState {
  switch (ev.kind) {
    case 'batch':
      if (currentRules(s)) batchCurrent(m, ev.batch, now, s);
      else batchBefore(m, ev.batch, now, s);
      break;
    case 'probe':
      probeStep(m, ev.result, now, s, ev.startedAt);
      break;
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
        if (currentRules(s)) {
          m.models = {};
          m.coolDownUntil = undefined;
          m.coolDownSince = undefined;
          m.probeDue = true;
        }
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
      if (!currentRules(s)) {
        if (m.forced) break;
        if (m.state === 'open' && m.retryAt !== undefined && now >= m.retryAt) moveTo(m, 'half-open', now, 'cooldown elapsed', s);
      } else {
        if (!m.forced && tickCell(m, m, now, s, MAX_TRANSITIONS)) m.probeDue = true;
        tickModels(m, now, s);
        for (const [w, at] of Object.entries(m.workers ?? {})) if (now - at >= s.windowMs) delete m.workers![w];
        if (m.coolDownUntil !== undefined && m.coolDownUntil <= now) m.coolDownUntil = m.coolDownSince = undefined;
      }
      // A full quiet window after recovering forgets old trips, so the cooldown shrinks again.
      if (!m.forced && m.state === 'closed' && m.trips > 0 && now - m.since >= s.windowMs) m.trips = 0;
      expireCell(m, s, now);
      break;
    }
  }
  return m;
}

/** The next time the machine must wake up without a signal (cooldown end, half-open deadline), if any. */
export function nextDeadline(m: MachineState, s?: RunSettings): number | undefined {
  if (!s || !currentRules(s)) return m.state === 'open' && !m.forced ? m.retryAt : undefined;
  const own = m.forced ? undefined : m.state === 'open' ? m.retryAt : m.state === 'half-open' ? m.halfOpenUntil : undefined;
  const times = [own, modelsDeadline(m)].filter((t): t is number => t !== undefined);
  return times.length ? Math.min(...times) : undefined;
}

/**
 * What the next probe checks (revision 3): every model of the target while anything is out of
 * rotation or unhealthy (a target-wide fault seen through one model shows in the others), else
 * the models in use; `halfOpenTrials` known-answer calls each while half-open, else one.
 */
export function probePlan(m: MachineState, s: RunSettings, now: number): ProbePlan {
  const models = Object.values(m.models ?? {});
  const halfOpen = m.state === 'half-open' || models.some((c) => c.state === 'half-open');
  const unsettled = m.state !== 'closed' || !m.probe.healthy || models.some((c) => c.state !== 'closed' || !c.healthy);
  const inUse = modelsInUse(m, now, s);
  const which = unsettled ? { allModels: true } : inUse.length ? { models: inUse } : {};
  return { ...which, calls: halfOpen ? s.halfOpenTrials : 1, slowCallMs: s.slowCallMs };
}

/** Every transition (the target's and its models') numbered after `seq`, in order. */
export function transitionsAfter(m: MachineState, seq: number): Array<BreakerTransition & { model?: string }> {
  const all: Array<BreakerTransition & { model?: string }> = m.transitions.filter((t) => (t.seq ?? 0) > seq);
  for (const [model, c] of Object.entries(m.models ?? {})) for (const t of c.transitions) if ((t.seq ?? 0) > seq) all.push({ ...t, model });
  return all.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
}

function percentile(samples: number[], p: number): number | undefined {
  if (!samples.length) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The published view (memo and query), without the publication's own seq, time and settings hash. */
export function publish(m: MachineState, s: RunSettings, now: number): BreakerPublished {
  const t = longWindow(m, s).totals(now);
  const view: BreakerPublished = {
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
  if (!currentRules(s)) return view;
  const workers = Object.keys(m.workers ?? {}).length;
  const models = publishModels(m);
  return {
    ...view,
    ...(m.state === 'half-open'
      ? {
          halfOpen: {
            mode: probeDecides(s) ? 'probe' : 'trials',
            trials: s.halfOpenTrials,
            ...(m.halfOpenUntil !== undefined ? { until: m.halfOpenUntil } : {}),
          },
        }
      : {}),
    ...(workers ? { workers } : {}),
    ...(m.coolDownUntil !== undefined && m.coolDownUntil > now ? { coolDownUntil: m.coolDownUntil, coolDownSince: m.coolDownSince } : {}),
    ...(models ? { models } : {}),
  };
}
