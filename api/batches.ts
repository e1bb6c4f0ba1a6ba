/** `/v1/batches`: submit many requests at once, read progress and per-item results, cancel. */
import { createHash, randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BATCH_PROGRESS_QUERY, BATCH_WORKFLOW, BatchSubmissionSchema, type BatchProgress, type BatchWorkflowInput } from '../contracts/batches';
import { ErrorCode } from '../contracts/errors';
import type { GatewayConfig } from '../config/schema';
import { ApiError, fromZod } from './errors';
import { assertSameBody, bodyHash, BODY_HASH_MEMO, checkIdempotencyKey } from './idempotency';
import { knownModels } from './jobs';

export interface BatchesDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
}

const BATCH_ID = /^batch-[A-Za-z0-9_-]{1,64}$/;

function batchIdFor(key: string | undefined): string {
  return key === undefined ? `batch-${randomUUID()}` : `batch-k${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
}

function batchIdParam(req: Request): string {
  const id = String(req.params.id);
  if (!BATCH_ID.test(id)) throw new ApiError(404, ErrorCode.BatchNotFound, `no batch with id "${id}"`);
  return id;
}

/** The batch's view: status plus progress (live from the query, or the final result). */
async function readBatch(client: Client, id: string) {
  const handle = client.workflow.getHandle(id);
  let desc;
  try {
    desc = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ApiError(404, ErrorCode.BatchNotFound, `no batch with id "${id}"`);
    throw err;
  }
  if (desc.type !== BATCH_WORKFLOW) throw new ApiError(404, ErrorCode.BatchNotFound, `no batch with id "${id}"`);
  switch (desc.status.name) {
    case 'RUNNING': {
      const p = await handle.query<BatchProgress>(BATCH_PROGRESS_QUERY).catch(() => undefined);
      return { id, status: 'running', ...p };
    }
    case 'COMPLETED':
      return { id, status: 'completed', ...((await handle.result()) as BatchProgress) };
    case 'CANCELLED':
      return { id, status: 'cancelled' };
    default:
      return { id, status: 'failed' };
  }
}

/** Routes under /v1/batches. */
export function batchesRouter(deps: BatchesDeps): Router {
  const router = Router();
  const models = knownModels(deps.config);

  router.post('/', async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the batch as JSON with Content-Type: application/json');
    const parsed = BatchSubmissionSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const unknown = parsed.data.requests.map((r, i) => [i, r.model] as const).filter(([, m]) => !models.has(m));
    if (unknown.length) {
      throw new ApiError(400, ErrorCode.UnknownModel, `unknown model(s): ${unknown.map(([i, m]) => `requests.${i}.model "${m}"`).join(', ')}`);
    }
    const key = checkIdempotencyKey(req.header('idempotency-key'));
    const id = batchIdFor(key);
    const hash = bodyHash(parsed.data);
    const input: BatchWorkflowInput = {
      // Each item streams nothing to anyone: it is buffered into its result.
      requests: parsed.data.requests.map((r) => ({ ...r, stream: false })),
      concurrency: parsed.data.concurrency ?? deps.config.batches.concurrency,
      acceptedAt: Date.now(),
    };
    const handle = await deps.client.workflow
      .start(BATCH_WORKFLOW, {
        taskQueue: deps.taskQueue,
        workflowId: id,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: { [BODY_HASH_MEMO]: hash },
        staticSummary: `batch of ${input.requests.length}, ${input.concurrency} at a time`,
      })
      .catch((err: unknown) => {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return deps.client.workflow.getHandle(id);
        throw err;
      });
    if (key !== undefined) await assertSameBody(handle, hash);
    res.status(202).location(`/v1/batches/${id}`).json({ id, status: 'running', total: input.requests.length, statusUrl: `/v1/batches/${id}` });
  });

  router.get('/:id', async (req, res) => {
    res.json(await readBatch(deps.client, batchIdParam(req)));
  });

  router.delete('/:id', async (req, res) => {
    const id = batchIdParam(req);
    const view = await readBatch(deps.client, id);
    if (view.status !== 'running') {
      res.status(409).json({ error: { code: ErrorCode.JobFinished, message: `batch ${id} already ended (${view.status})` } });
      return;
    }
    await deps.client.workflow.getHandle(id).cancel();
    res.status(202).json({ id, status: 'cancelling', statusUrl: `/v1/batches/${id}` });
  });
  return router;
}
