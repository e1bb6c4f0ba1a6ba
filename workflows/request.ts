/**
 * The request workflow: one AI request, made durable. It reads a routing snapshot, ranks the
 * candidates, calls each in turn under a bounded retry policy and fails over until one answers.
 */
import {
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
import { GatewayFailure, REQUEST_FAULTS } from '../contracts/failures';
import type { AiResponse, Attempt } from '../contracts/response';
import type { Candidate, ProviderCallResult, RoutingSnapshot } from '../contracts/routing';
import { PROGRESS_QUERY, type RequestProgress, type RequestWorkflowInput } from '../contracts/workflow-api';
import { summarizeFailure } from './failure';
import { fastCall, SNAPSHOT_OPTIONS, streamCall } from './options';
import { planRoute } from './selector';
import { searchAttributeUpdates } from './search-attributes';
import { gatewaySink } from './sinks';

export const progressQuery = defineQuery<RequestProgress>(PROGRESS_QUERY);

const { getRoutingSnapshot } = proxyLocalActivities<activities.RoutingActivities>(SNAPSHOT_OPTIONS);

/** A readable story of the attempts so far, for the Web UI's "current details". */
function story(candidates: Candidate[], attempts: Attempt[]): string {
  const lines = attempts.map((a, i) => `${i + 1}. ${a.target} (${a.model}): ${a.outcome}${a.error ? ` - ${a.error}` : ''}${a.retries ? ` after ${a.retries} retries` : ''}`);
  const plan = candidates.map((c) => `${c.target}/${c.model}${c.lastResort ? ` (${c.lastResort})` : ''}`).join(' → ');
  return [`**Candidates:** ${plan}`, '', ...lines].join('\n');
}

async function callCandidate(c: Candidate, index: number, total: number, input: RequestWorkflowInput, snapshot: RoutingSnapshot, previous?: Attempt): Promise<ProviderCallResult> {
  const summary = `${index === 0 ? 'call' : 'failover to'} ${c.target} (${c.model}), candidate ${index + 1}/${total}${c.lastResort ? ` (last resort: ${c.lastResort})` : ''}`;
  const call = {
    target: c.target,
    model: c.model,
    request: input.request,
    jobId: workflowInfo().workflowId,
    streamTo: input.streamTo,
    ...(previous ? { failoverFrom: { target: previous.target, reason: previous.outcome } } : {}),
  };
  if (input.request.stream) {
    const { streamProvider } = proxyActivities<activities.ProviderActivities>(streamCall(snapshot.policy, summary));
    return streamProvider(call);
  }
  const { callProvider } = proxyLocalActivities<activities.ProviderActivities>(fastCall(snapshot.policy, summary));
  return callProvider(call);
}

/** Serves one AI request; fails with the whole attempt trace when no target can. */
export async function aiRequestWorkflow(input: RequestWorkflowInput): Promise<AiResponse> {
  const progress: RequestProgress = { phase: 'queued', attempts: [], degradations: [] };
  setHandler(progressQuery, () => progress);
  const requestStartedAt = Date.now();

  try {
    const snapshot = await getRoutingSnapshot();
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

    for (const [index, c] of candidates.entries()) {
      progress.currentTarget = c.target;
      const startedAt = Date.now(); // the workflow clock: deterministic on replay
      try {
        const answer = await callCandidate(c, index, candidates.length, input, snapshot, progress.attempts[progress.attempts.length - 1]);
        progress.attempts.push({ target: c.target, model: answer.model, outcome: 'ok', durationMs: Date.now() - startedAt });
        const result: AiResponse = {
          id: workflowInfo().workflowId,
          model: answer.model,
          target: answer.target,
          message: answer.message,
          finishReason: answer.finishReason,
          usage: answer.usage,
          attempts: progress.attempts,
          degradations: progress.degradations,
        };
        progress.phase = 'completed';
        progress.result = result;
        upsertSearchAttributes(searchAttributeUpdates({ target: c.target, failovers: index, status: 'completed' }));
        gatewaySink.requestFinished({ status: 'completed', target: c.target, failovers: index, degradations: progress.degradations.map((d) => d.kind), durationMs: Date.now() - requestStartedAt });
        setCurrentDetails(story(candidates, progress.attempts));
        return result;
      } catch (err) {
        if (isCancellation(err)) throw err;
        const f = summarizeFailure(err);
        progress.attempts.push({ target: c.target, model: c.model, outcome: f.type, error: f.message, retries: f.retries, durationMs: Date.now() - startedAt });
        setCurrentDetails(story(candidates, progress.attempts));
        if (REQUEST_FAULTS.includes(f.type)) {
          // The request itself is at fault: another target would refuse it too.
          throw ApplicationFailure.create({ type: f.type, message: f.message, nonRetryable: true, details: [{ attempts: progress.attempts, degradations: progress.degradations }] });
        }
      }
    }
    const trace = progress.attempts.map((a) => `${a.target}: ${a.outcome}`).join('; ');
    throw ApplicationFailure.create({
      type: GatewayFailure.Exhausted,
      message: `all ${candidates.length} candidate(s) failed (${trace})`,
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
