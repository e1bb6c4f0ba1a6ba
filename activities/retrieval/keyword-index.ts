/**
 * The keyword index: SQLite FTS5 with BM25 ranking, kept independently of the vector store so
 * that retrieval still answers when embeddings or the vector store fail. It is also the catalog of
 * collections (a collection exists when the keyword index has it).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Passage } from '../../contracts/retrieval';

/** A chunk as both indexes store it. */
export interface IndexedChunk {
  /** `<docId>#<n>` */
  id: string;
  docId: string;
  source: string;
  text: string;
}

/** A collection's row in the catalog. */
export interface CatalogEntry {
  name: string;
  documents: number;
  chunks: number;
  embeddingModel?: string;
  dimensions?: number;
  updatedAt: string;
  /** The tenant (API key id) that owns it; absent: shared (the sample, CLI ingests), written by admins only. */
  owner?: string;
}

/** Who may see a collection: `exists: false`, or its owner (null: shared by every tenant). */
export type CollectionOwnership = { exists: false } | { exists: true; owner: string | null };

/**
 * Most distinct words of a keyword query that reach FTS5. Why: every term is one more OR branch
 * over the posting lists, on the process's only thread; 40k terms blocked it for 2.6 s (growing
 * faster than linearly). A long message usually ends with its question, so the last words count.
 */
export const MAX_QUERY_TERMS = 32;
/** Longest word kept (longer tokens are noise: hashes, base64). */
const MAX_TERM_CHARS = 64;
/** Only the end of a long text is scanned for words. */
const MAX_SCAN_CHARS = 16_384;

/** Relative weights of the indexed columns in BM25 (source paths count less than the text). */
const SOURCE_WEIGHT = 0.5;
const TEXT_WEIGHT = 1;

/**
 * Free text as an FTS5 query: each word quoted (so no query syntax can be injected), OR-ed; the
 * last {@link MAX_QUERY_TERMS} distinct words of the text, in the order they appear.
 */
export function ftsQuery(text: string, maxTerms = MAX_QUERY_TERMS): string | undefined {
  const words =
    text
      .slice(-MAX_SCAN_CHARS)
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  const terms = new Set<string>();
  for (let i = words.length - 1; i >= 0 && terms.size < maxTerms; i--) if (words[i].length <= MAX_TERM_CHARS) terms.add(words[i]);
  return terms.size
    ? [...terms]
        .reverse()
        .map((t) => `"${t}"`)
        .join(' OR ')
    : undefined;
}

/** SQLite FTS5 keyword index; one FTS table per collection (so BM25 statistics are per collection). */
export class KeywordIndex {
  private readonly db: Database.Database;

