/**
 * `GET /v1/jobs`: jobs of this gateway's task queue, newest first, filtered through Temporal
 * visibility (execution status, the StormproofTarget/StormproofModel search attributes, start time).
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { JobStatusSchema, type JobStatus } from '../contracts/jobs';
import { REQUEST_WORKFLOW } from '../contracts/workflow-api';
import { JOB_WORKFLOW } from '../contracts/callbacks';
import { fromZod } from './errors';
import { FAILOVERS_KEY, MODEL_KEY, STATUS_KEY, TARGET_KEY } from '../workflows/search-attributes';

const time = z.union([z.string().regex(/^\d+$/).transform(Number), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]).pipe(z.number().int().nonnegative());

/** Query parameters of the listing. */
export const JobListQuerySchema = z
  .object({
    status: JobStatusSchema.optional(),
    target: z.string().regex(/^[a-z0-9-]{1,63}$/).optional(),
    model: z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/).optional(),
    /** Started at or after (epoch ms or ISO 8601). */
    since: time.optional(),
    /** Started before (epoch ms or ISO 8601). */
    until: time.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    /** From the previous page's `nextPageToken`. */
    pageToken: z.string().regex(/^\d+$/).transform(Number).optional(),
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

/** The visibility query for a listing (values are validated above, so quoting is safe). */
export function visibilityQuery(taskQueue: string, q: JobListQuery): string {
  const parts = [`(WorkflowType = "${REQUEST_WORKFLOW}" OR WorkflowType = "${JOB_WORKFLOW}")`, `TaskQueue = "${taskQueue}"`];
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

/** Route `GET /` (mounted under /v1/jobs). */
export function jobListRouter(deps: { client: Client; taskQueue: string }): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const parsed = JobListQuerySchema.safeParse(req.query);
    if (!parsed.success) throw fromZod(parsed.error, 'query');
    const q = parsed.data;
    const skip = q.pageToken ?? 0;
    const data: JobListItem[] = [];
    let seen = 0;
    let more = false;
    for await (const info of deps.client.workflow.list({ query: visibilityQuery(deps.taskQueue, q), pageSize: Math.min(1000, skip + q.limit + 1) })) {
      if (seen++ < skip) continue;
      if (data.length === q.limit) {
        more = true;
        break;
      }
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
    res.json({ data, ...(more ? { nextPageToken: String(skip + q.limit) } : {}) });
  });
  return router;
}
