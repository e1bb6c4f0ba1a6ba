/**
 * FROZEN: the request workflow as it was before plan → attempt → trace (commit b31a772). Histories
 * recorded without the `request-plan-attempt-trace` patch marker replay here, and workflows started
 * before that change finish here (docs/replay.md). Do not change what it does: only import paths
 * and the two v1 shapes (types-v1.ts) differ from the original.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../../activities/types';
import { FailureType, GatewayFailure, REQUEST_FAULTS } from '../../contracts/failures';
import type { AiRequest } from '../../contracts/request';
import type { Attempt } from '../../contracts/response';
import { gatewaySink, type AiResponse, type RequestProgress } from './types-v1';
import type { Candidate, HedgeReport, ProviderCallResult, ProviderFailureDetails, RoutingSnapshot } from '../../contracts/routing';
import { PROGRESS_QUERY, type RequestWorkflowInput } from '../../contracts/workflow-api';
import { summarizeFailure, type FailureSummary } from '../failure';
import { fastCall, retrievalCall, SNAPSHOT_OPTIONS, streamCall } from '../options';
import { augmentWithPassages, dataDegradationOf, retrievalInputOf, sourcesOf } from '../rag';
import type { RetrievalResult } from '../../contracts/retrieval';
import { planRoute } from '../selector';
import { searchAttributeUpdates } from '../search-attributes';
import { degradationAllowed, degradationSteps, modelDegradation, type DegradationStep } from '../degrade';

export const progressQuery = defineQuery<RequestProgress>(PROGRESS_QUERY);

const { getRoutingSnapshot } = proxyLocalActivities<activities.RoutingActivities>(SNAPSHOT_OPTIONS);

/** A readable story of the attempts so far, for the Web UI's "current details". */
function story(candidates: Candidate[], attempts: Attempt[]): string {
  const lines = attempts.map(
    (a, i) =>
      `${i + 1}. ${a.target} (${a.model}): ${a.outcome}${a.error ? ` - ${a.error}` : ''}${a.retries ? ` after ${a.retries} retries` : ''}`,
  );
  const plan = candidates.map((c) => `${c.target}/${c.model}${c.lastResort ? ` (${c.lastResort})` : ''}`).join(' → ');
  return [`**Candidates:** ${plan}`, '', ...lines].join('\n');
}

/** Patch id of the rule below (and of honouring allowDegradation: false for the mode switch). */
const NO_BUFFERED_RETRY_PATCH = 'no-buffered-retry-of-a-silent-target';

/** Failures after which the same target is not asked again in buffered mode. */
const NO_BUFFERED_RETRY = new Set<string>([
  FailureType.Unavailable,
  FailureType.Timeout,
  FailureType.Stalled,
  FailureType.RateLimited,
  FailureType.BadAnswer,
]);

/** Limits of one try: what is left of the request's budget, and when to report it slow. */
interface AttemptLimits {
  timeoutMs?: number;
  slowAfterMs?: number;
  /** Hedge with this candidate after `slowAfterMs` (inside the same local activity). */
  hedgeWith?: Candidate;
  firstTokenMs?: number;
}

/** Below this much budget no new try starts. */
const MIN_ATTEMPT_MS = 100;

/** The limits of the next try, or undefined when the request's budget is spent. */
function attemptLimits(snapshot: RoutingSnapshot, deadline: number | undefined): AttemptLimits | undefined {
  if (deadline === undefined) return {};
  const left = deadline - Date.now();
  if (left < MIN_ATTEMPT_MS) return undefined;
  return { timeoutMs: Math.min(snapshot.policy.callMs, left) };
}

/**
 * How long to wait for a candidate before hedging with the next one (0: do not hedge): fixed, or
 * a multiple of the target's observed latency, clamped; unknown latency waits the maximum.
 */
function hedgeDelay(snapshot: RoutingSnapshot, c: Candidate, timeoutMs: number | undefined): number {
  const h = snapshot.policy.hedge;
  if (!h) return 0;
  const t = snapshot.targets.find((x) => x.id === c.target);
  const delay = hedgeWait(h, t?.callLatencyMs ?? t?.latencyMs, h.maxMs) ?? h.maxMs;
  return delay > 0 && (timeoutMs === undefined || delay < timeoutMs) ? delay : 0;
}

