/**
 * Pure measurements of one game-day run: availability, latency percentiles per 5 s window,
 * time to failover (overall and per request kind), breaker openings and recovery, provider calls
 * made against an open breaker or inside a Retry-After or beyond what the traces explain,
 * hidden degradations, truncated answers, lost and duplicated jobs; verdicts in ./verdicts.
 * Every time is in ms since the load started.
 */
import {
  callsDuringOpen,
  duplicateCalls,
  idempotencyOf,
  retryAfterViolations,
  undeclaredDegradations,
  type Duplicates,
  type Undeclared,
} from './calls';
import type { BreakerSample, FaultWindow, ProviderCall, RequestKind, RequestRecord } from './records';
import type { Thresholds } from './schema';
import { verdictsOf, type Verdict } from './verdicts';

export type { ActionLog, BreakerSample, FaultWindow, ProviderCall, RequestKind, RequestRecord } from './records';
export { verdictsOf, type Verdict } from './verdicts';

/** One 5 s window by request start time. */
export interface LatencyWindow {
  start: number;
  end: number;
  requests: number;
  ok: number;
  errors: number;
  errorRate: number;
  p50?: number;
  p95?: number;
  p99?: number;
  byTarget: Record<string, number>;
}

/** A breaker transition seen by the sampler (`target`: a target's breaker, or `<target>/<model>`). */
export interface BreakerTransition {
  target: string;
  at: number;
  from?: string;
  to: string;
}

/** A breaker's stay away from closed: from opening until it closed again (undefined: still not closed). */
export interface BreakerOpening {
  /** The target, or `<target>/<model>` for a model's breaker. */
  target: string;
  openedAt: number;
  closedAt?: number;
}

/** Figures of one request kind. */
export interface KindFigures {
  sent: number;
  ok: number;
  errors: number;
  p50?: number;
  p99?: number;
}

/** Answers per target in each phase of a run. */
export interface TrafficSplit {
  before: Record<string, number>;
  during: Record<string, number>;
  after: Record<string, number>;
}

/** Answers per target before, during and after the faults (all before when there is none). */
export function splitOf(requests: RequestRecord[], faultStart?: number, faultEnd?: number): TrafficSplit {
  const out: TrafficSplit = { before: {}, during: {}, after: {} };
  for (const r of requests) {
    if (!r.ok || !r.target) continue;
    const phase =
      faultStart === undefined || r.startedAt < faultStart
        ? 'before'
        : faultEnd === undefined || r.startedAt < faultEnd
          ? 'during'
          : 'after';
    out[phase][r.target] = (out[phase][r.target] ?? 0) + 1;
  }
  return out;
}

/** Each breaker's first opening at or after `faultStart`, ms after it. */
export function openedAfter(openings: BreakerOpening[], faultStart: number | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (faultStart === undefined) return out;
  for (const o of openings) if (o.openedAt >= faultStart && out[o.target] === undefined) out[o.target] = o.openedAt - faultStart;
  return out;
}

/** Everything measured in one run. */
export interface Measurements {
  sent: number;
  finished: number;
  ok: number;
  errors: number;
  errorsByCode: Record<string, number>;
  availability: number;
  latency: { p50?: number; p95?: number; p99?: number };
  byKind: Partial<Record<RequestKind, KindFigures>>;
  steadyP99?: number;
  /** Client errors among the requests started in the steady state (the hypothesis: none). */
  steadyErrors: number;
  steadyRequests: number;
  steadyLatency: { p50?: number; p95?: number; p99?: number };
  windows: LatencyWindow[];
  byTarget: Record<string, number>;
  /** From the fault start to the first answer another route gave (target and model; than the one serving the steady state). */
  failoverTimeMs?: number;
  /** The same per request kind (each against its own steady target). */
  failoverByKind: Partial<Record<RequestKind, number>>;
  /** The route (target and model) serving most steady-state answers. */
  steadyTarget?: string;
  faultStart?: number;
  faultEnd?: number;
  recoveryMs?: number | null;
  breakerTransitions: BreakerTransition[];
  /** Every opening of a target's or a model's breaker (`<target>/<model>`). */
  breakerOpenings: BreakerOpening[];
  /** Per breaker (target or `<target>/<model>`): its first opening at or after the fault start, ms after it. */
  openedAfterFault: Record<string, number>;
  /** Answers per target by request start: before the first fault, during the faults (first start to last end), after. */
  split: TrafficSplit;
  callsAfterBreakerOpen: Record<string, number>;
  retryAfterViolations: { calls: number; probes: number; detail: string[] };
  truncated: number;
  unendedStreams: number;
  missingDone: number;
  /** Provider calls beyond what the answers' traces explain. */
  duplicateProviderCalls: number;
  duplicates: Duplicates;
  undeclared: Undeclared;
  idempotency: { keys: number; resent: number; duplicateJobs: number; detail: string[] };
  providerCalls: Record<string, { calls: number; probes: number; embeddings: number; errors: number }>;
  jobs: { submitted: number; accepted: number; completed: number; failed: number; unfinished: number; lost: number };
  ttft: { p50?: number; p99?: number };
  aborted?: string;
}

