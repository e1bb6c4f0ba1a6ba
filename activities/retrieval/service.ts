/**
 * The retrieval service: the keyword index, the vector store and the embedder of one data
 * directory, shared by the retrieval activity, the collections API and the ingest CLI.
 */
import { resolve } from 'node:path';
import type { GatewayConfig } from '../../config/schema';
import type { RagConfig } from '../../config/rag-schema';
import { embedderFromConfig, type Embedder } from './embedder';
import { KeywordIndex } from './keyword-index';
import { VectorStore } from './vector-store';

/** What retrieval and ingestion work on. */
export interface RagService {
  readonly config: RagConfig;
  readonly keyword: KeywordIndex;
  readonly vectors: VectorStore;
  /** Undefined when no target can embed: retrieval is keyword-only. */
  readonly embedder?: Embedder;
  close(): Promise<void>;
}

/** Options of {@link createRagService}. */
export interface RagServiceOptions {
  env?: NodeJS.ProcessEnv;
  /** Overrides `rag.dataDir`. */
  dataDir?: string;
  /** Overrides the embedder the config names (tests, other providers). */
  embedder?: Embedder;
}

/** A service over `rag.dataDir`; the keyword index and vector store open on first use. */
export function createRagService(config: GatewayConfig, opts: RagServiceOptions = {}): RagService {
  const dir = resolve(opts.dataDir ?? config.rag.dataDir);
  let keyword: KeywordIndex | undefined;
  let vectors: VectorStore | undefined;
  const embedder = opts.embedder ?? embedderFromConfig(config, opts.env);
  return {
    config: config.rag,
    embedder,
    get keyword() {
      return (keyword ??= new KeywordIndex(resolve(dir, 'keyword.db')));
    },
    get vectors() {
      return (vectors ??= new VectorStore(resolve(dir, 'vectors')));
    },
    async close() {
      keyword?.close();
      await vectors?.close();
      keyword = undefined;
      vectors = undefined;
    },
  };
}

const shared = new Map<string, RagService>();

/**
 * One service per data directory in this process, so the worker's activity and the API (which
 * share a process under `npm start`) use one SQLite connection and one LanceDB connection.
 */
export function sharedRagService(config: GatewayConfig, env?: NodeJS.ProcessEnv): RagService {
  const dir = resolve(config.rag.dataDir);
  let s = shared.get(dir);
  if (!s) {
    s = createRagService(config, { env });
    shared.set(dir, s);
  }
  return s;
}
