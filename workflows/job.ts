/**
 * Jobs with a `callbackUrl`: the request workflow's logic, then a detached delivery workflow that
 * POSTs the final job view to the URL. Detached (ABANDON) so the job completes at once and its
 * status is never held up by a slow or broken receiver.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type * as activities from '../activities/types';
import {
  callbackWorkflowId,
  type CallbackDelivery,
  type CallbackPolicy,
  type CallbackReceipt,
  type JobWorkflowInput,
} from '../contracts/callbacks';
import type { JobView } from '../contracts/jobs';
import type { AiResponse, Attempt, Degradation } from '../contracts/response';
import { aiRequestWorkflow } from './request';

/** Delivers one callback; Temporal retries the POST with exponential backoff up to the policy's limit. */
export async function callbackDeliveryWorkflow(delivery: CallbackDelivery, policy: CallbackPolicy): Promise<CallbackReceipt> {
  const { deliverCallback } = proxyActivities<activities.CallbackActivities>({
    startToCloseTimeout: policy.timeoutMs,
    // Why: a receiver that is down for a while still gets the result, but not forever.
    retry: {
      maximumAttempts: policy.maxAttempts,
      initialInterval: policy.initialIntervalMs,
      maximumInterval: policy.maxIntervalMs,
      backoffCoefficient: 2,
      nonRetryableErrorTypes: ['CallbackNotConfigured'],
    },
    summary: `POST result of ${delivery.jobId}`,
  });
  try {
    return await deliverCallback(delivery);
  } catch (err) {
    // Keep how many tries were made, for the job record.
    const attempts = err instanceof ActivityFailure && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED' ? policy.maxAttempts : 1;
    const message = err instanceof ActivityFailure && err.cause ? err.cause.message : err instanceof Error ? err.message : String(err);
    throw ApplicationFailure.create({ type: 'CallbackFailed', message, nonRetryable: true, details: [{ attempts }] });
  }
}

function failedView(id: string, err: unknown): JobView {
  const f = err instanceof ApplicationFailure ? err : undefined;
  const details = (f?.details?.[0] ?? {}) as { attempts?: Attempt[]; degradations?: Degradation[] };
  return {
    id,
    status: 'failed',
    error: { type: f?.type ?? 'Error', message: err instanceof Error ? err.message : String(err) },
    attempts: details.attempts ?? [],
    degradations: details.degradations ?? [],
  };
}

async function startDelivery(input: JobWorkflowInput, payload: JobView): Promise<void> {
  const delivery: CallbackDelivery = { url: input.callbackUrl, jobId: payload.id, payload };
  await startChild(callbackDeliveryWorkflow, {
    workflowId: callbackWorkflowId(payload.id),
    args: [delivery, input.callbackPolicy],
    parentClosePolicy: 'ABANDON',
    staticSummary: `callback of ${payload.id} to ${input.callbackUrl.replace(/^(https?:\/\/[^/?#]+).*$/, '$1')}`,
  });
}

/** A job with a callback: serves the request, then starts the delivery of its outcome. */
export async function aiJobWorkflow(input: JobWorkflowInput): Promise<AiResponse> {
  const id = workflowInfo().workflowId;
  let result: AiResponse;
  try {
    result = await aiRequestWorkflow(input);
  } catch (err) {
    if (isCancellation(err)) throw err; // a cancelled job is not reported
    await startDelivery(input, failedView(id, err));
    throw err;
  }
  await startDelivery(input, { id, status: 'completed', result, attempts: result.attempts, degradations: result.degradations });
  return result;
}
