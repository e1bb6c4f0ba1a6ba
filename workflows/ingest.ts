/**
 * RAG ingestion as a workflow: the API starts it and waits for its result; a worker runs the
 * activity that chunks, embeds (with the provider's key, which only workers hold) and indexes.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RetrievalActivities } from '../activities/types';
import { RagFailure } from '../contracts/rag-failure';
import type { IngestResult, RagIngestInput } from '../contracts/retrieval';

const { ingestCollection } = proxyActivities<RetrievalActivities>({
  // A large document set embeds in many batches; heartbeats (one per batch) show it progresses.
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1s', nonRetryableErrorTypes: [RagFailure.InvalidIngest] },
});

/** Ingests documents into a collection (replacing by id, so a retried activity repeats nothing). */
export async function ragIngestWorkflow(input: RagIngestInput): Promise<IngestResult> {
  return ingestCollection(input);
}
