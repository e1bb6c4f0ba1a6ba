/**
 * The request workflow: one AI request, made durable. It reads a routing snapshot, ranks the
 * candidates, calls each in turn under a bounded retry policy and fails over until one answers.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/types';
import { FailureType, GatewayFailure, REQUEST_FAULTS } from '../contracts/failures';
import type { AiRequest } from '../contracts/request';
import type { AiResponse, Attempt } from '../contracts/response';
import type { Candidate, ProviderCallResult, RoutingSnapshot } from '../contracts/routing';
import { PROGRESS_QUERY, type RequestProgress, type RequestWorkflowInput } from '../contracts/workflow-api';
import { summarizeFailure } from './failure';
import { fastCall, retrievalCall, SNAPSHOT_OPTIONS, streamCall } from './options';
import { augmentWithPassages, dataDegradationOf, retrievalInputOf, sourcesOf } from './rag';
import type { RetrievalResult } from '../contracts/retrieval';
import { planRoute } from './selector';
import { searchAttributeUpdates } from './search-attributes';
import { gatewaySink } from './sinks';
import { degradationAllowed, degradationSteps, modelDegradation, type DegradationStep } from './degrade';

export const progressQuery = defineQuery<RequestProgress>(PROGRESS_QUERY);

const { getRoutingSnapshot } = proxyLocalActivities<activities.RoutingActivities>(SNAPSHOT_OPTIONS);

/** A readable story of the attempts so far, for the Web UI's "current details". */
function story(candidates: Candidate[], attempts: Attempt[]): string {
  const lines = attempts.map((a, i) => `${i + 1}. ${a.target} (${a.model}): ${a.outcome}${a.error ? ` - ${a.error}` : ''}${a.retries ? ` after ${a.retries} retries` : ''}`);
  const plan = candidates.map((c) => `${c.target}/${c.model}${c.lastResort ? ` (${c.lastResort})` : ''}`).join(' → ');
  return [`**Candidates:** ${plan}`, '', ...lines].join('\n');
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
async function callCandidate(c: Candidate, request: AiRequest, index: number, total: number, ctx: CallContext, previous?: Attempt): Promise<ProviderCallResult> {
  const summary = `${index === 0 ? 'call' : 'failover to'} ${c.target} (${c.model}), candidate ${index + 1}/${total}${c.lastResort ? ` (last resort: ${c.lastResort})` : ''}`;
  const call = {
    target: c.target,
    model: c.model,
    request,
    jobId: workflowInfo().workflowId,
    streamTo: ctx.input.streamTo,
    ...(previous ? { failoverFrom: { target: previous.target, reason: previous.outcome } } : {}),
    ...(ctx.continuation ? { continuation: { text: ctx.continuation.text } } : {}),
  };
  const buffered = (why: string) => {
    if (!ctx.progress.degradations.some((d) => d.kind === 'mode')) ctx.progress.degradations.push({ kind: 'mode', from: 'stream', to: 'buffered', reason: why });
    const { callProvider } = proxyLocalActivities<activities.ProviderActivities>(fastCall(ctx.snapshot.policy, `${summary}, buffered`));
    return callProvider({ ...call, request: { ...request, stream: false } });
  };
  if (!request.stream) {
    const { callProvider } = proxyLocalActivities<activities.ProviderActivities>(fastCall(ctx.snapshot.policy, summary));
    return callProvider(call);
  }
  if (!streamingCapable(ctx.snapshot, c)) return buffered(`${c.target} (${c.model}) does not stream`);
  const { streamProvider } = proxyActivities<activities.ProviderActivities>(streamCall(ctx.snapshot.policy, summary));
  try {
    return await streamProvider(call);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const f = summarizeFailure(err);
    if (f.chunks > 0 || REQUEST_FAULTS.includes(f.type) || f.type === FailureType.Unavailable) throw err;
    ctx.progress.attempts.push({ target: c.target, model: c.model, outcome: f.type, error: `stream: ${f.message}`, retries: f.retries, durationMs: 0 });
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
      throw ApplicationFailure.create({ type: cause.type ?? 'RagUnavailable', message: cause.message, nonRetryable: true, details: [{ attempts: [], degradations: [] }] });
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
    for (let stageIndex = 0; ; stageIndex++) {
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
      for (const c of todo) {
        tried.add(`${c.target}/${c.model}`);
        progress.currentTarget = c.target;
        const startedAt = Date.now(); // the workflow clock: deterministic on replay
        try {
          const answer = await callCandidate(c, stage.request, failovers, shown.length, ctx, progress.attempts[progress.attempts.length - 1]);
          progress.attempts.push({ target: c.target, model: answer.model, outcome: 'ok', durationMs: Date.now() - startedAt });
          if (ctx.continuation) {
            // Mid-stream failover: the client already has the first part; this target wrote the rest.
            const cont = ctx.continuation;
            answer.message = { ...answer.message, content: cont.text + (answer.message.content ?? '') };
            progress.degradations.push({
              kind: 'mode',
              from: `stream from ${cont.from}`,
              to: `continued on ${c.target}`,
              reason: `the stream was cut after ${cont.text.length} characters (${cont.cause}); ${c.target} (${c.model}) continued the same answer from there`,
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
          upsertSearchAttributes(searchAttributeUpdates({ target: c.target, failovers, status: 'completed' }));
          gatewaySink.requestFinished({ status: 'completed', target: c.target, failovers, degradations: progress.degradations.map((d) => d.kind), durationMs: Date.now() - requestStartedAt });
          setCurrentDetails(story(shown, progress.attempts));
          return result;
        } catch (err) {
          if (isCancellation(err)) throw err;
          const f = summarizeFailure(err);
          progress.attempts.push({ target: c.target, model: c.model, outcome: f.type, error: f.message, retries: f.retries, durationMs: Date.now() - startedAt });
          setCurrentDetails(story(shown, progress.attempts));
          failovers += 1;
          if (f.chunks > 0 && stage.request.stream && (input.request.routing?.allowDegradation ?? snapshot.defaults.allowDegradation)) {
            // Tokens reached the client: the next target is asked to continue them, not restart.
            ctx.continuation = { text: (ctx.continuation?.text ?? '') + f.partialText, from: ctx.continuation?.from ?? c.target, cause: f.type };
          }
          if (REQUEST_FAULTS.includes(f.type)) {
            // The request itself is at fault: another target would refuse it too.
            throw ApplicationFailure.create({ type: f.type, message: f.message, nonRetryable: true, details: [{ attempts: progress.attempts, degradations: progress.degradations }] });
          }
        }
      }
    }
    const trace = progress.attempts.map((a) => `${a.target}: ${a.outcome}`).join('; ');
    const notTried = skipped.length ? `; not tried: ${skipped.map((x) => `${x.model} (${x.reason})`).join(', ')}` : '';
    const noDegrade = degradationAllowed(input.request, snapshot) ? '' : '; degradation is off for this request';
    throw ApplicationFailure.create({
      type: GatewayFailure.Exhausted,
      message: `all ${tried.size} candidate(s) failed (${trace})${notTried}${noDegrade}`,
      nonRetryable: true,
      details: [{ attempts: progress.attempts, degradations: progress.degradations }],
    });
  } catch (err) {
    progress.phase = isCancellation(err) ? 'cancelled' : 'failed';
    upsertSearchAttributes(searchAttributeUpdates({ status: progress.phase, failovers: Math.max(0, progress.attempts.length - 1) }));
    gatewaySink.requestFinished({ status: progress.phase, failovers: Math.max(0, progress.attempts.length - 1), degradations: progress.degradations.map((d) => d.kind), durationMs: Date.now() - requestStartedAt });
    throw err;
  }
}
