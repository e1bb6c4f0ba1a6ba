/**
 * `/v1/batches`: submit many requests at once, read progress and per-item results (a page at a
 * time, each item's answer read from its own job), cancel. A batch belongs to the tenant that
 * submitted it, and so do its items.
 */
import { randomUUID } from 'node:crypto';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  BATCH_PROGRESS_QUERY,
  BATCH_TOTAL_MEMO,
  BATCH_WORKFLOW,
  batchItemJobId,
  BatchSubmissionSchema,
  type BatchItem,
  type BatchProgress,
  type BatchWorkflowInput,
} from '../contracts/batches';
import { ErrorCode } from '../contracts/errors';
import type { JobView } from '../contracts/jobs';
import type { GatewayConfig } from '../config/schema';
import { OWNER_KEY } from '../workflows/search-attributes';
import { ApiError, fromZod } from './errors';
import { keyScope, requirePrincipal } from './auth';
import { assertSameBody, bodyHash, BODY_HASH_MEMO, checkIdempotencyKey, scopedKeyHash } from './idempotency';
import { knownModels } from './jobs';
import { readJob } from './job-view';
import { OWNER_MEMO } from './owners';

export interface BatchesDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
}

const BATCH_ID = /^batch-[A-Za-z0-9_-]{1,64}$/;

function batchIdFor(key: string | undefined, scope: string | undefined): string {
  return key === undefined ? `batch-${randomUUID()}` : `batch-k${scopedKeyHash(key, scope)}`;
}

function batchIdParam(req: Request): string {
  const id = String(req.params.id);
  if (!BATCH_ID.test(id)) throw new ApiError(404, ErrorCode.BatchNotFound, `no batch with id "${id}"`);
  return id;
}

/** `GET /v1/batches/:id` query: which items to show. */
const PageSchema = (max: number) =>
  z
    .object({
      offset: z.coerce.number().int().min(0).max(100_000).default(0),
      limit: z.coerce.number().int().min(1).max(max).default(max),
    })
    .strict();

/** One item as the batch view shows it: its state, plus its answer or error read from its job. */
async function itemView(client: Client, item: BatchItem): Promise<BatchItem> {
  if (item.status !== 'completed' && item.status !== 'failed' && item.status !== 'cancelled') return item;
  let job: JobView;
  try {
    job = await readJob(client, item.jobId);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return item;
    throw err;
  }
  return { ...item, ...(job.result ? { result: job.result } : {}), ...(job.error && !item.error ? { error: job.error } : {}) };
}

/** Item states of a batch that ended without a result (cancelled, failed): from its item jobs. */
async function itemsFromJobs(client: Client, id: string, from: number, to: number): Promise<BatchItem[]> {
  const indexes = Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
  return Promise.all(
    indexes.map(async (index): Promise<BatchItem> => {
      const jobId = batchItemJobId(id, index);
      try {
        const job = await readJob(client, jobId);
        return { index, jobId, status: job.status === 'running' ? 'running' : job.status, ...(job.error ? { error: job.error } : {}) };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { index, jobId, status: 'cancelled' }; // never started
        throw err;
      }
    }),
  );
}

/** The batch's view: status, counts and one page of items with their answers. */
async function readBatch(client: Client, id: string, page: { offset: number; limit: number }) {
  const handle = client.workflow.getHandle(id);
  let desc;
  try {
    desc = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ApiError(404, ErrorCode.BatchNotFound, `no batch with id "${id}"`);
    throw err;
  }
  if (desc.type !== BATCH_WORKFLOW) throw new ApiError(404, ErrorCode.BatchNotFound, `no batch with id "${id}"`);
  const status = { RUNNING: 'running', COMPLETED: 'completed', CANCELLED: 'cancelled' }[desc.status.name as string] ?? 'failed';
  let progress: BatchProgress | undefined;
  if (status === 'running') progress = await handle.query<BatchProgress>(BATCH_PROGRESS_QUERY).catch(() => undefined);
  if (status === 'completed') progress = (await handle.result()) as BatchProgress;
  const total = progress?.total ?? (desc.memo?.[BATCH_TOTAL_MEMO] as number | undefined);
  if (total === undefined) return { id, status };
  const end = Math.min(total, page.offset + page.limit);
  const items = progress
    ? await Promise.all(progress.items.slice(page.offset, end).map(({ result: _r, ...item }) => itemView(client, item)))
    : await itemsFromJobs(client, id, page.offset, end);
  const counts = progress?.counts;
  return {
    id,
    status,
    total,
    ...(progress ? { concurrency: progress.concurrency } : {}),
    ...(counts ? { counts } : {}),
    offset: page.offset,
    items,
    ...(end < total ? { nextOffset: end } : {}),
  };
}

