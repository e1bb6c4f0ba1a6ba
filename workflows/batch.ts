/**
 * A batch: each request runs as a child request workflow (a job of its own), at most
 * `concurrency` at a time; progress is a query, per-item results are the workflow's result.
 */
import { ApplicationFailure, ChildWorkflowFailure, defineQuery, executeChild, isCancellation, setHandler, workflowInfo } from '@temporalio/workflow';
import { batchItemJobId, BATCH_PROGRESS_QUERY, type BatchItem, type BatchProgress, type BatchWorkflowInput } from '../contracts/batches';
import { aiRequestWorkflow } from './request';

export const batchProgressQuery = defineQuery<BatchProgress>(BATCH_PROGRESS_QUERY);

function failureOf(err: unknown): { type: string; message: string } {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  return { type: 'Error', message: cause instanceof Error ? cause.message : String(cause) };
}

/** Runs every request of the batch; an item's failure is recorded, never fails the batch. */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchProgress> {
  const batchId = workflowInfo().workflowId;
  const items: BatchItem[] = input.requests.map((_, index) => ({ index, jobId: batchItemJobId(batchId, index), status: 'queued' }));
  const progress = (): BatchProgress => {
    const counts = { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
    for (const item of items) counts[item.status] += 1;
    return { total: items.length, concurrency: input.concurrency, counts, items };
  };
  setHandler(batchProgressQuery, progress);

  let next = 0;
  async function lane(): Promise<void> {
    while (next < items.length) {
      const item = items[next++];
      item.status = 'running';
      try {
        item.result = await executeChild(aiRequestWorkflow, {
          workflowId: item.jobId,
          args: [{ request: input.requests[item.index], acceptedAt: input.acceptedAt }],
          // Why: cancelling the batch cancels its running items (their provider calls abort).
          parentClosePolicy: 'REQUEST_CANCEL',
          staticSummary: `item ${item.index + 1}/${items.length} of ${batchId}`,
        });
        item.status = 'completed';
      } catch (err) {
        if (isCancellation(err)) {
          item.status = 'cancelled';
          throw err;
        }
        item.status = 'failed';
        item.error = failureOf(err);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(input.concurrency, items.length) }, lane));
  return progress();
}
