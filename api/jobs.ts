/** The long-job API: submit, read, cancel. Each job is one request workflow. */
import { Router, type Request } from 'express';
import { WorkflowNotFoundError } from '@temporalio/client';
import { ErrorCode } from '../contracts/errors';
import { JobSubmissionSchema } from '../contracts/jobs';
import type { RequestWorkflowInput } from '../contracts/workflow-api';
import { JOB_WORKFLOW, type CallbackPolicy, type JobWorkflowInput } from '../contracts/callbacks';
import type { GatewayConfig } from '../config/schema';
import { ApiError, fromZod } from './errors';
import { keyScope, requirePrincipal } from './auth';
import { allowList, checkUrl, OutboundRefused } from '../activities/outbound-guard';
import { assertSameBody, bodyHash, BODY_HASH_MEMO, checkIdempotencyKey, jobIdFor } from './idempotency';
import { readJob } from './job-view';
import { startRequestWorkflow, type StartDeps } from './start';

export { jobIdFor } from './idempotency';
export { readJob } from './job-view';

export interface JobsDeps extends StartDeps {
  onSubmitted?: (outcome: 'new' | 'existing') => void;
}

const JOB_ID = /^job-[A-Za-z0-9_-]{1,128}$/;

/** Models any configured target serves, and tier names. */
export function knownModels(config: GatewayConfig): Set<string> {
  return new Set([...config.targets.flatMap((t) => t.models.map((m) => m.id)), ...Object.keys(config.tiers)]);
}

/** The delivery policy in force, from the config. */
export function callbackPolicy(config: GatewayConfig): CallbackPolicy {
  const { maxAttempts, initialIntervalMs, maxIntervalMs, timeoutMs } = config.callbacks;
  return { maxAttempts, initialIntervalMs, maxIntervalMs, timeoutMs };
}

/** The `:id` parameter, or a 404 when it cannot be a job id. */
export function jobIdParam(req: Request): string {
  const id = String(req.params.id);
  if (!JOB_ID.test(id)) throw new ApiError(404, ErrorCode.JobNotFound, `no job with id "${id}"`);
  return id;
}

/** Runs `fn`, turning "no such workflow" into a 404. */
export async function withNotFound<T>(id: string, fn: () => Promise<T>): Promise<T> {
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
  const callbackAllowed = allowList(deps.config.callbacks.allowedCidrs);

  router.post('/', async (req, res) => {
    if (!req.is('application/json'))
      throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the job as JSON with Content-Type: application/json');
    const parsed = JobSubmissionSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const { request, callbackUrl } = parsed.data;
    if (!models.has(request.model)) {
      throw new ApiError(
        400,
        ErrorCode.UnknownModel,
        `model "${request.model}" is not served by any target; use one of: ${[...models].join(', ')}`,
      );
    }
    if (callbackUrl !== undefined) {
      try {
        checkUrl(callbackUrl, deps.config.callbacks, callbackAllowed);
      } catch (err) {
        if (err instanceof OutboundRefused) throw new ApiError(400, ErrorCode.CallbackUrlRefused, `callbackUrl ${err.message}`);
        throw err;
      }
    }
    const who = requirePrincipal(res);
    const owner = who.id;
    const key = checkIdempotencyKey(req.header('idempotency-key'));
    const id = jobIdFor(key, keyScope(who));
    const hash = bodyHash(parsed.data);
    const input: RequestWorkflowInput = { request, acceptedAt: Date.now() };
    const memo = { [BODY_HASH_MEMO]: hash };
    // A callback makes it a job workflow: the request, then a detached, retried delivery.
    const jobInput: JobWorkflowInput | undefined = callbackUrl
      ? { ...input, callbackUrl, callbackPolicy: callbackPolicy(deps.config) }
      : undefined;
    const { handle, existing } = jobInput
      ? await startRequestWorkflow(deps, id, jobInput, { memo, owner, workflowType: JOB_WORKFLOW })
      : await startRequestWorkflow(deps, id, input, { memo, owner });
    // A running job with this key was attached to, or a finished one found: same body, or 409.
    if (key !== undefined) await assertSameBody(handle, hash);
    deps.onSubmitted?.(existing ? 'existing' : 'new');
    res
      .status(202)
      .location(`/v1/jobs/${id}`)
      .json({ id, status: 'queued', statusUrl: `/v1/jobs/${id}` });
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