/** Options of {@link measure}. */
export interface MeasureInput {
  requests: RequestRecord[];
  calls: ProviderCall[];
  breakers: BreakerSample[];
  /** What the breakers recorded themselves (run clock); ends an open interval where a sample saw it late. */
  recorded?: Array<{ target: string; at: number; from: string; to: string }>;
  faults: FaultWindow[];
  steadyStateMs: number;
  loadMs: number;
  thresholds: Thresholds;
  windowMs?: number;
  /** Time for a breaker decision to reach the routers (the design: refresh interval + a workflow task). */
  breakerGraceMs?: number;
  /** Calls already on their way when a 429 arrived. */
  retryAfterGraceMs?: number;
  aborted?: string;
  /** The steady-state hypothesis: p50/p95/p99 limits, ms (default: p99 5000). */
  steadyMax?: { p50?: number; p95?: number; p99: number };
  /** The model the load asked for, and each model's tier (for hidden model degradations). */
  requestedModel?: string;
  tierOf?: (model: string) => string | undefined;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (!sorted.length) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

const latencyOf = (r: RequestRecord) => (r.endedAt ?? r.startedAt) - r.startedAt;
const sortedLatencies = (rs: RequestRecord[]) => rs.map(latencyOf).sort((a, b) => a - b);
const pcts = (sorted: number[]) => ({ p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) });

/** 5 s windows over the load by request start time. */
export function windowsOf(requests: RequestRecord[], loadMs: number, windowMs = 5_000): LatencyWindow[] {
  const out: LatencyWindow[] = [];
  for (let start = 0; start < loadMs; start += windowMs) {
    const end = Math.min(loadMs, start + windowMs);
    const rs = requests.filter((r) => r.endedAt !== undefined && r.startedAt >= start && r.startedAt < end);
    const ok = rs.filter((r) => r.ok).length;
    const byTarget: Record<string, number> = {};
    for (const r of rs) if (r.ok && r.target) byTarget[r.target] = (byTarget[r.target] ?? 0) + 1;
    out.push({
      start,
      end,
      requests: rs.length,
      ok,
      errors: rs.length - ok,
      errorRate: rs.length ? (rs.length - ok) / rs.length : 0,
      ...pcts(sortedLatencies(rs)),
      byTarget,
    });
  }
  return out;
}

/**
 * Recovery: the first window starting at or after the fault from which every window (until the
 * fault ends) has p99 <= 1.5x steady p99; ms from the fault start, or null when never.
 */
export function recoveryTime(windows: LatencyWindow[], faultStart: number, faultEnd: number, steadyP99: number): number | null {
  const limit = 1.5 * steadyP99;
  const during = windows.filter((w) => w.start >= faultStart - 1e-9 && w.start < faultEnd);
  // A window that saw requests but no answers at all (p99 undefined) is not recovered.
  const good = (w: LatencyWindow) => w.requests === 0 || (w.p99 !== undefined && w.p99 <= limit);
  for (let i = 0; i < during.length; i++) {
    if (during.slice(i).every(good)) return Math.max(0, during[i].start - faultStart);
  }
  return null;
}

/** Breaker transitions (targets' and models') from the periodic samples. */
export function transitionsOf(samples: BreakerSample[]): BreakerTransition[] {
  const last: Record<string, string> = {};
  const out: BreakerTransition[] = [];
  for (const s of samples) {
    for (const [target, state] of Object.entries({ ...s.states, ...s.models })) {
      // A model has no breaker of its own until the breaker sees it: until then it is closed.
      const from = last[target] ?? (s.models && target in s.models ? 'closed' : undefined);
      if (from !== state) out.push({ target, at: s.at, from, to: state });
      last[target] = state;
    }
  }
  return out;
}

/**
 * Open intervals per target ([openedAt, left open at)) from the sampled transitions. A sample sees
 * a breaker leave open up to one sampling round late: when the breaker recorded leaving open itself
 * (`left`: key -> times it went from open to another state, on the run's clock), the interval ends there.
 */
