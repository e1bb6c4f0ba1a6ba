/**
 * Retrieval with data degradation: embed the query and search the vector store within a time
 * budget; if that fails or is too slow, answer from the keyword index (BM25) and say why.
 */
import type { RetrievalInput, RetrievalResult, Passage } from '../../contracts/retrieval';
import { errorText } from './embedder';
import type { RagService } from './service';

/** The collection does not exist. (The message names no other collection: they may be other tenants'.) */
export class CollectionNotFoundError extends Error {
  constructor(readonly collection: string) {
    super(`no collection "${collection}"; ingest documents into it first (GET /v1/collections lists yours)`);
    this.name = 'CollectionNotFoundError';
  }
}

/** Neither the vector path nor the keyword index could answer. */
export class RetrievalUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetrievalUnavailableError';
  }
}

/** Rejects when `signal` aborts, else settles like `p` (LanceDB calls take no signal). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function vectorSearch(rag: RagService, input: RetrievalInput, signal: AbortSignal, stage: { now: string }): Promise<Passage[]> {
  const embedder = rag.embedder;
  if (!embedder) throw new Error('no target can embed (rag.embeddings.target names none and no openai-format target is configured)');
  stage.now = `embedding the query on ${embedder.target}`;
  const [vector] = await untilAborted(embedder.embed([input.query], signal), signal);
  stage.now = 'searching the vector store';
  if (!(await untilAborted(rag.vectors.has(input.collection), signal))) {
    throw new Error(
      `collection "${input.collection}" has no vectors (its documents were ingested while embedding failed; ingest them again)`,
    );
  }
  return untilAborted(rag.vectors.search(input.collection, vector, input.topK), signal);
}

// #region guide:keyword-fallback
/**
 * Retrieves the `topK` passages for `query` from `collection`. Throws
 * {@link CollectionNotFoundError} for an unknown collection and {@link RetrievalUnavailableError}
 * when the keyword fallback fails too; `signal` cancels (its reason is thrown).
 */
export async function retrieve(rag: RagService, input: RetrievalInput, signal?: AbortSignal): Promise<RetrievalResult> {
  if (!rag.keyword.has(input.collection)) throw new CollectionNotFoundError(input.collection);
  const budgetMs = rag.config.vectorBudgetMs;
  const budget = AbortSignal.timeout(budgetMs);
  const stage = { now: 'starting' };
  let reason: string;
  try {
    const passages = await vectorSearch(rag, input, signal ? AbortSignal.any([budget, signal]) : budget, stage);
    return { mode: 'vector', passages };
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    reason = budget.aborted
      ? `vector retrieval exceeded its ${budgetMs} ms budget while ${stage.now}`
      : `${stage.now} failed: ${errorText(err)}`;
  }
  let passages: Passage[];
  try {
    passages = rag.keyword.search(input.collection, input.query, input.topK);
  } catch (err) {
    throw new RetrievalUnavailableError(
      `retrieval from "${input.collection}" failed: ${reason}; the keyword index failed too: ${errorText(err)}`,
    );
  }
  return { mode: 'keyword', passages, degradedReason: `${reason}; answered by keyword search (BM25) instead` };
}
// #endregion guide:keyword-fallback
