/**
 * The retrieval activity: {@link retrieve} with its errors turned into failures with a stable
 * `type` and the activity's cancellation passed through.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { RagFailure, type IngestResult, type RagIngestInput, type RetrievalInput, type RetrievalResult } from '../../contracts/retrieval';
import type { RetrievalActivities } from '../types';
import { CollectionNotFoundError, retrieve, RetrievalUnavailableError } from './retrieve';
import type { RagService } from './service';
import { ingestDocuments, IngestInputError } from './ingest';

/** Dependencies of the retrieval activity. */
export interface RetrievalActivityDeps {
  /** The service, or a function giving it on first use (so a worker that never retrieves opens nothing). */
  rag: RagService | (() => RagService);
}

export function createRetrievalActivities(deps: RetrievalActivityDeps): RetrievalActivities {
  const rag = typeof deps.rag === 'function' ? deps.rag : () => deps.rag as RagService;
  return {
    async retrieve(input: RetrievalInput): Promise<RetrievalResult> {
      try {
        return await retrieve(rag(), input, Context.current().cancellationSignal);
      } catch (err) {
        if (err instanceof CollectionNotFoundError) {
          throw ApplicationFailure.create({
            type: RagFailure.CollectionNotFound,
            message: err.message,
            nonRetryable: true,
            details: [{ collection: err.collection }],
          });
        }
        if (err instanceof RetrievalUnavailableError)
          throw ApplicationFailure.create({ type: RagFailure.Unavailable, message: err.message });
        throw err;
      }
    },

    async ingestCollection(input: RagIngestInput): Promise<IngestResult> {
      const ctx = Context.current();
      try {
        // Progress heartbeats: a worker that dies mid-ingest is noticed, and the retry replaces the same ids.
        return await ingestDocuments(rag(), input.collection, input.documents, {
          signal: ctx.cancellationSignal,
          onProgress: (p) => ctx.heartbeat(p),
        });
      } catch (err) {
        if (err instanceof IngestInputError)
          throw ApplicationFailure.create({ type: RagFailure.InvalidIngest, message: err.message, nonRetryable: true });
        throw err;
      }
    },
  };
}