function openIntervals(
  transitions: BreakerTransition[],
  endMs: number,
  left: Record<string, number[]> = {},
): Record<string, Array<[number, number]>> {
  const out = sampledOpenIntervals(transitions, endMs);
  for (const [key, list] of Object.entries(out)) {
    out[key] = list.map(([a, b]) => [a, Math.min(b, ...(left[key] ?? []).filter((t) => t >= a))]);
  }
  return out;
}

function sampledOpenIntervals(transitions: BreakerTransition[], endMs: number): Record<string, Array<[number, number]>> {
  const out: Record<string, Array<[number, number]>> = {};
  const openSince: Record<string, number> = {};
  for (const t of transitions) {
    if (t.to === 'open') openSince[t.target] = t.at;
    else if (openSince[t.target] !== undefined) {
      (out[t.target] ??= []).push([openSince[t.target], t.at]);
      delete openSince[t.target];
    }
  }
  for (const [target, since] of Object.entries(openSince)) (out[target] ??= []).push([since, endMs]);
  return out;
}

/** Each time a breaker opened, and when it was closed again (half-open trials in between count as not closed). */
export function openingsOf(transitions: BreakerTransition[]): BreakerOpening[] {
  const out: BreakerOpening[] = [];
  const current: Record<string, BreakerOpening> = {};
  for (const t of transitions) {
    if (t.to === 'open' && !current[t.target]) {
      current[t.target] = { target: t.target, openedAt: t.at };
      out.push(current[t.target]);
    } else if (t.to === 'closed' && current[t.target]) {
      current[t.target].closedAt = t.at;
      delete current[t.target];
    }
  }
  return out;
}

/** Where an answer came from: its target, and its model when known (a model outage fails over on the same target). */
const routeOf = (r: RequestRecord) => (r.target ? (r.model ? `${r.target} (${r.model})` : r.target) : undefined);

