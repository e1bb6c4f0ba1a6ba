/**
 * The request workflow: one AI request, made durable, as plan → attempt → trace. It reads a
 * routing snapshot, retrieves passages when asked, makes the whole plan up front (plan.ts), walks
 * it one attempt at a time (walk.ts, attempt.ts) and keeps everything that happened in one trace
 * (trace.ts), which also owns the failover count every report reads.
 */
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  patched,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/types';
import { GatewayFailure } from '../contracts/failures';
import type { AiResponse } from '../contracts/response';
import type { RoutingSnapshot } from '../contracts/routing';
import { PROGRESS_QUERY, SNAPSHOT_MAX_AGE_MS, type RequestProgress, type RequestWorkflowInput } from '../contracts/workflow-api';
import { cancelledBy } from './failure';
import { aiRequestWorkflow as requestV1 } from './legacy/request-v1';
import { withTraceV1 } from './legacy/types-v1';
import { SNAPSHOT_OPTIONS } from './options';
import { responseOf } from './outcome';
import { deferLastResort, makePlan, type Plan } from './plan';
import { augmentWithPassages, sourcesOf } from './rag';
import { retrieveFor } from './retrieve';
import { searchAttributeUpdates } from './search-attributes';
import { gatewaySink } from './sinks';
import { Trace } from './trace';
import { walk } from './walk';

export const progressQuery = defineQuery<RequestProgress>(PROGRESS_QUERY);

/**
 * Why: histories recorded before plan → attempt → trace lack this marker and replay the frozen v1
 * workflow (workflows/legacy/request-v1.ts); a workflow that reaches this line for the first time
 * records it and runs the code below (docs/replay.md).
 */
export const PLAN_ATTEMPT_TRACE_PATCH = 'request-plan-attempt-trace';

/**
 * Why: a history without this marker (recorded before, or started by an older worker) reads its
 * snapshot through the local activity, retries a failing target as before and calls it locally;
 * a new execution may route on the input's snapshot, fail over without retrying while another
 * candidate is left, and call a slow target as a regular activity (docs/replay.md).
 */
export const LEAN_PATH_PATCH = 'request-lean-path';

/**
 * Why: a history without this marker tried a last-resort candidate (open breaker, quota, ...)
 * before the next degradation step, and replays that order; a new execution whose plan has one
 * in the way records the marker and calls the lower models that keep the request whole first
 * (plan.ts deferLastResort). Asked only when the order differs: no marker on other requests.
 */
export const LAST_RESORT_PATCH = 'last-resort-after-degradation';

const { getRoutingSnapshot } = proxyLocalActivities<activities.RoutingActivities>(SNAPSHOT_OPTIONS);

/** How many times a local activity cancelled by the worker (not the client) is run again. */
const INTERRUPTED_RETRIES = 2;

/** Runs `f` again when the worker, not the client, cancelled it (a cache eviction). */
async function againIfInterrupted<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (err) {
      if (i >= INTERRUPTED_RETRIES || cancelledBy(err, CancellationScope.current().consideredCancelled) !== 'worker') throw err;
    }
  }
}

/**
 * The routing snapshot: the input's, when the API took it just before the start (decided from the
 * input and the workflow clock, so replay decides the same); else read through a local activity,
 * trimmed to this request (histories without an input snapshot read it here, as they did).
 */
async function snapshotFor(input: RequestWorkflowInput, lean: boolean): Promise<RoutingSnapshot> {
  if (lean && input.snapshot && Date.now() - input.snapshot.takenAt <= SNAPSHOT_MAX_AGE_MS) return input.snapshot;
  const { model, routing, rag } = input.request;
  return againIfInterrupted(() => getRoutingSnapshot({ model, ...(routing ? { routing } : {}), ...(rag ? { rag } : {}) }));
}

