/**
 * Pure measurements of one game-day run: availability, latency percentiles per 5 s window,
 * failover and recovery times, breaker transitions, provider calls made against an open breaker
 * or inside a Retry-After, truncated answers, lost jobs, and a verdict per threshold.
 * Every time is in ms since the load started.
 */
import type { ActionName, Thresholds, ThresholdKey } from './schema';

/** Request kinds of the load. */
export type RequestKind = 'chat' | 'stream' | 'job';

/** One client request as the load generator saw it. */
export interface RequestRecord {
  id: number;
  kind: RequestKind;
  nonce: string;
  startedAt: number;
  endedAt?: number;
  /** Streams: first content token. */
  ttftMs?: number;
  ok: boolean;
  error?: {
    message: string;
    status?: number;
    code?: string;
    /** an error answer or error event, not a cut connection */ explicit: boolean;
  };
  /** Target and model that served the answer (from the x-stormproof-* headers or the body). */
  target?: string;
  model?: string;
  failovers?: number;
  degraded?: string;
  /** The answer ends with the nonce. */
  complete: boolean;
  /** Ended normally (no error) with an incomplete answer: truncated but presented as complete. */
  truncated: boolean;
  /** Streams: `[DONE]` was received. */
  sawDone?: boolean;
  /** Jobs: 202 received, final status, and whether it never reached an outcome. */
  job?: { accepted: boolean; id?: string; status?: string; lost: boolean };
}

/** One call that reached a provider (recorded between toxiproxy and the mock). */
export interface ProviderCall {
  target: string;
  at: number;
  endedAt?: number;
  route: string;
  /** The request's nonce, when the prompt carried one. */
  nonce?: string;
  /** A health probe or synthetic probe call (not a client request). */
  probe: boolean;
  status?: number;
  retryAfterS?: number;
  /** The answer was written completely with a 2xx status. */
  completed: boolean;
}

/** Every target's breaker state at one instant. */
export interface BreakerSample {
  at: number;
  states: Record<string, string>;
}

/** One executed action. */
export interface ActionLog {
  at: number;
  /** When the action returned. */
  doneAt: number;
  action: ActionName | 'reset';
  label: string;
  phase: 'method' | 'rollback';
  ok: boolean;
  error?: string;
}

/** A fault's time span (for recovery and the chart). */
export interface FaultWindow {
  start: number;
  end: number;
  label: string;
}

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

/** A breaker transition seen by the sampler. */
export interface BreakerTransition {
  target: string;
  at: number;
  from?: string;
  to: string;
}

/** A threshold's outcome. */
export interface Verdict {
  key: ThresholdKey | 'aborted' | 'steadyState';
  threshold: unknown;
  actual: unknown;
  pass: boolean;
  detail: string;
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
  steadyP99?: number;
  /** Client errors among the requests started in the steady state (the hypothesis: none). */
  steadyErrors: number;
  steadyRequests: number;
  windows: LatencyWindow[];
  byTarget: Record<string, number>;
  failoverTimeMs?: number;
  steadyTarget?: string;
  faultStart?: number;
  faultEnd?: number;
  recoveryMs?: number | null;
  breakerTransitions: BreakerTransition[];
  callsAfterBreakerOpen: Record<string, number>;
  retryAfterViolations: { calls: number; probes: number; detail: string[] };
  truncated: number;
  unendedStreams: number;
  missingDone: number;
  duplicateProviderCalls: number;
  providerCalls: Record<string, { calls: number; probes: number; errors: number }>;
  jobs: { submitted: number; accepted: number; completed: number; failed: number; unfinished: number; lost: number };
  ttft: { p50?: number; p99?: number };
  aborted?: string;
}

