/**
 * A batch: each request runs as a child request workflow (a job of its own), at most
 * `concurrency` at a time; progress is a query. Items' results stay in the item jobs (the API
 * reads them page by page), never in the batch's own result, so a batch of long answers never
 * meets Temporal's payload limit. One item's cancel (`DELETE /v1/jobs/<item>`) ends that item as
 * cancelled and the batch goes on; cancelling the batch cancels its running items.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  defineQuery,
  executeChild,
  isCancellation,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  batchItemJobId,
  BATCH_PROGRESS_QUERY,
  type BatchItem,
  type BatchProgress,
  type BatchWorkflowInput,
} from '../contracts/batch-workflow';
import { aiRequestWorkflow } from './request';
import { OWNER_KEY } from './search-attributes';

export const batchProgressQuery = defineQuery<BatchProgress>(BATCH_PROGRESS_QUERY);

/** Patch id: an item cancelled on its own no longer cancels the batch (docs/replay.md). */
export const ITEM_CANCEL_PATCH = 'batch-item-cancel-continues';

function failureOf(err: unknown): { type: string; message: string } {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  return { type: 'Error', message: cause instanceof Error ? cause.message : String(cause) };
}

/** Runs every request of the batch; an item's failure or own cancel is recorded, never fails the batch. */
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
        await executeChild(aiRequestWorkflow, {
          workflowId: item.jobId,
          args: [{ request: input.requests[item.index], acceptedAt: input.acceptedAt }],
          // Why: cancelling the batch cancels its running items (their provider calls abort).
          parentClosePolicy: 'REQUEST_CANCEL',
          staticSummary: `item ${item.index + 1}/${items.length} of ${batchId}`,
          // Items belong to the batch's tenant, who reads them as jobs.
          ...(input.owner ? { typedSearchAttributes: [{ key: OWNER_KEY, value: input.owner }] } : {}),
        });
        // The answer stays in the item's own result (history), not in this workflow's state.
        item.status = 'completed';
      } catch (err) {
        if (isCancellation(err)) {
          item.status = 'cancelled';
          // Only the batch's own cancel ends the batch; an item cancelled alone is just that.
          if (CancellationScope.current().consideredCancelled || !patched(ITEM_CANCEL_PATCH)) throw err;
          continue;
        }
        item.status = 'failed';
        item.error = failureOf(err);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(input.concurrency, items.length) }, lane));
  return progress();
}
