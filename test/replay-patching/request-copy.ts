/**
 * A frozen copy of the request workflow (workflows/request.ts as the fixtures were recorded,
 * commit 6ce7ee7), with one hook before each provider call, for the safe-change demo in
 * test/replay-patching.test.ts. Test-only: bundled on its own, never registered by a production
 * worker. Its baseline variant (no hook) must replay the request fixtures; if that ever fails,
 * refresh this copy from the code the fixtures were recorded with, never the fixtures.
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
import type * as activities from '../../activities/types';
import { GatewayFailure, REQUEST_FAULTS } from '../../contracts/failures';
import type { Attempt } from '../../contracts/response';
import type { Candidate, ProviderCallResult, RoutingSnapshot } from '../../contracts/routing';
import { PROGRESS_QUERY, type RequestWorkflowInput } from '../../contracts/workflow-api';
import { summarizeFailure } from '../../workflows/failure';
import { fastCall, SNAPSHOT_OPTIONS, streamCall } from '../../workflows/options';
import { planRoute } from '../../workflows/selector';
import { searchAttributeUpdates } from '../../workflows/search-attributes';
// The shapes of the time (no failover count in answers or metrics), as the frozen v1 workflow uses them.
import { gatewaySink, type AiResponse, type RequestProgress } from '../../workflows/legacy/types-v1';

/** What a variant does right before each provider call. */
export type BeforeCall = (c: Candidate) => Promise<void>;

export const progressQuery = defineQuery<RequestProgress>(PROGRESS_QUERY);

export const { getRoutingSnapshot } = proxyLocalActivities<activities.RoutingActivities>(SNAPSHOT_OPTIONS);

/** A readable story of the attempts so far, for the Web UI's "current details". */
function story(candidates: Candidate[], attempts: Attempt[]): string {
  const lines = attempts.map(
    (a, i) =>
      `${i + 1}. ${a.target} (${a.model}): ${a.outcome}${a.error ? ` - ${a.error}` : ''}${a.retries ? ` after ${a.retries} retries` : ''}`,
  );
  const plan = candidates.map((c) => `${c.target}/${c.model}${c.lastResort ? ` (${c.lastResort})` : ''}`).join(' → ');
  return [`**Candidates:** ${plan}`, '', ...lines].join('\n');
}

async function callCandidate(
  c: Candidate,
  index: number,
  total: number,
  input: RequestWorkflowInput,
  snapshot: RoutingSnapshot,
  previous?: Attempt,
): Promise<ProviderCallResult> {
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

/** The request workflow with `beforeCall` run before each provider call. */
export function requestWorkflowWith(beforeCall: BeforeCall) {
  return async function aiRequestWorkflow(input: RequestWorkflowInput): Promise<AiResponse> {
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
          await beforeCall(c);
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
          gatewaySink.requestFinished({
            status: 'completed',
            target: c.target,
            failovers: index,
            degradations: progress.degradations.map((d) => d.kind),
            durationMs: Date.now() - requestStartedAt,
          });
          setCurrentDetails(story(candidates, progress.attempts));
          return result;
        } catch (err) {
          if (isCancellation(err)) throw err;
          const f = summarizeFailure(err);
          progress.attempts.push({
            target: c.target,
            model: c.model,
            outcome: f.type,
            error: f.message,
            retries: f.retries,
            durationMs: Date.now() - startedAt,
          });
          setCurrentDetails(story(candidates, progress.attempts));
          if (REQUEST_FAULTS.includes(f.type)) {
            // The request itself is at fault: another target would refuse it too.
            throw ApplicationFailure.create({
              type: f.type,
              message: f.message,
              nonRetryable: true,
              details: [{ attempts: progress.attempts, degradations: progress.degradations }],
            });
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
      gatewaySink.requestFinished({
        status: progress.phase,
        failovers: Math.max(0, progress.attempts.length - 1),
        degradations: progress.degradations.map((d) => d.kind),
        durationMs: Date.now() - requestStartedAt,
      });
      throw err;
    }
  };
}
