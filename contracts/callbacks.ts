/**
 * Result callbacks of long jobs: the job workflow hands the job's final view to a delivery
 * workflow that POSTs it, signed, to `callbackUrl`, retried with backoff by Temporal. Pure.
 */
import type { JobView } from './jobs';
import type { RequestWorkflowInput } from './workflow-api';

/** Workflow type of a job that has a callbackUrl (runs the request, then starts the delivery). */
export const JOB_WORKFLOW = 'aiJobWorkflow';
/** Workflow type of one callback delivery. */
export const CALLBACK_WORKFLOW = 'callbackDeliveryWorkflow';
/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export const SIGNATURE_HEADER = 'x-stormproof-signature';
/**
 * Header naming one delivery, the same on every retry of it: a POST is at-least-once (a worker
 * may die after the receiver's 2xx), so receivers keep the ids they processed and drop repeats.
 */
export const DELIVERY_ID_HEADER = 'x-stormproof-delivery-id';

/** Retry policy of a delivery, copied from the config by the API (workflows read no config). */
export interface CallbackPolicy {
  maxAttempts: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  timeoutMs: number;
}

/** Input of the job workflow. */
export interface JobWorkflowInput extends RequestWorkflowInput {
  callbackUrl: string;
  callbackPolicy: CallbackPolicy;
}

/** Input of the delivery workflow and its activity. No secret: the worker signs with its own. */
export interface CallbackDelivery {
  url: string;
  jobId: string;
  payload: JobView;
}

/** What a successful delivery returns. */
export interface CallbackReceipt {
  status: number;
  attempts: number;
  deliveredAt: string;
}

/** Workflow id of a job's delivery (not a job id, so it never shows as a job). */
export function callbackWorkflowId(jobId: string): string {
  return `callback-${jobId}`;
}