/** The hedge rule: the fixed delay, else `latencyMultiple` × what was observed, within minMs..max. */
function hedgeWait(h: NonNullable<RoutingSnapshot['policy']['hedge']>, observedMs: number | undefined, maxMs: number): number | undefined {
  if (h.afterMs !== undefined) return h.afterMs;
  return observedMs === undefined ? undefined : Math.min(maxMs, Math.max(h.minMs, Math.round(observedMs * h.latencyMultiple)));
}

/**
 * Streams: how long to wait for the first token before failing over, when another candidate is
 * left. Before the first token nothing reached the client, so giving up is free; the wait is the
 * hedge rule applied to the target's observed time to first token, never above streamIdleMs.
 */
function firstTokenLimit(snapshot: RoutingSnapshot, c: Candidate): number | undefined {
  const h = snapshot.policy.hedge;
  if (!h) return undefined;
  if (h.afterMs === 0) return undefined;
  const limit = hedgeWait(h, snapshot.targets.find((x) => x.id === c.target)?.ttftMs, Infinity);
  return limit === undefined || limit >= snapshot.policy.streamIdleMs ? undefined : limit;
}

/** What one try of one candidate came to. */
type Outcome =
  | { kind: 'ok'; candidate: Candidate; answer: ProviderCallResult; durationMs: number }
  | { kind: 'failed'; candidate: Candidate; failure: FailureSummary; durationMs: number }
  /** Lost a hedge: cancelled because the other candidate answered first. */
  | { kind: 'hedged'; candidate: Candidate; durationMs: number };

/**
 * One try, as tagged outcomes: one, or two when a hedge was started (the other call first, the
 * answer, if any, last). A cancellation propagates.
 */
async function attempt(
  c: Candidate,
  request: AiRequest,
  index: number,
  total: number,
  ctx: CallContext,
  previous: Attempt | undefined,
  limits: AttemptLimits = {},
): Promise<Outcome[]> {
  const startedAt = Date.now(); // the workflow clock: deterministic on replay
  const partner = limits.hedgeWith;
  const other = (r: HedgeReport): Outcome => {
    const candidate = partner && r.target === partner.target && r.model === partner.model ? partner : c;
    return r.outcome === 'Hedged'
      ? { kind: 'hedged', candidate, durationMs: Math.round(r.durationMs) }
      : {
          kind: 'failed',
          candidate,
          failure: { type: r.outcome, message: r.error ?? r.outcome, retries: 0, chunks: 0, partialText: '' },
          durationMs: Math.round(r.durationMs),
        };
  };
  try {
    const answer = await callCandidate(c, request, index, total, ctx, previous, limits);
    const { hedge, ...rest } = answer;
    const winner = hedge && partner && answer.target === partner.target ? partner : c;
    const ok: Outcome = { kind: 'ok', candidate: winner, answer: rest, durationMs: Date.now() - startedAt };
    return hedge ? [other(hedge), ok] : [ok];
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = summarizeFailure(err);
    const cause = err instanceof ActivityFailure ? err.cause : err;
    const hedge = cause instanceof ApplicationFailure ? (cause.details?.[0] as ProviderFailureDetails | undefined)?.hedge : undefined;
    const mine: Outcome = { kind: 'failed', candidate: c, failure, durationMs: Date.now() - startedAt };
    return hedge ? [mine, other(hedge)] : [mine];
  }
}

/** Everything a candidate call needs besides the candidate. */
interface CallContext {
  input: RequestWorkflowInput;
  snapshot: RoutingSnapshot;
  progress: RequestProgress;
  /** Set once a stream was cut after tokens reached the client: the next target continues it. */
  continuation?: { text: string; from: string; cause: string };
}

function streamingCapable(snapshot: RoutingSnapshot, c: Candidate): boolean {
  return snapshot.targets.find((t) => t.id === c.target)?.models.find((m) => m.id === c.model)?.capabilities.streaming ?? true;
}

/**
 * Calls one candidate. A streaming request streams; when the target cannot stream, or its stream
 * fails before the first token, the same target is asked for a buffered answer instead (mode
 * degradation: the API still sends it to the client as a stream).
 */
