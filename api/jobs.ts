/** The long-job API: submit, read, cancel. Each job is one request workflow. */
import { createHash, randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorCode } from '../contracts/errors';
import { JobSubmissionSchema, type JobStatus, type JobView } from '../contracts/jobs';
import type { AiResponse, Attempt, Degradation } from '../contracts/response';
import { PROGRESS_QUERY, REQUEST_WORKFLOW, type RequestProgress, type RequestWorkflowInput } from '../contracts/workflow-api';
import type { GatewayConfig } from '../config/schema';
import { ApiError, fromZod } from './errors';
import { MODEL_KEY, STATUS_KEY } from '../workflows/search-attributes';
import { equivalentModels } from '../workflows/selector';

export interface JobsDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  /** Eager start: only when this process also hosts a worker on the same connection. */
  eagerStart: boolean;
  onSubmitted?: (outcome: 'new' | 'existing') => void;
}

const JOB_ID = /^job-[A-Za-z0-9_-]{1,128}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Workflow id for a job: derived from the Idempotency-Key when given, so a retry finds the same job. */
export function jobIdFor(idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return `job-${randomUUID()}`;
  return `job-k${createHash('sha256').update(idempotencyKey).digest('base64url').slice(0, 32)}`;
}

/** Models any configured target serves, and tier names. */
export function knownModels(config: GatewayConfig): Set<string> {
  return new Set([...config.targets.flatMap((t) => t.models.map((m) => m.id)), ...Object.keys(config.tiers)]);
}

interface FailureDetails {
  attempts?: Attempt[];
  degradations?: Degradation[];
}

function failureView(err: unknown): { error: { type: string; message: string }; details: FailureDetails } {
  const cause = err instanceof WorkflowFailedError ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return { error: { type: cause.type ?? 'Error', message: cause.message }, details: (cause.details?.[0] as FailureDetails) ?? {} };
  }
  if (cause instanceof CancelledFailure) return { error: { type: 'Cancelled', message: 'the job was cancelled' }, details: {} };
  return { error: { type: 'Error', message: cause instanceof Error ? cause.message : String(cause) }, details: {} };
}

/** Reads a job's view from Temporal. */
export async function readJob(client: Client, id: string): Promise<JobView> {
  const handle: WorkflowHandle = client.workflow.getHandle(id);
  const desc = await handle.describe();
  const progress = async (): Promise<RequestProgress | undefined> => {
    try {
      return await handle.query<RequestProgress>(PROGRESS_QUERY);
    } catch {
      return undefined; // no worker to answer right now; the status still comes from Temporal
    }
  };
  switch (desc.status.name) {
    case 'COMPLETED': {
      const result = (await handle.result()) as AiResponse;
      return { id, status: 'completed', result, attempts: result.attempts, degradations: result.degradations };
    }
    case 'FAILED':
    case 'TERMINATED':
    case 'TIMED_OUT': {
      const f = await handle.result().then(
        () => failureView(new Error('unexpected result')),
        (err: unknown) => failureView(err),
      );
      return { id, status: 'failed', error: f.error, attempts: f.details.attempts ?? [], degradations: f.details.degradations ?? [] };
    }
    case 'CANCELLED': {
      const p = await progress();
      return { id, status: 'cancelled', error: { type: 'Cancelled', message: 'the job was cancelled' }, attempts: p?.attempts ?? [], degradations: p?.degradations ?? [] };
    }
    default: {
      const p = await progress();
      const status: JobStatus = !p || p.phase === 'queued' ? 'queued' : 'running';
      return { id, status, attempts: p?.attempts ?? [], degradations: p?.degradations ?? [] };
    }
  }
}

function jobIdParam(req: Request): string {
  const id = String(req.params.id);
  if (!JOB_ID.test(id)) throw new ApiError(404, ErrorCode.JobNotFound, `no job with id "${id}"`);
  return id;
}

async function withNotFound<T>(id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ApiError(404, ErrorCode.JobNotFound, `no job with id "${id}"`);
    throw err;
  }
}

/** Routes under /v1/jobs. */
export function jobsRouter(deps: JobsDeps): Router {
  const router = Router();
  const models = knownModels(deps.config);

  router.post('/', async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the job as JSON with Content-Type: application/json');
    const parsed = JobSubmissionSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const { request, callbackUrl } = parsed.data;
    if (!models.has(request.model)) {
      throw new ApiError(400, ErrorCode.UnknownModel, `model "${request.model}" is not served by any target; use one of: ${[...models].join(', ')}`);
    }
    const key = req.header('idempotency-key');
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new ApiError(400, ErrorCode.InvalidIdempotencyKey, 'Idempotency-Key must be 1-255 printable ASCII characters without spaces');
    }
    const id = jobIdFor(key);
    const input: RequestWorkflowInput = { request, callbackUrl, acceptedAt: Date.now() };
    let outcome: 'new' | 'existing' = 'new';
    try {
      await deps.client.workflow.start(REQUEST_WORKFLOW, {
        taskQueue: deps.taskQueue,
        workflowId: id,
        args: [input],
        // Same key, same job: attach to the running one, and never start a second after it finished.
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        requestEagerStart: deps.eagerStart,
        // A provider call runs as a local activity inside a workflow task; the worker heartbeats
        // the task at 80% of this, which bounds how late a cancel (or a dead worker) is noticed.
        workflowTaskTimeout: '3s',
        staticSummary: `${request.model}${request.stream ? ' (stream)' : ''}: ${equivalentModels(request.model, deps.config.tiers, request.routing?.pinModel).join(' → ')}`,
        typedSearchAttributes: [
          { key: MODEL_KEY, value: request.model },
          { key: STATUS_KEY, value: 'queued' },
        ],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      outcome = 'existing';
    }
    deps.onSubmitted?.(outcome);
    res.status(202).location(`/v1/jobs/${id}`).json({ id, status: 'queued', statusUrl: `/v1/jobs/${id}` });
  });

  router.get('/:id', async (req, res) => {
    const id = jobIdParam(req);
    res.json(await withNotFound(id, () => readJob(deps.client, id)));
  });

  router.delete('/:id', async (req, res) => {
    const id = jobIdParam(req);
    const handle = deps.client.workflow.getHandle(id);
    const desc = await withNotFound(id, () => handle.describe());
    if (desc.status.name !== 'RUNNING') {
      const view = await readJob(deps.client, id);
      res.status(409).json({ error: { code: ErrorCode.JobFinished, message: `job ${id} already ended (${view.status})` }, job: view });
      return;
    }
    await handle.cancel();
    res.status(202).json({ id, status: 'cancelling', statusUrl: `/v1/jobs/${id}` });
  });

  return router;
}
