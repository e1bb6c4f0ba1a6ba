/**
 * What the batch workflow shares with the API: its type, query, item ids, input and progress. Pure
 * and without zod (see rag-failure.ts); the submission's schema is in batches.ts.
 */
import type { AiRequest } from './request';
import type { AiResponse } from './response';

/** Workflow type of a batch. */
export const BATCH_WORKFLOW = 'batchWorkflow';
/** Query name of {@link BatchProgress}. */
export const BATCH_PROGRESS_QUERY = 'batchProgress';

/** Input of the batch workflow. */
export interface BatchWorkflowInput {
  requests: AiRequest[];
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