async function callCandidate(
  c: Candidate,
  request: AiRequest,
  index: number,
  total: number,
  ctx: CallContext,
  previous?: Attempt,
  limits: AttemptLimits = {},
): Promise<ProviderCallResult> {
  const summary = `${index === 0 ? 'call' : 'failover to'} ${c.target} (${c.model}), candidate ${index + 1}/${total}${c.lastResort ? ` (last resort: ${c.lastResort})` : ''}`;
  const call = {
    target: c.target,
    model: c.model,
    request,
    jobId: workflowInfo().workflowId,
    streamTo: ctx.input.streamTo,
    ...(previous ? { failoverFrom: { target: previous.target, reason: previous.outcome } } : {}),
    ...(ctx.continuation ? { continuation: { text: ctx.continuation.text } } : {}),
    ...(limits.timeoutMs !== undefined ? { timeoutMs: limits.timeoutMs } : {}),
    ...(limits.slowAfterMs !== undefined ? { slowAfterMs: limits.slowAfterMs } : {}),
    ...(limits.firstTokenMs !== undefined ? { firstTokenMs: limits.firstTokenMs } : {}),
  };
  const buffered = (why: string) => {
    if (!ctx.progress.degradations.some((d) => d.kind === 'mode'))
      ctx.progress.degradations.push({ kind: 'mode', from: 'stream', to: 'buffered', reason: why });
    const { callProvider } = proxyLocalActivities<activities.ProviderActivities>(fastCall(ctx.snapshot.policy, `${summary}, buffered`));
    return callProvider({ ...call, request: { ...request, stream: false } });
  };
  if (!request.stream) {
    const h = limits.hedgeWith;
    const hedge = h && limits.slowAfterMs ? { target: h.target, model: h.model, afterMs: limits.slowAfterMs } : undefined;
    const { callProvider } = proxyLocalActivities<activities.ProviderActivities>(
      fastCall(ctx.snapshot.policy, hedge ? `${summary}, hedged by ${hedge.target} (${hedge.model}) after ${hedge.afterMs} ms` : summary),
    );
    return callProvider(hedge ? { ...call, hedge } : call);
  }
  if (!streamingCapable(ctx.snapshot, c)) return buffered(`${c.target} (${c.model}) does not stream`);
  const { streamProvider } = proxyActivities<activities.ProviderActivities>(streamCall(ctx.snapshot.policy, summary));
  try {
    return await streamProvider(call);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const f = summarizeFailure(err);
    // Buffered mode on the same target helps only when its streaming broke, not when the target is
    // down, silent or slow (fail over instead), and only when the request allows degradation.
    if (f.chunks > 0 || REQUEST_FAULTS.includes(f.type) || f.type === FailureType.Unavailable) throw err;
    // Patched: histories recorded before this rule took the buffered path here (docs/replay.md).
    if (patched(NO_BUFFERED_RETRY_PATCH)) {
      if (NO_BUFFERED_RETRY.has(f.type)) throw err;
      if (!(request.routing?.allowDegradation ?? ctx.snapshot.defaults.allowDegradation)) throw err;
    }
    ctx.progress.attempts.push({
      target: c.target,
      model: c.model,
      outcome: f.type,
      error: `stream: ${f.message}`,
      retries: f.retries,
      durationMs: 0,
    });
    return buffered(`the stream from ${c.target} failed before the first token (${f.type})`);
  }
}

/**
 * RAG: retrieves passages for a request that asks for them. A keyword fallback is a data
 * degradation, refused when the request forbids degradation.
 */
async function retrieveFor(request: AiRequest, snapshot: RoutingSnapshot, progress: RequestProgress): Promise<RetrievalResult | undefined> {
  const ask = retrievalInputOf(request, snapshot.rag?.defaultTopK ?? 4);
  if (!ask) return undefined;
  const { retrieve } = proxyLocalActivities<activities.RetrievalActivities>(retrievalCall(snapshot.rag?.vectorBudgetMs ?? 2_000));
  let result: RetrievalResult;
  try {
    result = await retrieve(ask);
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    if (cause instanceof ApplicationFailure) {
      throw ApplicationFailure.create({
        type: cause.type ?? 'RagUnavailable',
        message: cause.message,
        nonRetryable: true,
        details: [{ attempts: [], degradations: [] }],
      });
    }
    throw err;
  }
  const degraded = dataDegradationOf(result);
  if (degraded) {
    if (!degradationAllowed({ ...request, routing: { ...request.routing, pinModel: false } }, snapshot)) {
      throw ApplicationFailure.create({
        type: GatewayFailure.DataDegradationRefused,
        message: `vector retrieval failed (${degraded.reason}) and the request forbids degradation (routing.allowDegradation: false)`,
        nonRetryable: true,
        details: [{ attempts: [], degradations: [degraded] }],
      });
    }
    progress.degradations.push(degraded);
  }
  return result;
}

