/** The sample collection the default config ships (`rag.sample`), ingested on start when missing. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GatewayConfig } from '../../config/schema';
import type { IngestResult } from '../../contracts/retrieval';
import { readDocuments } from './files';
import { ingestDocuments } from './ingest';
import { sharedRagService, type RagService } from './service';

/** Options of {@link ensureSampleCollection}. */
export interface EnsureSampleOptions {
  /** Default: the process's shared service for the config. */
  rag?: RagService;
  log?: (line: string) => void;
  /** Where `rag.sample.dir` is relative to (default: the working directory). */
  base?: string;
}

/**
 * Ingests the sample collection when it is missing, or when some of its chunks have no vectors
 * (it was ingested while embedding failed). Returns what was ingested, or undefined when nothing
 * had to be. Embedding failures do not throw (the result's `degradedReason` says what failed).
 */
export async function ensureSampleCollection(config: GatewayConfig, opts: EnsureSampleOptions = {}): Promise<IngestResult | undefined> {
  const sample = config.rag.sample;
  if (!sample.enabled) return undefined;
  const rag = opts.rag ?? sharedRagService(config);
  const existing = rag.keyword.list().find((c) => c.name === sample.collection);
  if (existing && existing.chunks > 0 && (await rag.vectors.count(sample.collection).catch(() => 0)) >= existing.chunks) return undefined;
  const base = opts.base ?? process.cwd();
  const dir = resolve(base, sample.dir);
  if (!existsSync(dir)) throw new Error(`rag.sample.dir: ${dir} does not exist; fix the path or set rag.sample.enabled: false`);
  const result = await ingestDocuments(rag, sample.collection, readDocuments([dir], base));
  opts.log?.(
    `[rag] ingested the sample collection "${sample.collection}": ${result.documents} documents, ${result.chunks} chunks, ${result.embedded} with vectors` +
      (result.degradedReason ? ` (${result.degradedReason})` : ''),
  );
  return result;
}
