/** A job's view, read from Temporal: status, result or error, the attempt trace and degradations. */
import { WorkflowFailedError, WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { callbackWorkflowId, JOB_WORKFLOW, type CallbackReceipt } from '../contracts/callbacks';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { JobStatus, JobView } from '../contracts/jobs';
import type { AiResponse, Switch, TraceDetails } from '../contracts/response';
import { PROGRESS_QUERY, type RequestProgress } from '../contracts/workflow-api';

/** The trace a failure carries (empty for failures that carry none). */
type FailureDetails = Partial<TraceDetails>;

/** The error type and message of a failed workflow, plus the trace its failure carries. */
export function failureView(err: unknown): { error: { type: string; message: string }; details: FailureDetails } {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return { error: { type: cause.type ?? 'Error', message: cause.message }, details: (cause.details?.[0] as FailureDetails) ?? {} };
  }
  if (cause instanceof CancelledFailure) return { error: { type: 'Cancelled', message: 'the job was cancelled' }, details: {} };
  return { error: { type: 'Error', message: cause instanceof Error ? cause.message : String(cause) }, details: {} };
}

/** The failover fields of a trace, when it carries them (workflows started before they existed do not). */
function failoversOf(t: { failovers?: number; switches?: Switch[] }): Pick<JobView, 'failovers' | 'switches'> {
  return t.switches ? { failovers: t.failovers ?? t.switches.length, switches: t.switches } : {};
}

/** The progress query's answer, or undefined when no worker can answer right now. */
export async function queryProgress(handle: WorkflowHandle): Promise<RequestProgress | undefined> {
  try {
    return await handle.query<RequestProgress>(PROGRESS_QUERY);
  } catch {
    return undefined; // no worker to answer right now; the status still comes from Temporal
  }
}

/** Reads a job's view from Temporal. */
export async function readJob(client: Client, id: string): Promise<JobView> {
  return (await readJobState(client, id)).view;
}

/** A job's view plus, while it runs, the workflow's live progress (e.g. the current target). */
export async function readJobState(client: Client, id: string): Promise<{ view: JobView; progress?: RequestProgress }> {
  const handle: WorkflowHandle = client.workflow.getHandle(id);
  const desc = await handle.describe();
  if (desc.status.name === 'RUNNING' || desc.status.name === 'CONTINUED_AS_NEW') {
    const p = await queryProgress(handle);
    const status: JobStatus = !p || p.phase === 'queued' ? 'queued' : 'running';
    const callback = desc.type === JOB_WORKFLOW ? { callback: { status: 'pending' as const, attempts: 0 } } : {};
    return {
      view: { id, status, attempts: p?.attempts ?? [], degradations: p?.degradations ?? [], ...failoversOf(p ?? {}), ...callback },
      progress: p,
    };
  }
  const view = await finishedView(handle, desc.status.name);
  if (desc.type === JOB_WORKFLOW && view.status !== 'cancelled') view.callback = await callbackState(client, id);
  return { view };
}

/** Where the delivery of a job's result to its callbackUrl stands. */
export async function callbackState(client: Client, jobId: string): Promise<NonNullable<JobView['callback']>> {
  const handle = client.workflow.getHandle(callbackWorkflowId(jobId));
  let desc: Awaited<ReturnType<WorkflowHandle['describe']>>;
  try {
    desc = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { status: 'pending', attempts: 0 };
    throw err;
  }
  if (desc.status.name === 'RUNNING') {
    const pending = desc.raw.pendingActivities?.[0];
    const lastError = pending?.lastFailure?.message ?? undefined;
    return { status: 'pending', attempts: Math.max(0, (pending?.attempt ?? 1) - 1), ...(lastError ? { lastError } : {}) };
  }
  try {
    const receipt = (await handle.result()) as CallbackReceipt;
    return { status: 'delivered', attempts: receipt.attempts, deliveredAt: receipt.deliveredAt };
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : err;
    const attempts = cause instanceof ApplicationFailure ? ((cause.details?.[0] as { attempts?: number } | undefined)?.attempts ?? 1) : 1;
    return { status: 'failed', attempts, lastError: cause instanceof Error ? cause.message : String(cause) };
  }
}

async function finishedView(handle: WorkflowHandle, statusName: string): Promise<JobView> {
  const id = handle.workflowId;
  switch (statusName) {
    case 'COMPLETED': {
      const result = (await handle.result()) as AiResponse;
      return { id, status: 'completed', result, attempts: result.attempts, degradations: result.degradations, ...failoversOf(result) };
    }
    case 'FAILED':
    case 'TERMINATED':
    case 'TIMED_OUT': {
      const f = await handle.result().then(
        () => failureView(new Error('unexpected result')),
        (err: unknown) => failureView(err),
      );
      return {
        id,
        status: 'failed',
        error: f.error,
        attempts: f.details.attempts ?? [],
        degradations: f.details.degradations ?? [],
        ...failoversOf(f.details),
      };
    }
    case 'CANCELLED': {
      const p = await queryProgress(handle);
      return {
        id,
        status: 'cancelled',
        error: { type: 'Cancelled', message: 'the job was cancelled' },
        attempts: p?.attempts ?? [],
        degradations: p?.degradations ?? [],
        ...failoversOf(p ?? {}),
      };
    }
    default:
      return { id, status: 'running', attempts: [], degradations: [] }; // e.g. paused
  }
}
