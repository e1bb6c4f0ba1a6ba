/**
 * `GET /v1/jobs`: the caller's jobs on this gateway's task queue (an admin key sees every
 * tenant's), newest first, filtered through Temporal visibility (execution status, the
 * StormproofTarget/StormproofModel/StormproofOwner search attributes, start time). Pages follow
 * Temporal's own page token, so reading page n costs one page, not n.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { executionInfoFromRaw } from '@temporalio/client/lib/helpers';
import { ErrorCode } from '../contracts/errors';
import { ApiError } from './errors';
import { requirePrincipal } from './auth';
import { JobStatusSchema, type JobStatus } from '../contracts/jobs';
import { REQUEST_WORKFLOW } from '../contracts/workflow-api';
import { JOB_WORKFLOW } from '../contracts/callbacks';
import { fromZod } from './errors';
import { FAILOVERS_KEY, MODEL_KEY, STATUS_KEY, TARGET_KEY } from '../workflows/search-attributes';
import { SEARCH_ATTRIBUTES } from '../contracts/workflow-api';

/** The latest instant a JavaScript Date can hold (later times cannot be queried). */
const MAX_TIME_MS = 8.64e15;
const time = z
  .union([
    z
      .string()
      .regex(/^\d{1,16}$/, 'epoch milliseconds or an ISO 8601 time')
      .transform(Number),
    z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
  ])
  .pipe(z.number().int().nonnegative().max(MAX_TIME_MS, 'a time before the year 275760'));

/** Query parameters of the listing. */
export const JobListQuerySchema = z
  .object({
    status: JobStatusSchema.optional(),
    target: z
      .string()
      .regex(/^[a-z0-9-]{1,63}$/)
      .optional(),
    model: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
    /** Started at or after (epoch ms or ISO 8601). */
    since: time.optional(),
    /** Started before (epoch ms or ISO 8601). */
    until: time.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    /** From the previous page's `nextPageToken` (opaque; valid with the same filters, from the same API process). */
    pageToken: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,2048}$/, 'pass the nextPageToken of the previous page as it came')
      .optional(),
  })
  .strict();
export type JobListQuery = z.infer<typeof JobListQuerySchema>;

/** One row of the listing. */
export interface JobListItem {
  id: string;
  status: JobStatus;
  model?: string;
  target?: string;
  failovers?: number;
  startedAt: string;
  closedAt?: string;
}

const EXECUTION_STATUS: Record<JobStatus, string> = {
  queued: 'ExecutionStatus = "Running" AND StormproofStatus = "queued"',
  running: 'ExecutionStatus = "Running" AND StormproofStatus != "queued"',
  completed: 'ExecutionStatus = "Completed"',
  failed: '(ExecutionStatus = "Failed" OR ExecutionStatus = "Terminated" OR ExecutionStatus = "TimedOut")',
  cancelled: 'ExecutionStatus = "Canceled"',
};

/**
 * The visibility query for a listing (values are validated above, and key ids by their pattern,
 * so quoting is safe); `owner` limits it to one tenant's jobs.
 */
export function visibilityQuery(taskQueue: string, q: JobListQuery, owner?: string): string {
  const parts = [`(WorkflowType = "${REQUEST_WORKFLOW}" OR WorkflowType = "${JOB_WORKFLOW}")`, `TaskQueue = "${taskQueue}"`];
  if (owner !== undefined) parts.push(`${SEARCH_ATTRIBUTES.owner.name} = "${owner}"`);
  if (q.status) parts.push(EXECUTION_STATUS[q.status]);
  if (q.target) parts.push(`StormproofTarget = "${q.target}"`);
  if (q.model) parts.push(`StormproofModel = "${q.model}"`);
  if (q.since !== undefined) parts.push(`StartTime >= "${new Date(q.since).toISOString()}"`);
  if (q.until !== undefined) parts.push(`StartTime < "${new Date(q.until).toISOString()}"`);
  return parts.join(' AND ');
}

function statusOf(info: WorkflowExecutionInfo): JobStatus {
  switch (info.status.name) {
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    case 'RUNNING':
      return info.typedSearchAttributes.get(STATUS_KEY) === 'queued' ? 'queued' : 'running';
    default:
      return 'failed';
  }
}

/**
 * Page tokens: Temporal's own token, sealed with a MAC over it and the query it belongs to. Why:
 * Temporal answers a made-up token with an internal error that its client retries for seconds,
 * so only tokens this process handed out (for this very filter and caller) reach it. A token
 * outlives neither the API process nor a change of filters: the listing then starts again.
 */
export class PageTokens {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  private mac(query: string, token: Buffer): Buffer {
    return createHmac('sha256', this.key).update(query).update('\0').update(token).digest().subarray(0, 16);
  }

  seal(query: string, token: Uint8Array): string {
    const t = Buffer.from(token);
    return Buffer.concat([this.mac(query, t), t]).toString('base64url');
  }

  /** Temporal's token inside `sealed`, or a 400 when this process did not issue it for `query`. */
  open(query: string, sealed: string): Buffer {
    const raw = Buffer.from(sealed, 'base64url');
    const token = raw.subarray(16);
    if (raw.length <= 16 || !timingSafeEqual(raw.subarray(0, 16), this.mac(query, token))) {
      throw new ApiError(
        400,
        ErrorCode.InvalidPageToken,
        'pageToken was not handed out by this listing (pass nextPageToken unchanged, with the same filters; after a restart of the API, start again)',
      );
    }
    return token;
  }
}

/** One page of the listing: Temporal's page of `limit` rows and its (sealed) token for the next. */
async function listPage(
  client: Client,
  tokens: PageTokens,
  query: string,
  limit: number,
  pageToken: string | undefined,
): Promise<{ infos: WorkflowExecutionInfo[]; next?: string }> {
  const response = await client.workflowService.listWorkflowExecutions({
    namespace: client.options.namespace,
    query,
    pageSize: limit,
    nextPageToken: pageToken ? tokens.open(query, pageToken) : undefined,
  });
  const infos = await Promise.all(
    response.executions.map((raw) => executionInfoFromRaw(raw, client.options.loadedDataConverter, raw, client.options.namespace)),
  );
  const next = response.nextPageToken?.length && infos.length ? tokens.seal(query, response.nextPageToken) : undefined;
  return { infos, ...(next ? { next } : {}) };
}

/** Route `GET /` (mounted under /v1/jobs). */
export function jobListRouter(deps: { client: Client; taskQueue: string; tokens?: PageTokens }): Router {
  const router = Router();
  const tokens = deps.tokens ?? new PageTokens();
  router.get('/', async (req, res) => {
    const parsed = JobListQuerySchema.safeParse(req.query);
    if (!parsed.success) throw fromZod(parsed.error, 'query');
    const q = parsed.data;
    const who = requirePrincipal(res);
    const { infos, next } = await listPage(
      deps.client,
      tokens,
      visibilityQuery(deps.taskQueue, q, who.admin ? undefined : who.id),
      q.limit,
      q.pageToken,
    );
    const data: JobListItem[] = [];
    for (const info of infos) {
      const a = info.typedSearchAttributes;
      data.push({
        id: info.workflowId,
        status: statusOf(info),
        model: a.get(MODEL_KEY),
        target: a.get(TARGET_KEY),
        failovers: a.get(FAILOVERS_KEY),
        startedAt: info.startTime.toISOString(),
        ...(info.closeTime ? { closedAt: info.closeTime.toISOString() } : {}),
      });
    }
    res.json({ data, ...(next ? { nextPageToken: next } : {}) });
  });
  return router;
}
