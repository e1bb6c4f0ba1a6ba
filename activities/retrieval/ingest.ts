/**
 * Ingestion: chunk the documents, replace them in the keyword index, embed the chunks in
 * batches and replace them in the vector store, reporting progress as it goes.
 */
import { CollectionNameSchema, type IngestDocument, type IngestResult } from '../../contracts/retrieval';
import { chunkText } from './chunk';
import { errorText } from './embedder';
import type { IndexedChunk } from './keyword-index';
import type { RagService } from './service';
import type { VectorRow } from './vector-store';

/** Progress of one ingestion: after chunking, then after each embedded batch. */
export interface IngestProgress {
  collection: string;
  documents: number;
  chunks: number;
  embedded: number;
}

/** Options of {@link ingestDocuments}. */
export interface IngestOptions {
  onProgress?: (p: IngestProgress) => void;
  signal?: AbortSignal;
}

/** Vectors are written in groups this large: many tiny appends make many small LanceDB fragments. */
const WRITE_ROWS = 1_024;

/** An invalid collection name or document set. */
export class IngestInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IngestInputError';
  }
}

/** The chunks of the documents, ids `<docId>#<n>`. Without `id`, a document's id is its source. */
export function chunkDocuments(docs: readonly IngestDocument[], opts: { maxChars: number; overlapChars: number }): IndexedChunk[] {
  return docs.flatMap((d) => {
    const docId = d.id ?? d.source;
    return chunkText(d.text, opts).map((text, i) => ({ id: `${docId}#${i}`, docId, source: d.source, text }));
  });
}

/**
 * Adds (or replaces, by id) documents in both indexes. The keyword index is written first and
 * always; when embedding fails the result says so and the documents are keyword-only until
 * ingested again. Throws {@link IngestInputError} for a bad collection name.
 */
export async function ingestDocuments(
  rag: RagService,
  collection: string,
  docs: readonly IngestDocument[],
  opts: IngestOptions = {},
): Promise<IngestResult> {
  const name = CollectionNameSchema.safeParse(collection);
  if (!name.success) throw new IngestInputError(`collection name "${collection}": ${name.error.issues[0].message}`);
  // The same id twice: the last one wins, as if ingested one after the other.
  const unique = [...new Map(docs.map((d) => [d.id ?? d.source, d])).values()];
  const chunks = chunkDocuments(unique, rag.config.chunk);
  const docIds = unique.map((d) => d.id ?? d.source);
  const progress = (embedded: number) => opts.onProgress?.({ collection, documents: docIds.length, chunks: chunks.length, embedded });
  const embedder = rag.embedder;
  rag.keyword.replaceDocuments(
    collection,
    docIds,
    chunks,
    embedder ? { embeddingModel: embedder.model, dimensions: embedder.dimensions } : {},
  );
  progress(0);

  let embedded = 0;
  let degradedReason: string | undefined;
  try {
    if (!embedder) throw new Error('no target can embed (rag.embeddings.target names none and no openai-format target is configured)');
    await rag.vectors.deleteDocuments(collection, docIds);
    let pending: VectorRow[] = [];
    const batch = rag.config.embeddings.batchSize;
    for (let i = 0; i < chunks.length; i += batch) {
      opts.signal?.throwIfAborted();
      const slice = chunks.slice(i, i + batch);
      let vectors: number[][];
      try {
        vectors = await embedder.embed(
          slice.map((c) => c.text),
          opts.signal,
        );
      } catch (err) {
        throw new Error(`embedding on ${embedder.target} failed: ${errorText(err)}`);
      }
      pending.push(...slice.map((c, j) => ({ ...c, vector: vectors[j] })));
      if (pending.length >= WRITE_ROWS || i + batch >= chunks.length) {
        await rag.vectors.add(collection, pending);
        embedded += pending.length;
        pending = [];
      }
      progress(embedded + pending.length);
    }
    if (chunks.length > WRITE_ROWS) await rag.vectors.optimize(collection);
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    const msg = errorText(err);
    degradedReason = `${/^embedding/.test(msg) || !embedder ? msg : `writing vectors failed: ${msg}`}; ${embedded} of ${chunks.length} chunks have vectors, the rest are searchable by keyword only until ingested again`;
  }
  return { collection, documents: docIds.length, chunks: chunks.length, embedded, ...(degradedReason ? { degradedReason } : {}) };
}