/** A readable story of the plan and the attempts so far, for the Web UI's "current details". */
function story(plan: Plan | undefined, trace: Trace): string {
  const lines = trace.attempts.map(
    (a, i) =>
      `${i + 1}. ${a.target} (${a.model}): ${a.outcome}${a.error ? ` - ${a.error}` : ''}${a.retries ? ` after ${a.retries} retries` : ''}`,
  );
  const candidates = plan?.tries.map((t) => t.candidate) ?? [];
  const route = candidates.map((c) => `${c.target}/${c.model}${c.lastResort ? ` (${c.lastResort})` : ''}`).join(' → ');
  return [`**Plan:** ${route}`, `**Failovers:** ${trace.failovers}`, '', ...lines].join('\n');
}

/** Serves one AI request; fails with the whole trace when no target can. */
export async function aiRequestWorkflow(input: RequestWorkflowInput): Promise<AiResponse> {
  if (!patched(PLAN_ATTEMPT_TRACE_PATCH)) return withTraceV1(await requestV1(input));
  const lean = patched(LEAN_PATH_PATCH);
  const startedAt = Date.now();
  const trace = new Trace();
  const state: Pick<RequestProgress, 'phase' | 'currentTarget' | 'result'> = { phase: 'queued' };
  setHandler(progressQuery, () => ({ ...state, ...trace.view() }));
  let plan: Plan | undefined;
  const finish = (status: 'completed' | 'failed' | 'cancelled', target?: string, errorType?: string) => {
    // One upsert per request: the model and `queued` were set when it was started.
    upsertSearchAttributes(
      searchAttributeUpdates({ model: input.request.model, ...(target ? { target } : {}), failovers: trace.failovers, status }),
    );
    gatewaySink.requestFinished({
      status,
      ...(target ? { target } : {}),
      // The metrics count a request the client got wrong as rejected, not failed (not the SLI's fault).
      ...(errorType ? { errorType } : {}),
      failovers: trace.failovers,
      degradations: trace.degradations.map((d) => d.kind),
      durationMs: Date.now() - startedAt,
      switches: trace.switches.map((s) => ({ from: s.from, to: s.to, reason: s.reason })),
      ...(plan?.tier ? { tier: plan.tier } : {}),
    });
    setCurrentDetails(story(plan, trace));
  };

  try {
    const snapshot = await snapshotFor(input, lean);
    const rag = await retrieveFor(input.request, snapshot, trace, againIfInterrupted);
    const request = rag ? augmentWithPassages(input.request, rag) : input.request;
    plan = makePlan(request, snapshot);
    const deferred = deferLastResort(plan);
    if (deferred && patched(LAST_RESORT_PATCH)) plan = deferred;
    if (plan.stages[0].candidates.length === 0) {
      const why = plan.excluded.map((e) => `${e.target}/${e.model} ${e.reason}`).join('; ');
      throw trace.fail(GatewayFailure.NoCandidate, `no configured target can serve model "${request.model}"${why ? `: ${why}` : ''}`);
    }
    state.phase = 'running';
    const sources = rag ? sourcesOf(rag) : undefined;
    const served = await walk({
      plan,
      snapshot,
      trace,
      jobId: workflowInfo().workflowId,
      ...(input.streamTo !== undefined ? { streamTo: input.streamTo } : {}),
      ...(plan.budgetMs !== undefined ? { deadline: startedAt + plan.budgetMs } : {}),
      answerEarly: sources ? { sources } : {},
      lean,
      onProgress: (target) => {
        if (target) state.currentTarget = target;
        setCurrentDetails(story(plan, trace));
      },
    });
    const result: AiResponse = responseOf(workflowInfo().workflowId, served.answer, trace, sources);
    state.phase = 'completed';
    state.result = result;
    finish('completed', served.target);
    return result;
  } catch (err) {
    const by = cancelledBy(err, CancellationScope.current().consideredCancelled);
    state.phase = by === 'client' ? 'cancelled' : 'failed';
    finish(state.phase, undefined, err instanceof ApplicationFailure ? (err.type ?? undefined) : undefined);
    // A cancellation the client did not ask for fails the request with its trace, never as a cancel.
    if (by === 'worker') {
      const why = err instanceof Error ? err.message : String(err);
      throw trace.fail(GatewayFailure.Interrupted, `the request was interrupted by the worker, not the client: ${why}`);
    }
    throw err;
  }
}
