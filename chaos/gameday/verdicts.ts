/** One verdict per promised threshold of a game-day run (null thresholds are reported, not judged). */
import type { Measurements } from './measure';
import type { ThresholdKey, Thresholds } from './schema';

/** A threshold's outcome. */
export interface Verdict {
  key: ThresholdKey | 'aborted' | 'steadyState';
  threshold: unknown;
  actual: unknown;
  pass: boolean;
  detail: string;
}

function fmtMs(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/**
 * The steady-state hypothesis, checked like the Chaos Toolkit does before the method: no client
 * error, and each percentile within its tolerance. A red one means the stack could not even serve
 * the healthy load (e.g. a starved machine).
 */
function steadyVerdict(m: Measurements, max: { p50?: number; p95?: number; p99: number }): Verdict {
  const checks = (['p50', 'p95', 'p99'] as const).filter((p) => max[p] !== undefined);
  const within = checks.every((p) => m.steadyLatency[p] !== undefined && m.steadyLatency[p]! <= max[p]!);
  const threshold: Record<string, number> = { errors: 0 };
  const actual: Record<string, number | null> = { errors: m.steadyErrors };
  for (const p of checks) {
    threshold[`max${p.toUpperCase()}S`] = max[p]! / 1000;
    actual[`${p}S`] = m.steadyLatency[p] === undefined ? null : m.steadyLatency[p]! / 1000;
  }
  return {
    key: 'steadyState',
    threshold,
    actual,
    pass: m.steadyErrors === 0 && within,
    detail:
      `${m.steadyErrors} of ${m.steadyRequests} steady-state requests failed; ` +
      checks.map((p) => `steady ${p} ${fmtMs(m.steadyLatency[p])} (at most ${fmtMs(max[p])})`).join(', '),
  };
}

/** One verdict per promised threshold, the steady-state hypothesis first. */
export function verdictsOf(
  m: Measurements,
  t: Thresholds,
  unfinished = 0,
  steadyMax: { p50?: number; p95?: number; p99: number } = { p99: 5_000 },
): Verdict[] {
  const out: Verdict[] = [steadyVerdict(m, steadyMax)];
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
  const u = m.undeclared;
  max(
    'maxUndeclaredDegradations',
    u.model + u.data,
    `${u.model} answers from a lower tier and ${u.data} keyword-retrieval answers did not say so` +
      (u.detail.length ? `: ${u.detail.join('; ')}` : ''),
  );
  const i = m.idempotency;
  max(
    'maxDuplicateJobs',
    i.duplicateJobs,
    `${i.keys} requests with an Idempotency-Key (${i.resent} sent more than once): ${i.duplicateJobs} got more than one job` +
      (i.detail.length ? `: ${i.detail.join('; ')}` : ''),
  );
  const d = m.duplicates;
  max(
    'maxDuplicateProviderCalls',
    d.calls,
    `${d.calls} provider calls beyond the answers' traces, from ${d.requests} requests (${d.withoutTrace} judged without a trace)` +
      (d.detail.length ? `: ${d.detail.join('; ')}` : ''),
  );
  if (t.recoveryWithinS !== null) {
    const r = m.recoveryMs;
    out.push({
      key: 'recoveryWithinS',
      threshold: t.recoveryWithinS,
      actual: r === undefined || r === null ? null : r / 1000,
      pass: r !== undefined && r !== null && r <= t.recoveryWithinS * 1000,
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
