/** The `rag` section of the gateway config: retrieval, embeddings, ingestion, the sample collection. */
import { z } from 'zod';

export const RagConfigSchema = z
  .object({
    /** Where the vector store (LanceDB) and the keyword index (SQLite) live; relative to the working directory. */
    dataDir: z.string().min(1).default('.data/rag'),
    embeddings: z
      .object({
        /** The target whose OpenAI-format `/embeddings` endpoint embeds (default: the first openai or openai-compatible target). */
        target: z.string().min(1).optional(),
        /** The provider's embedding model. */
        model: z.string().min(1).default('text-embedding-3-small'),
        /** Vector size asked of the provider (omit for the model's own). Changing it needs a re-ingest. */
        dimensions: z.number().int().min(1).max(4096).optional(),
        /** Texts per embeddings call during ingestion. */
        batchSize: z.number().int().min(1).max(2048).default(64),
        /** One ingestion embeddings call's timeout. */
        timeoutMs: z.number().int().positive().default(30_000),
      })
      .strict()
      .prefault({}),
    /** Embedding the query plus the vector search must finish within this, or keyword search answers (why: a slow embeddings provider must not stall every RAG request). */
    vectorBudgetMs: z.number().int().positive().default(2_000),
    /** Passages retrieved when a request's `rag.topK` is not set. */
    defaultTopK: z.number().int().min(1).max(50).default(4),
    chunk: z
      .object({
        /** Longest chunk, in characters. */
        maxChars: z.number().int().min(100).default(1_000),
        /** Text a chunk repeats from the end of the previous one, in characters. */
        overlapChars: z.number().int().min(0).default(150),
      })
      .strict()
      .prefault({}),
    /** A collection ingested from a folder of markdown files on start when missing. */
    sample: z
      .object({
        enabled: z.boolean().default(true),
        collection: z.string().min(1).default('sample'),
        /** Relative to the working directory. */
        dir: z.string().min(1).default('config/rag-sample'),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type RagConfig = z.infer<typeof RagConfigSchema>;

/** Cross-checks with the targets the schema of `rag` alone cannot make; returns "path: message" issues. */
export function ragConfigIssues(
  rag: RagConfig,
  targets: ReadonlyArray<{ id: string; kind: string }>,
): Array<{ path: PropertyKey[]; message: string }> {
  const issues: Array<{ path: PropertyKey[]; message: string }> = [];
  if (rag.chunk.overlapChars >= rag.chunk.maxChars / 2)
    issues.push({ path: ['rag', 'chunk', 'overlapChars'], message: 'must be less than half of maxChars' });
  const id = rag.embeddings.target;
  if (id === undefined) return issues;
  const t = targets.find((x) => x.id === id);
  if (!t) issues.push({ path: ['rag', 'embeddings', 'target'], message: `no target "${id}"; name one of the targets` });
  else if (t.kind === 'anthropic')
    issues.push({
      path: ['rag', 'embeddings', 'target'],
      message: `target "${id}" is an anthropic target, which has no embeddings endpoint; name an openai or openai-compatible target`,
    });
  return issues;
}

/** The target that embeds: the configured one, else the first OpenAI-format target. */
export function embeddingsTargetId(rag: RagConfig, targets: ReadonlyArray<{ id: string; kind: string }>): string | undefined {
  return rag.embeddings.target ?? targets.find((t) => t.kind !== 'anthropic')?.id;
}