  /** Opens (creating) the index at `path`; `:memory:` for tests. */
  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // Another process (the ingest CLI) may be writing: wait for it rather than fail.
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS collections (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, embedding_model TEXT, dimensions INTEGER,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS chunks (
        rowid INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL, doc_id TEXT NOT NULL, chunk_id TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (collection_id, doc_id);`);
    const columns = this.db.prepare('PRAGMA table_info(collections)').all() as Array<{ name: string }>;
    if (!columns.some((c) => c.name === 'owner')) this.db.exec('ALTER TABLE collections ADD COLUMN owner TEXT');
  }

  /** Creates the collection (catalog row and FTS table) when missing; returns its id. */
  private ensure(name: string, owner: string | null, now: string): number {
    const id = this.collectionId(name);
    if (id !== undefined) return id;
    const created = Number(
      this.db.prepare('INSERT INTO collections (name, owner, created_at, updated_at) VALUES (?, ?, ?, ?)').run(name, owner, now, now)
        .lastInsertRowid,
    );
    this.db.exec(
      `CREATE VIRTUAL TABLE fts_${created} USING fts5(chunk_id UNINDEXED, source, text, tokenize = 'porter unicode61 remove_diacritics 2')`,
    );
    return created;
  }

  /** Whether the collection exists, and who owns it. */
  ownership(name: string): CollectionOwnership {
    const row = this.db.prepare('SELECT owner FROM collections WHERE name = ?').get(name) as { owner: string | null } | undefined;
    return row ? { exists: true, owner: row.owner } : { exists: false };
  }

  /**
   * Creates the collection for `owner` when it does not exist yet (atomically: of two tenants
   * racing for a new name, one gets it), and returns who owns it now.
   */
  claim(name: string, owner: string | null): CollectionOwnership & { exists: true } {
    this.db.transaction(() => this.ensure(name, owner, new Date().toISOString())).immediate();
    return this.ownership(name) as CollectionOwnership & { exists: true };
  }

  private collectionId(name: string): number | undefined {
    const row = this.db.prepare('SELECT id FROM collections WHERE name = ?').get(name) as { id: number } | undefined;
    return row?.id;
  }

  /** true if the collection exists. */
  has(name: string): boolean {
    return this.collectionId(name) !== undefined;
  }

  /** Every collection with its counts, by name. */
  list(): CatalogEntry[] {
    const rows = this.db
      .prepare(
        `SELECT c.name, c.embedding_model AS model, c.dimensions, c.updated_at AS updatedAt, c.owner,
           (SELECT COUNT(DISTINCT doc_id) FROM chunks WHERE collection_id = c.id) AS documents,
           (SELECT COUNT(*) FROM chunks WHERE collection_id = c.id) AS chunks
         FROM collections c ORDER BY c.name`,
      )
      .all() as Array<{
      name: string;
      model: string | null;
      dimensions: number | null;
      updatedAt: string;
      documents: number;
      chunks: number;
      owner: string | null;
    }>;
    return rows.map((r) => ({
      name: r.name,
      documents: r.documents,
      chunks: r.chunks,
      ...(r.model ? { embeddingModel: r.model } : {}),
      ...(r.dimensions ? { dimensions: r.dimensions } : {}),
      updatedAt: r.updatedAt,
      ...(r.owner ? { owner: r.owner } : {}),
    }));
  }

  /**
   * Replaces the chunks of every document in `docIds` with `chunks`, in one transaction (a
   * reader sees the old or the new version of a document, never half of it). Creates the
   * collection when missing (shared, unless claimed first: {@link claim}).
   */
  replaceDocuments(
    collection: string,
    docIds: readonly string[],
    chunks: readonly IndexedChunk[],
    meta: { embeddingModel?: string; dimensions?: number } = {},
  ): void {
    const now = new Date().toISOString();
    this.db.transaction(() => {
      const id = this.ensure(collection, null, now);
      this.db
        .prepare(
          'UPDATE collections SET updated_at = ?, embedding_model = coalesce(?, embedding_model), dimensions = coalesce(?, dimensions) WHERE id = ?',
        )
        .run(now, meta.embeddingModel ?? null, meta.dimensions ?? null, id);
      const old = this.db.prepare('SELECT rowid FROM chunks WHERE collection_id = ? AND doc_id = ?');
      const delChunk = this.db.prepare('DELETE FROM chunks WHERE rowid = ?');
      const delFts = this.db.prepare(`DELETE FROM fts_${id} WHERE rowid = ?`);
      for (const doc of new Set(docIds)) {
        for (const { rowid } of old.all(id, doc) as Array<{ rowid: number }>) {
          delFts.run(rowid);
          delChunk.run(rowid);
        }
      }
      const addChunk = this.db.prepare('INSERT INTO chunks (collection_id, doc_id, chunk_id) VALUES (?, ?, ?)');
      const addFts = this.db.prepare(`INSERT INTO fts_${id} (rowid, chunk_id, source, text) VALUES (?, ?, ?, ?)`);
      for (const c of chunks) {
        const rowid = addChunk.run(id, c.docId, c.id).lastInsertRowid;
        addFts.run(rowid, c.id, c.source, c.text);
      }
    })();
  }

  /**
   * The `topK` chunks best matching `query` by BM25, best first; `score` is the BM25 relevance
   * (higher is better). Throws if the collection does not exist.
   */
  search(collection: string, query: string, topK: number): Passage[] {
    const id = this.collectionId(collection);
    if (id === undefined) throw new Error(`no collection "${collection}" in the keyword index`);
    const match = ftsQuery(query);
    if (!match) return [];
    const rows = this.db
      .prepare(
        `SELECT chunk_id AS id, source, text, -bm25(fts_${id}, 0, ${SOURCE_WEIGHT}, ${TEXT_WEIGHT}) AS score FROM fts_${id} WHERE fts_${id} MATCH ? ORDER BY score DESC LIMIT ?`,
      )
      .all(match, topK) as Passage[];
    return rows;
  }

  close(): void {
    this.db.close();
  }
}
