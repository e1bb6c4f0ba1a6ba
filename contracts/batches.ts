/** Batches: many requests run as child request workflows under a concurrency limit. Pure. */
import { z } from 'zod';
import { AiRequestSchema } from './request';
import type { AiResponse } from './response';

/** Workflow type of a batch. */
export const BATCH_WORKFLOW = 'batchWorkflow';
/** Query name of {@link BatchProgress}. */
export const BATCH_PROGRESS_QUERY = 'batchProgress';
/** Most requests one batch takes (its history holds every item's outcome); `batches.maxItems` may lower it. */
export const MAX_BATCH_ITEMS = 500;

/** `POST /v1/batches` body. */
export const BatchSubmissionSchema = z
  .object({
    requests: z
      .array(AiRequestSchema)
      .min(1, 'a batch has at least one request')
      .max(MAX_BATCH_ITEMS, `a batch has at most ${MAX_BATCH_ITEMS} requests`),
    /** How many items run at once (default from the config). */
    concurrency: z.number().int().min(1).max(64).optional(),
  })
  .strict();
export type BatchSubmission = z.infer<typeof BatchSubmissionSchema>;

/** Input of the batch workflow. */
export interface BatchWorkflowInput {
  requests: BatchSubmission['requests'];
  concurrency: number;
  acceptedAt?: number;
  /** The tenant that submitted it; its items carry it too. */
  owner?: string;
}

/** One item's state. Its `jobId` is a job in its own right (`GET /v1/jobs/:jobId`). */
export interface BatchItem {
  index: number;
  jobId: string;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  /** Only in results of batches that ran before results stayed in the items; read the item job. */
  result?: AiResponse;
  error?: { type: string; message: string };
}

/** Memo field with the number of items (the API pages over them without the workflow's input). */
export const BATCH_TOTAL_MEMO = 'total';

/** Progress of a batch (the query's answer, and the workflow's result): item states, not answers. */
export interface BatchProgress {
  total: number;
  concurrency: number;
  counts: Record<BatchItem['status'], number>;
  items: BatchItem[];
}

/** Job id of a batch's item: a job id, so the job API reads it too. */
export function batchItemJobId(batchId: string, index: number): string {
  return `job-${batchId}-${index}`;
}