/** Serves one AI request; fails with the whole attempt trace when no target can. */
export async function aiRequestWorkflow(input: RequestWorkflowInput): Promise<AiResponse> {
  const progress: RequestProgress = { phase: 'queued', attempts: [], degradations: [] };
  setHandler(progressQuery, () => progress);
  const requestStartedAt = Date.now();

  try {
    const snapshot = await getRoutingSnapshot();
    const rag = await retrieveFor(input.request, snapshot, progress);
    if (rag) input = { ...input, request: augmentWithPassages(input.request, rag) };
    const { candidates, excluded } = planRoute(input.request, snapshot);
    if (candidates.length === 0) {
      throw ApplicationFailure.create({
        type: GatewayFailure.NoCandidate,
        message: `no configured target can serve model "${input.request.model}"${excluded.length ? `: ${excluded.map((e) => `${e.target}/${e.model} ${e.reason}`).join('; ')}` : ''}`,
        nonRetryable: true,
        details: [{ attempts: [], degradations: [] }],
      });
    }
    progress.phase = 'running';
    upsertSearchAttributes(searchAttributeUpdates({ model: input.request.model, status: 'running' }));
    const ctx: CallContext = { input, snapshot, progress };

    // Stage 0 is the requested model and its equivalents (failover); later stages walk the
    // degradation chain (a lower model, minus what it cannot do), each recorded in degradations.
    const { steps, skipped } = degradationSteps(input.request, snapshot);
    const stages = [{ model: input.request.model, request: input.request, candidates, step: undefined as DegradationStep | undefined }];
    const tried = new Set<string>();
    let shown = candidates;
    let failovers = 0;
    const budgetMs =
      snapshot.policy.requestMs === undefined ? undefined : (input.request.routing?.latencySloMs ?? snapshot.policy.requestMs);
    const deadline = budgetMs === undefined ? undefined : requestStartedAt + budgetMs;
    let budgetSpent = false;
    stages: for (let stageIndex = 0; ; stageIndex++) {
      if (stageIndex === stages.length) {
        const step = steps[stageIndex - 1];
        if (!step) break;
        stages.push({ model: step.model, request: step.request, candidates: planRoute(step.request, snapshot).candidates, step });
      }
      const stage = stages[stageIndex];
      const todo = stage.candidates.filter((c) => !tried.has(`${c.target}/${c.model}`));
      if (!todo.length) continue;
      if (stage.step) {
        const from = stages[stageIndex - 1].model;
        progress.degradations.push(modelDegradation(from, stage.step, `every target of ${from} failed`));
        shown = [...shown, ...todo];
      }
      for (let i = 0; i < todo.length; i++) {
        const c = todo[i];
        const limits = attemptLimits(snapshot, deadline);
        if (!limits) {
          budgetSpent = true;
          break stages;
        }
        tried.add(`${c.target}/${c.model}`);
        progress.currentTarget = c.target;
        const previous = progress.attempts[progress.attempts.length - 1];
        const partner = stage.request.stream ? undefined : todo[i + 1];
        // A stream with somewhere else to go gives up on a silent first token early.
        const firstTokenMs = stage.request.stream && todo[i + 1] && !ctx.continuation ? firstTokenLimit(snapshot, c) : undefined;
        if (firstTokenMs !== undefined) limits.firstTokenMs = firstTokenMs;
        const delay = partner ? hedgeDelay(snapshot, c, limits.timeoutMs) : 0;
        const outcomes = await attempt(
          c,
          stage.request,
          failovers,
          shown.length,
          ctx,
          previous,
          partner && delay > 0 ? { ...limits, slowAfterMs: delay, hedgeWith: partner } : limits,
        );
        if (outcomes.length > 1 && partner) {
          // The hedge was started: its candidate was tried too.
          tried.add(`${partner.target}/${partner.model}`);
          i += 1;
        }
        for (const o of outcomes) {
          if (o.kind === 'ok') continue;
          if (o.kind === 'hedged') {
            progress.attempts.push({
              target: o.candidate.target,
              model: o.candidate.model,
              outcome: 'Hedged',
              error: `hedged after ${delay} ms: the other call of the pair answered first, this one was aborted`,
              durationMs: o.durationMs,
            });
            failovers += 1;
            continue;
          }
          const f = o.failure;
          progress.attempts.push({
            target: o.candidate.target,
            model: o.candidate.model,
            outcome: f.type,
            error: f.message,
            retries: f.retries,
            durationMs: o.durationMs,
          });
          failovers += 1;
          if (f.chunks > 0 && stage.request.stream && (input.request.routing?.allowDegradation ?? snapshot.defaults.allowDegradation)) {
            // Tokens reached the client: the next target is asked to continue them, not restart.
            ctx.continuation = {
              text: (ctx.continuation?.text ?? '') + f.partialText,
              from: ctx.continuation?.from ?? o.candidate.target,
              cause: f.type,
            };
          }
        }
        setCurrentDetails(story(shown, progress.attempts));
        const won = outcomes.find((o) => o.kind === 'ok');
        if (won?.kind === 'ok') {
          const { answer, candidate } = won;
          progress.attempts.push({ target: candidate.target, model: answer.model, outcome: 'ok', durationMs: won.durationMs });
          if (ctx.continuation) {
            // Mid-stream failover: the client already has the first part; this target wrote the rest.
            const cont = ctx.continuation;
            answer.message = { ...answer.message, content: cont.text + (answer.message.content ?? '') };
            progress.degradations.push({
              kind: 'mode',
              from: `stream from ${cont.from}`,
              to: `continued on ${candidate.target}`,
              reason: `the stream was cut after ${cont.text.length} characters (${cont.cause}); ${candidate.target} (${candidate.model}) continued the same answer from there`,
            });
          }
          const result: AiResponse = {
            id: workflowInfo().workflowId,
            model: answer.model,
            target: answer.target,
            message: answer.message,
            finishReason: answer.finishReason,
            usage: answer.usage,
            attempts: progress.attempts,
            degradations: progress.degradations,
            ...(rag ? { sources: sourcesOf(rag) } : {}),
          };
          progress.phase = 'completed';
          progress.result = result;
          upsertSearchAttributes(searchAttributeUpdates({ target: candidate.target, failovers, status: 'completed' }));
          gatewaySink.requestFinished({
            status: 'completed',
            target: candidate.target,
            failovers,
            degradations: progress.degradations.map((d) => d.kind),
            durationMs: Date.now() - requestStartedAt,
          });
          setCurrentDetails(story(shown, progress.attempts));
          return result;
        }
        const fault = outcomes.find((o) => o.kind === 'failed' && REQUEST_FAULTS.includes(o.failure.type));
        if (fault?.kind === 'failed') {
          // The request itself is at fault: another target would refuse it too.
          throw ApplicationFailure.create({
            type: fault.failure.type,
            message: fault.failure.message,
            nonRetryable: true,
            details: [{ attempts: progress.attempts, degradations: progress.degradations }],
          });
        }
      }
    }
    const trace = progress.attempts.map((a) => `${a.target}: ${a.outcome}`).join('; ');
    const notTried = skipped.length ? `; not tried: ${skipped.map((x) => `${x.model} (${x.reason})`).join(', ')}` : '';
    const noDegrade = degradationAllowed(input.request, snapshot) ? '' : '; degradation is off for this request';
    const spent = budgetSpent ? `; the request's budget of ${budgetMs} ms is spent` : '';
    throw ApplicationFailure.create({
      type: GatewayFailure.Exhausted,
      message: `${budgetSpent ? `${tried.size} candidate(s) tried, all` : `all ${tried.size} candidate(s)`} failed (${trace})${notTried}${noDegrade}${spent}`,
      nonRetryable: true,
      details: [{ attempts: progress.attempts, degradations: progress.degradations }],
    });
  } catch (err) {
    progress.phase = isCancellation(err) ? 'cancelled' : 'failed';
    upsertSearchAttributes(searchAttributeUpdates({ status: progress.phase, failovers: Math.max(0, progress.attempts.length - 1) }));
    gatewaySink.requestFinished({
      status: progress.phase,
      failovers: Math.max(0, progress.attempts.length - 1),
      degradations: progress.degradations.map((d) => d.kind),
      durationMs: Date.now() - requestStartedAt,
    });
    throw err;
  }
}
