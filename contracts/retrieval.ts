/**
 * Retrieval (RAG): what the retrieval activity returns and the failures it raises. Pure zod;
 * imports nothing from Node, so workflows may use it.
 */
import { z } from 'zod';

/** A collection name: also a vector-table name, so a conservative character set. */
export const CollectionNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'use 1-64 lowercase letters, digits, _ or -, starting with a letter or digit');

/** One retrieved passage: a chunk of a document, with where it came from. */
export const PassageSchema = z.object({
  /** The chunk id, `<document id>#<n>`. */
  id: z.string(),
  /** Where the document came from (a path or URL), shown to the model and listed in the answer. */
  source: z.string(),
  text: z.string(),
  /** Higher is better: cosine similarity in vector mode, BM25 relevance in keyword mode. */
  score: z.number(),
});
export type Passage = z.infer<typeof PassageSchema>;

/** What one retrieval returned and how. */
export const RetrievalResultSchema = z.object({
  /** `vector`: embedding similarity; `keyword`: the BM25 fallback (degraded). */
  mode: z.enum(['vector', 'keyword']),
  /** Best first. */
  passages: z.array(PassageSchema),
  /** Set when the vector path failed and keyword search answered instead: what failed, in words. */
  degradedReason: z.string().optional(),
});
export type RetrievalResult = z.infer<typeof RetrievalResultSchema>;

/** Input of the retrieval activity. */
export const RetrievalInputSchema = z.object({
  collection: z.string().min(1),
  query: z.string().min(1),
  topK: z.number().int().min(1).max(50),
});
export type RetrievalInput = z.infer<typeof RetrievalInputSchema>;

/** A document to ingest. Without `id`, the source is the id (ingesting it again replaces it). */
export const IngestDocumentSchema = z
  .object({
    id: z.string().min(1).max(512).optional(),
    source: z.string().min(1).max(2048),
    text: z.string().min(1),
  })
  .strict();
export type IngestDocument = z.infer<typeof IngestDocumentSchema>;

/** Body of `POST /v1/collections/:name/documents`. */
export const IngestRequestSchema = z.object({ documents: z.array(IngestDocumentSchema).min(1, 'send at least one document') }).strict();
export type IngestRequest = z.infer<typeof IngestRequestSchema>;

/**
 * The workflow that ingests documents, run by a worker: the embeddings call needs the provider's
 * key, and keys live in the worker's environment, never the API's (issue 14).
 */
export const RAG_INGEST_WORKFLOW = 'ragIngestWorkflow';

/** Input of {@link RAG_INGEST_WORKFLOW} and of the ingest activity. */
export interface RagIngestInput {
  collection: string;
  documents: IngestDocument[];
}

/** What an ingestion did. */
export interface IngestResult {
  collection: string;
  documents: number;
  chunks: number;
  /** Chunks that got a vector; fewer than `chunks` when embedding failed. */
  embedded: number;
  /** Set when embedding failed: the documents are searchable by keyword only until ingested again. */
  degradedReason?: string;
}

/** One collection as `GET /v1/collections` lists it. */
export interface CollectionInfo {
  name: string;
  documents: number;
  chunks: number;
  /** Chunks in the vector store (fewer than `chunks` when some were never embedded). */
  vectors: number;
  embeddingModel?: string;
  dimensions?: number;
  updatedAt: string;
}

/** Failure types of retrieval (defined without zod: the workflow bundle imports them). */
export { RagFailure } from './rag-failure';
