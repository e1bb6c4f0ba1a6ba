/**
 * What the recorders in front of the providers tell about a run: calls made against an open
 * breaker or inside a Retry-After, provider calls beyond what each answer's attempt trace
 * explains (duplicates), and degradations an answer hid (a lower tier or keyword retrieval not
 * declared in the answer).
 */
import { breakerKey } from './breaker-sample';
import { isEmbeddingsCall, type ProviderCall, type RequestRecord } from './records';

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/**
 * Client chat calls that reached a target inside one of its open intervals, or asked a model
 * inside one of that model's (`open` is keyed by target and by `<target>/<model>`), after
 * `graceMs`; each call counts once, under the breaker that was open (the target's first).
 * Probes are the breaker's own; RAG embeddings calls are bounded by their own budget, not routed.
 */
export function callsDuringOpen(
  calls: ProviderCall[],
  open: Record<string, Array<[number, number]>>,
  graceMs: number,
): Record<string, number> {
  const out: Record<string, number> = {};
  const inside = (c: ProviderCall, key: string) => (open[key] ?? []).some(([a, b]) => c.at >= a + graceMs && c.at < b);
  for (const c of calls) {
    if (c.probe || isEmbeddingsCall(c)) continue;
    const key = [c.target, ...(c.model === undefined ? [] : [breakerKey(c.target, c.model)])].find((k) => inside(c, k));
    if (key) out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/** Calls to a target inside a Retry-After it answered (after a short grace for calls already on their way). */
export function retryAfterViolations(calls: ProviderCall[], graceMs: number): { calls: number; probes: number; detail: string[] } {
  const out = { calls: 0, probes: 0, detail: [] as string[] };
  const byTarget: Record<string, ProviderCall[]> = {};
  for (const c of calls) (byTarget[c.target] ??= []).push(c);
  for (const [target, list] of Object.entries(byTarget)) {
    list.sort((a, b) => a.at - b.at);
    let until = -Infinity;
    let from = -Infinity;
    for (const c of list) {
      if (c.at > from && c.at < until) {
        if (c.probe) out.probes++;
        else {
          out.calls++;
          if (out.detail.length < 5) out.detail.push(`${target} at ${fmt(c.at)} (Retry-After until ${fmt(until)})`);
        }
      }
      if (c.status === 429 && c.retryAfterS !== undefined && c.endedAt !== undefined) {
        const end = c.endedAt + c.retryAfterS * 1000;
        if (end > until) {
          until = end;
          from = c.endedAt + graceMs;
        }
      }
    }
  }
  return out;
}

/** Provider calls beyond what the answers' traces explain. */
export interface Duplicates {
  /** Chat calls beyond the trace (or, without a trace, complete answers beyond the first). */
  calls: number;
  /** Requests that caused at least one. */
  requests: number;
  /** Requests judged without a trace (their answer or error carried none). */
  withoutTrace: number;
  detail: string[];
}

/** Provider calls a trace accounts for: each attempt is one call plus its retries. */
export function explainedCalls(r: Pick<RequestRecord, 'attempts'>): number | undefined {
  return r.attempts?.reduce((n, a) => n + 1 + (a.retries ?? 0), 0);
}

/**
 * Counts chat calls per request (by its nonce) beyond what its attempt trace explains: a retry,
 * failover, hedge or continuation is in the trace; a second workflow for the same request (a
 * client retry the gateway did not recognise) or a call repeated after a crash is not.
 */
export function duplicateCalls(requests: RequestRecord[], calls: ProviderCall[]): Duplicates {
  const seen = new Map<string, { all: number; completed: number }>();
  for (const c of calls) {
    if (c.probe || !c.nonce || isEmbeddingsCall(c)) continue;
    const s = seen.get(c.nonce) ?? { all: 0, completed: 0 };
    s.all++;
    if (c.completed) s.completed++;
    seen.set(c.nonce, s);
  }
  const out: Duplicates = { calls: 0, requests: 0, withoutTrace: 0, detail: [] };
  for (const r of requests) {
    const s = seen.get(r.nonce);
    if (!s) continue;
    const explained = explainedCalls(r);
    if (explained === undefined) out.withoutTrace++;
    const extra = explained === undefined ? Math.max(0, s.completed - 1) : Math.max(0, s.all - explained);
    if (!extra) continue;
    out.calls += extra;
    out.requests++;
    if (out.detail.length < 5)
      out.detail.push(
        `#${r.id} (${r.kind}): ${s.all} calls, ` +
          (explained === undefined ? `${s.completed} complete answers, no trace` : `trace explains ${explained}`),
      );
  }
  return out;
}

/** Answers that changed what was asked without saying so. */
export interface Undeclared {
  /** Answered by a model of another tier without a `model` degradation. */
  model: number;
  /** RAG answers whose query embedding failed (as the recorder saw it) without a `data` degradation. */
  data: number;
  detail: string[];
}

/**
 * Degradations an answer hid. `tierOf` names a model's tier (a tier name is its own tier); an
 * answer from the requested model or one of its tier is no degradation.
 */
export function undeclaredDegradations(
  requests: RequestRecord[],
  calls: ProviderCall[],
  requestedModel: string | undefined,
  tierOf: (model: string) => string | undefined,
): Undeclared {
  const embeddings = new Map<string, { all: number; completed: number }>();
  for (const c of calls) {
    if (!c.nonce || !isEmbeddingsCall(c)) continue;
    const e = embeddings.get(c.nonce) ?? { all: 0, completed: 0 };
    e.all++;
    if (c.completed) e.completed++;
    embeddings.set(c.nonce, e);
  }
  const wanted = requestedModel && (tierOf(requestedModel) ?? requestedModel);
  const out: Undeclared = { model: 0, data: 0, detail: [] };
  const declared = (r: RequestRecord, kind: string) => (r.degraded ?? '').split(',').includes(kind);
  for (const r of requests) {
    if (!r.ok) continue;
    if (wanted && r.model && r.model !== requestedModel && (tierOf(r.model) ?? r.model) !== wanted && !declared(r, 'model')) {
      out.model++;
      if (out.detail.length < 5) out.detail.push(`#${r.id} (${r.kind}) answered by ${r.model} for ${requestedModel}, no model degradation`);
    }
    const e = embeddings.get(r.nonce);
    if (r.kind === 'rag' && e && e.completed === 0 && !declared(r, 'data')) {
      out.data++;
      if (out.detail.length < 5) out.detail.push(`#${r.id} (rag): the query embedding failed, no data degradation`);
    }
  }
  return out;
}

/** Requests sent with an Idempotency-Key: how many were sent again, and keys that got more than one job. */
export function idempotencyOf(requests: RequestRecord[]): { keys: number; resent: number; duplicateJobs: number; detail: string[] } {
  const out = { keys: 0, resent: 0, duplicateJobs: 0, detail: [] as string[] };
  for (const r of requests) {
    if (!r.idempotency) continue;
    out.keys++;
    if (r.idempotency.sends > 1) out.resent++;
    const ids = new Set(r.idempotency.jobIds);
    if (ids.size > 1) {
      out.duplicateJobs++;
      if (out.detail.length < 5) out.detail.push(`key ${r.idempotency.key} (${r.kind}): ${ids.size} jobs ${[...ids].join(', ')}`);
    }
  }
  return out;
}
