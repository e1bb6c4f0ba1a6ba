/**
 * Retrieval (RAG) with data degradation: vector search (LanceDB, embeddings from a target's
 * OpenAI-format endpoint) within a time budget, falling back to BM25 keyword search (SQLite FTS5)
 * over an index kept independently. See docs/rag.md.
 */
export { createRetrievalActivities, type RetrievalActivityDeps } from './activity';
export { retrieve, CollectionNotFoundError, RetrievalUnavailableError } from './retrieve';
export { ingestDocuments, chunkDocuments, IngestInputError, type IngestOptions, type IngestProgress } from './ingest';
export { listCollections } from './catalog';
export { ensureSampleCollection, type EnsureSampleOptions } from './sample';
export { readDocuments, TEXT_EXTENSIONS } from './files';
export { createRagService, sharedRagService, type RagService, type RagServiceOptions } from './service';
export { createOpenAiEmbedder, embedderFromConfig, type Embedder, type OpenAiEmbedderOptions } from './embedder';
export { KeywordIndex, ftsQuery, type IndexedChunk, type CatalogEntry } from './keyword-index';
export { VectorStore, type VectorRow } from './vector-store';
export { chunkText, type ChunkOptions } from './chunk';