/** The route serving most answers of `rs`. */
function mainRoute(rs: RequestRecord[]): string | undefined {
  const counts: Record<string, number> = {};
  for (const r of rs) {
    const route = r.ok ? routeOf(r) : undefined;
    if (route) counts[route] = (counts[route] ?? 0) + 1;
  }
  return Object.entries(counts).sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** From `faultStart` to the first answer (to reach its client) from another route than `from`. */
function failoverTime(rs: RequestRecord[], faultStart: number, from: string): number | undefined {
  const first = rs
    .filter((r) => r.ok && r.startedAt >= faultStart && routeOf(r) !== undefined && routeOf(r) !== from)
    .sort((a, b) => a.endedAt! - b.endedAt!)[0];
  return first ? first.endedAt! - faultStart : undefined;
}

/** Measures a run and gives a verdict per threshold. */
export function measure(input: MeasureInput): { m: Measurements; verdicts: Verdict[] } {
  const windowMs = input.windowMs ?? 5_000;
  const finished = input.requests.filter((r) => r.endedAt !== undefined);
  const ok = finished.filter((r) => r.ok);
  const errorsByCode: Record<string, number> = {};
  for (const r of finished) {
    if (r.ok) continue;
    const code = r.error?.code ?? (r.error?.status ? `HTTP ${r.error.status}` : r.error?.explicit ? 'error' : 'connection');
    errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
  }
  // Latency of interactive requests (a job's end is only seen at its next poll), or of jobs when alone.
  const interactive = finished.filter((r) => r.kind !== 'job');
  const timed = interactive.length ? interactive : finished;
  // The steady state is what ran before the first fault: a request still in flight when the fault
  // struck belongs to the fault, not to the baseline it is compared with.
  const faultStart = input.faults.length ? Math.min(...input.faults.map((f) => f.start)) : undefined;
  const faultEnd = input.faults.length ? Math.max(...input.faults.map((f) => f.end)) : undefined;
  const inSteady = (r: RequestRecord) => r.startedAt < input.steadyStateMs && (r.endedAt ?? Infinity) <= (faultStart ?? Infinity);
  const steady = finished.filter(inSteady);
  const steadyLatency = pcts(sortedLatencies(timed.filter(inSteady)));
  const windows = windowsOf(interactive.length ? input.requests.filter((r) => r.kind !== 'job') : input.requests, input.loadMs, windowMs);
  const byTarget: Record<string, number> = {};
  for (const r of ok) if (r.target) byTarget[r.target] = (byTarget[r.target] ?? 0) + 1;

  const byKind: Measurements['byKind'] = {};
  const failoverByKind: Measurements['failoverByKind'] = {};
  const steadyTarget = mainRoute(steady);
  for (const kind of new Set(input.requests.map((r) => r.kind))) {
    const rs = input.requests.filter((r) => r.kind === kind);
    const done = rs.filter((r) => r.endedAt !== undefined);
    const lat = sortedLatencies(done);
    byKind[kind] = {
      sent: rs.length,
      ok: done.filter((r) => r.ok).length,
      errors: done.filter((r) => !r.ok).length,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
    };
    const from = mainRoute(steady.filter((r) => r.kind === kind)) ?? steadyTarget;
    if (faultStart !== undefined && from) {
      const t = failoverTime(done, faultStart, from);
      if (t !== undefined) failoverByKind[kind] = t;
    }
  }
  const failoverTimeMs = faultStart !== undefined && steadyTarget ? failoverTime(finished, faultStart, steadyTarget) : undefined;
  const recoveryMs =
    faultStart !== undefined && faultEnd !== undefined && steadyLatency.p99 !== undefined
      ? recoveryTime(windows, faultStart, faultEnd, steadyLatency.p99)
      : undefined;

  const breakerTransitions = transitionsOf(input.breakers);
  const openings = openingsOf(breakerTransitions);
  const left: Record<string, number[]> = {};
  for (const r of input.recorded ?? []) if (r.from === 'open' && r.to !== 'open') (left[r.target] ??= []).push(r.at);
  const open = openIntervals(breakerTransitions, input.breakers.at(-1)?.at ?? input.loadMs, left);
  const providerCalls: Measurements['providerCalls'] = {};
  for (const c of input.calls) {
    const p = (providerCalls[c.target] ??= { calls: 0, probes: 0, embeddings: 0, errors: 0 });
    if (c.probe) p.probes++;
    else if (c.route.endsWith('/embeddings')) p.embeddings++;
    else p.calls++;
    if (c.status !== undefined && c.status >= 400) p.errors++;
  }
  const duplicates = duplicateCalls(input.requests, input.calls);
  const tierOf = input.tierOf ?? (() => undefined);

  const streams = finished.filter((r) => r.kind === 'stream' || (r.kind === 'tool' && r.sawDone !== undefined));
  const jobsAll = input.requests.filter((r) => r.kind === 'job');
  const jobs = {
    submitted: jobsAll.length,
    accepted: jobsAll.filter((r) => r.job?.accepted).length,
    completed: jobsAll.filter((r) => r.job?.status === 'completed').length,
    failed: jobsAll.filter((r) => r.job?.accepted && r.job.status !== undefined && !['completed', 'unfinished'].includes(r.job.status))
      .length,
    unfinished: jobsAll.filter((r) => r.job?.status === 'unfinished').length,
    lost: jobsAll.filter((r) => r.job?.lost).length,
  };
  const ttfts = streams
    .filter((r) => r.ttftMs !== undefined)
    .map((r) => r.ttftMs!)
    .sort((a, b) => a - b);
  const all = sortedLatencies(timed);
  const m: Measurements = {
    sent: input.requests.length,
    finished: finished.length,
    ok: ok.length,
    errors: finished.length - ok.length,
    errorsByCode,
    availability: finished.length ? ok.length / finished.length : 1,
    latency: pcts(all),
    byKind,
    steadyP99: steadyLatency.p99,
    steadyErrors: steady.filter((r) => !r.ok).length,
    steadyRequests: steady.length,
    steadyLatency,
    windows,
    byTarget,
    failoverTimeMs,
    failoverByKind,
    steadyTarget,
    faultStart,
    faultEnd,
    recoveryMs,
    breakerTransitions,
    breakerOpenings: openings,
    openedAfterFault: openedAfter(openings, faultStart),
    split: splitOf(input.requests, faultStart, faultEnd),
    callsAfterBreakerOpen: callsDuringOpen(input.calls, open, input.breakerGraceMs ?? 1_000),
    retryAfterViolations: retryAfterViolations(input.calls, input.retryAfterGraceMs ?? 250),
    truncated: finished.filter((r) => r.truncated).length,
    // A stream that failed without an explicit error event (the connection was cut or hung up).
    unendedStreams: streams.filter((r) => !r.ok && !r.error?.explicit && !r.sawDone).length,
    missingDone: streams.filter((r) => r.ok && !r.sawDone).length,
    duplicateProviderCalls: duplicates.calls,
    duplicates,
    undeclared: undeclaredDegradations(input.requests, input.calls, input.requestedModel, tierOf),
    idempotency: idempotencyOf(input.requests),
    providerCalls,
    jobs,
    ttft: { p50: percentile(ttfts, 50), p99: percentile(ttfts, 99) },
    aborted: input.aborted,
  };
  const unfinished = input.requests.length - finished.length;
  return { m, verdicts: verdictsOf(m, input.thresholds, unfinished, input.steadyMax ?? { p99: 5_000 }) };
}