/** Routes under /v1/batches. */
export function batchesRouter(deps: BatchesDeps): Router {
  const router = Router();
  const models = knownModels(deps.config);
  const { maxItems, pageSize } = deps.config.batches;
  const pageQuery = PageSchema(pageSize);

  router.post('/', async (req, res) => {
    if (!req.is('application/json'))
      throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the batch as JSON with Content-Type: application/json');
    const parsed = BatchSubmissionSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    if (parsed.data.requests.length > maxItems)
      throw new ApiError(400, ErrorCode.LimitExceeded, `a batch has at most ${maxItems} requests (batches.maxItems)`);
    const unknown = parsed.data.requests.map((r, i) => [i, r.model] as const).filter(([, m]) => !models.has(m));
    if (unknown.length) {
      throw new ApiError(
        400,
        ErrorCode.UnknownModel,
        `unknown model(s): ${unknown
          .slice(0, 10)
          .map(([i, m]) => `requests.${i}.model "${m.slice(0, 128)}"`)
          .join(', ')}`,
      );
    }
    const who = requirePrincipal(res);
    const owner = who.id;
    const key = checkIdempotencyKey(req.header('idempotency-key'));
    const id = batchIdFor(key, keyScope(who));
    const hash = bodyHash(parsed.data);
    const input: BatchWorkflowInput = {
      // Each item streams nothing to anyone: it is buffered into its result.
      requests: parsed.data.requests.map((r) => ({ ...r, stream: false })),
      concurrency: parsed.data.concurrency ?? deps.config.batches.concurrency,
      acceptedAt: Date.now(),
      owner,
    };
    const handle = await deps.client.workflow
      .start(BATCH_WORKFLOW, {
        taskQueue: deps.taskQueue,
        workflowId: id,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: { [BODY_HASH_MEMO]: hash, [OWNER_MEMO]: owner, [BATCH_TOTAL_MEMO]: input.requests.length },
        typedSearchAttributes: [{ key: OWNER_KEY, value: owner }],
        staticSummary: `batch of ${input.requests.length}, ${input.concurrency} at a time`,
      })
      .catch((err: unknown) => {
        if (err instanceof WorkflowExecutionAlreadyStartedError) return deps.client.workflow.getHandle(id);
        throw err;
      });
    if (key !== undefined) await assertSameBody(handle, hash);
    res
      .status(202)
      .location(`/v1/batches/${id}`)
      .json({ id, status: 'running', total: input.requests.length, statusUrl: `/v1/batches/${id}` });
  });

  router.get('/:id', async (req, res) => {
    const id = batchIdParam(req);
    const page = pageQuery.safeParse(req.query);
    if (!page.success) throw fromZod(page.error, 'query');
    res.json(await readBatch(deps.client, id, page.data));
  });

  router.delete('/:id', async (req, res) => {
    const id = batchIdParam(req);
    const view = await readBatch(deps.client, id, { offset: 0, limit: 1 });
    if (view.status !== 'running') {
      res.status(409).json({ error: { code: ErrorCode.JobFinished, message: `batch ${id} already ended (${view.status})` } });
      return;
    }
    await deps.client.workflow.getHandle(id).cancel();
    res.status(202).json({ id, status: 'cancelling', statusUrl: `/v1/batches/${id}` });
  });
  return router;
}