/** Options of {@link measure}. */
export interface MeasureInput {
  requests: RequestRecord[];
  calls: ProviderCall[];
  breakers: BreakerSample[];
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
  /** The steady-state hypothesis' p99 limit, ms (default 5000). */
  steadyMaxP99Ms?: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (!sorted.length) return undefined;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

const latencyOf = (r: RequestRecord) => (r.endedAt ?? r.startedAt) - r.startedAt;
const sortedLatencies = (rs: RequestRecord[]) => rs.map(latencyOf).sort((a, b) => a - b);

/** 5 s windows over the load by request start time. */
export function windowsOf(requests: RequestRecord[], loadMs: number, windowMs = 5_000): LatencyWindow[] {
  const out: LatencyWindow[] = [];
  for (let start = 0; start < loadMs; start += windowMs) {
    const end = Math.min(loadMs, start + windowMs);
    const rs = requests.filter((r) => r.endedAt !== undefined && r.startedAt >= start && r.startedAt < end);
    const lat = sortedLatencies(rs);
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
      p50: percentile(lat, 50),
      p95: percentile(lat, 95),
      p99: percentile(lat, 99),
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

/** Breaker transitions from the periodic samples. */
export function transitionsOf(samples: BreakerSample[]): BreakerTransition[] {
  const last: Record<string, string> = {};
  const out: BreakerTransition[] = [];
  for (const s of samples) {
    for (const [target, state] of Object.entries(s.states)) {
      if (last[target] !== state) out.push({ target, at: s.at, from: last[target], to: state });
      last[target] = state;
    }
  }
  return out;
}

/** Open intervals per target ([openedAt, closedAt)) from the transitions. */
function openIntervals(transitions: BreakerTransition[], endMs: number): Record<string, Array<[number, number]>> {
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

function fmtMs(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** Measures a run and gives a verdict per threshold. */
export function measure(input: MeasureInput): { m: Measurements; verdicts: Verdict[] } {
  const windowMs = input.windowMs ?? 5_000;
  const breakerGraceMs = input.breakerGraceMs ?? 1_000;
  const retryGraceMs = input.retryAfterGraceMs ?? 250;
  const finished = input.requests.filter((r) => r.endedAt !== undefined);
  const ok = finished.filter((r) => r.ok);
  const errorsByCode: Record<string, number> = {};
  for (const r of finished) {
    if (r.ok) continue;
    const code = r.error?.code ?? (r.error?.status ? `HTTP ${r.error.status}` : r.error?.explicit ? 'error' : 'connection');
    errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
  }
  // Latency of chat and streams (a job's end is only seen at its next poll), or of jobs when alone.
  const interactive = finished.filter((r) => r.kind !== 'job');
  const timed = interactive.length ? interactive : finished;
  const all = sortedLatencies(timed);
  // The steady state is what ran before the first fault: a request still in flight when the fault
  // struck belongs to the fault, not to the baseline it is compared with.
  const firstFault = input.faults.length ? Math.min(...input.faults.map((f) => f.start)) : Infinity;
  const inSteady = (r: RequestRecord) => r.startedAt < input.steadyStateMs && (r.endedAt ?? Infinity) <= firstFault;
  const steady = finished.filter(inSteady);
  const steadyP99 = percentile(sortedLatencies(timed.filter(inSteady)), 99);
  const windows = windowsOf(interactive.length ? input.requests.filter((r) => r.kind !== 'job') : input.requests, input.loadMs, windowMs);
  const byTarget: Record<string, number> = {};
  for (const r of ok) if (r.target) byTarget[r.target] = (byTarget[r.target] ?? 0) + 1;

  // The target that served the steady state, and the first answer from another after the fault.
  const steadyCounts: Record<string, number> = {};
  for (const r of steady) if (r.ok && r.target) steadyCounts[r.target] = (steadyCounts[r.target] ?? 0) + 1;
  const steadyTarget = Object.entries(steadyCounts).sort((a, b) => b[1] - a[1])[0]?.[0];
  const faultStart = input.faults.length ? Math.min(...input.faults.map((f) => f.start)) : undefined;
  const faultEnd = input.faults.length ? Math.max(...input.faults.map((f) => f.end)) : undefined;
  let failoverTimeMs: number | undefined;
  if (faultStart !== undefined && steadyTarget) {
    const other = ok
      .filter((r) => r.startedAt >= faultStart && r.target && r.target !== steadyTarget)
      .sort((a, b) => a.endedAt! - b.endedAt!)[0];
    if (other) failoverTimeMs = other.endedAt! - faultStart;
  }
  const recoveryMs =
    faultStart !== undefined && faultEnd !== undefined && steadyP99 !== undefined
      ? recoveryTime(windows, faultStart, faultEnd, steadyP99)
      : undefined;

  const breakerTransitions = transitionsOf(input.breakers);
  const lastSample = input.breakers.at(-1)?.at ?? input.loadMs;
  const open = openIntervals(breakerTransitions, lastSample);
  const callsAfterBreakerOpen: Record<string, number> = {};
  for (const c of input.calls) {
    if (c.probe) continue;
    if ((open[c.target] ?? []).some(([a, b]) => c.at >= a + breakerGraceMs && c.at < b))
      callsAfterBreakerOpen[c.target] = (callsAfterBreakerOpen[c.target] ?? 0) + 1;
  }

  // Calls to a target inside a Retry-After it answered (after a short grace for calls already on their way).
  const retry = { calls: 0, probes: 0, detail: [] as string[] };
  const byTargetCalls: Record<string, ProviderCall[]> = {};
  for (const c of input.calls) (byTargetCalls[c.target] ??= []).push(c);
  for (const [target, calls] of Object.entries(byTargetCalls)) {
    calls.sort((a, b) => a.at - b.at);
    let until = -Infinity;
    let from = -Infinity;
    for (const c of calls) {
      if (c.at > from && c.at < until) {
        if (c.probe) retry.probes++;
        else {
          retry.calls++;
          if (retry.detail.length < 5) retry.detail.push(`${target} at ${fmtMs(c.at)} (Retry-After until ${fmtMs(until)})`);
        }
      }
      if (c.status === 429 && c.retryAfterS !== undefined && c.endedAt !== undefined) {
        const end = c.endedAt + c.retryAfterS * 1000;
        if (end > until) {
          until = end;
          from = c.endedAt + retryGraceMs;
        }
      }
    }
  }

  const providerCalls: Measurements['providerCalls'] = {};
  const okCallsPerNonce = new Map<string, number>();
  for (const c of input.calls) {
    const p = (providerCalls[c.target] ??= { calls: 0, probes: 0, errors: 0 });
    if (c.probe) p.probes++;
    else p.calls++;
    if (c.status !== undefined && c.status >= 400) p.errors++;
    if (c.nonce && c.completed && !c.probe) okCallsPerNonce.set(c.nonce, (okCallsPerNonce.get(c.nonce) ?? 0) + 1);
  }
  const duplicateProviderCalls = [...okCallsPerNonce.values()].reduce((n, k) => n + Math.max(0, k - 1), 0);

  const streams = finished.filter((r) => r.kind === 'stream');
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
  const m: Measurements = {
    sent: input.requests.length,
    finished: finished.length,
    ok: ok.length,
    errors: finished.length - ok.length,
    errorsByCode,
    availability: finished.length ? ok.length / finished.length : 1,
    latency: { p50: percentile(all, 50), p95: percentile(all, 95), p99: percentile(all, 99) },
    steadyP99,
    steadyErrors: steady.filter((r) => !r.ok).length,
    steadyRequests: steady.length,
    windows,
    byTarget,
    failoverTimeMs,
    steadyTarget,
    faultStart,
    faultEnd,
    recoveryMs,
    breakerTransitions,
    callsAfterBreakerOpen,
    retryAfterViolations: retry,
    truncated: finished.filter((r) => r.truncated).length,
    // A stream that failed without an explicit error event (the connection was cut or hung up).
    unendedStreams: streams.filter((r) => !r.ok && !r.error?.explicit && !r.sawDone).length,
    missingDone: streams.filter((r) => r.ok && !r.sawDone).length,
    duplicateProviderCalls,
    providerCalls,
    jobs,
    ttft: { p50: percentile(ttfts, 50), p99: percentile(ttfts, 99) },
    aborted: input.aborted,
  };
  return { m, verdicts: verdictsOf(m, input.thresholds, input.requests.length - finished.length, input.steadyMaxP99Ms) };
}

/** One verdict per promised threshold (null thresholds are reported, not judged). */
export function verdictsOf(m: Measurements, t: Thresholds, unfinished = 0, steadyMaxP99Ms = 5_000): Verdict[] {
  const out: Verdict[] = [];
  // The steady-state hypothesis, checked like the Chaos Toolkit does before the method: a red one
  // means the stack could not even serve the healthy load (e.g. a starved machine).
  const steadyOk = m.steadyErrors === 0 && m.steadyP99 !== undefined && m.steadyP99 <= steadyMaxP99Ms;
  out.push({
    key: 'steadyState',
    threshold: { errors: 0, maxP99S: steadyMaxP99Ms / 1000 },
    actual: { errors: m.steadyErrors, p99S: m.steadyP99 === undefined ? null : m.steadyP99 / 1000 },
    pass: steadyOk,
    detail:
      `${m.steadyErrors} of ${m.steadyRequests} steady-state requests failed; ` +
      `steady p99 ${fmtMs(m.steadyP99)} (at most ${fmtMs(steadyMaxP99Ms)})`,
  });
  const max = (key: ThresholdKey, actual: number, detail: string) => {
    const th = t[key] as number | null;
    if (th === null) return;
    out.push({ key, threshold: th, actual, pass: actual <= th, detail });
  };
  const codes = Object.entries(m.errorsByCode)
    .map(([c, n]) => `${c}: ${n}`)
    .join(', ');
  max(
    'maxClientErrors',
    m.errors + unfinished,
    `${m.errors} of ${m.finished} failed${codes ? ` (${codes})` : ''}${unfinished ? `; ${unfinished} never ended` : ''}`,
  );
  max('maxTruncated', m.truncated, `${m.truncated} answers ended normally without their last word`);
  max(
    'maxLostJobs',
    m.jobs.lost,
    `${m.jobs.accepted} jobs accepted, ${m.jobs.completed} completed, ${m.jobs.failed} failed, ` +
      `${m.jobs.unfinished} still running at the client's deadline, ${m.jobs.lost} lost`,
  );
  max('maxUnendedStreams', m.unendedStreams, `${m.unendedStreams} streams ended with neither [DONE] nor an error event`);
  if (t.recoveryWithinS !== null) {
    const r = m.recoveryMs;
    const pass = r !== undefined && r !== null && r <= t.recoveryWithinS * 1000;
    out.push({
      key: 'recoveryWithinS',
      threshold: t.recoveryWithinS,
      actual: r === undefined || r === null ? null : r / 1000,
      pass,
      detail:
        r === undefined
          ? 'no fault window or no steady state measured'
          : r === null
            ? `p99 never got back within 1.5x steady (${fmtMs(m.steadyP99)}) during the fault`
            : `p99 within 1.5x steady (${fmtMs(m.steadyP99)}) from ${fmtMs(r)} after the fault started`,
    });
  }
  if (t.respectRetryAfter) {
    const v = m.retryAfterViolations;
    out.push({
      key: 'respectRetryAfter',
      threshold: true,
      actual: v.calls,
      pass: v.calls === 0,
      detail:
        `${v.calls} client calls inside a Retry-After${v.probes ? ` (+${v.probes} probe calls)` : ''}` +
        (v.detail.length ? `: ${v.detail.join('; ')}` : ''),
    });
  }
  if (t.maxCallsAfterBreakerOpen !== null) {
    const n = Object.values(m.callsAfterBreakerOpen).reduce((a, b) => a + b, 0);
    out.push({
      key: 'maxCallsAfterBreakerOpen',
      threshold: t.maxCallsAfterBreakerOpen,
      actual: n,
      pass: n <= t.maxCallsAfterBreakerOpen,
      detail: JSON.stringify(m.callsAfterBreakerOpen),
    });
  }
  if (m.aborted) out.push({ key: 'aborted', threshold: false, actual: true, pass: false, detail: m.aborted });
  return out;
}
