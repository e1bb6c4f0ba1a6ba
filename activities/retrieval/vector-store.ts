/**
 * The vector store: embedded LanceDB, one table per collection, cosine distance. Opened lazily,
 * so a process that never retrieves never loads the native module.
 */
import type { Connection, Table } from '@lancedb/lancedb';
import type { Passage } from '../../contracts/retrieval';
import type { IndexedChunk } from './keyword-index';

/** A chunk with its embedding. */
export interface VectorRow extends IndexedChunk {
  vector: number[];
}

/** A SQL string literal (LanceDB filters are SQL). */
function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Deletes are batched so a filter stays a reasonable size. */
const DELETE_BATCH = 200;

/** LanceDB tables under one directory. */
export class VectorStore {
  private conn?: Promise<Connection>;
  private readonly tables = new Map<string, Promise<Table>>();

  constructor(readonly dir: string) {}

  private connection(): Promise<Connection> {
    this.conn ??= (async () => {
      // LanceDB's native logger warns on every table it creates; keep only errors unless asked.
      process.env.LANCEDB_LOG ??= 'error';
      const lancedb = await import('@lancedb/lancedb');
      // 0: every read sees writes made by other processes (the ingest CLI) at once.
      return lancedb.connect(this.dir, { readConsistencyInterval: 0 });
    })();
    this.conn.catch(() => (this.conn = undefined));
    return this.conn;
  }

  private async table(collection: string): Promise<Table | undefined> {
    const cached = this.tables.get(collection);
    if (cached) return cached;
    const db = await this.connection();
    if (!(await db.tableNames()).includes(collection)) return undefined;
    const opened = db.openTable(collection);
    this.tables.set(collection, opened);
    opened.catch(() => this.tables.delete(collection));
    return opened;
  }

  /** true if the collection has a vector table. */
  async has(collection: string): Promise<boolean> {
    return (await this.table(collection)) !== undefined;
  }

  /** Rows in the collection's table (0 when it has none). */
  async count(collection: string): Promise<number> {
    const t = await this.table(collection);
    return t ? t.countRows() : 0;
  }

  /** Removes every row of these documents. */
  async deleteDocuments(collection: string, docIds: readonly string[]): Promise<void> {
    const t = await this.table(collection);
    if (!t) return;
    const ids = [...new Set(docIds)];
    for (let i = 0; i < ids.length; i += DELETE_BATCH) {
      await t.delete(
        `doc_id IN (${ids
          .slice(i, i + DELETE_BATCH)
          .map(sqlString)
          .join(', ')})`,
      );
    }
  }

  /** Appends rows, creating the collection's table with the first ones. */
  async add(collection: string, rows: readonly VectorRow[]): Promise<void> {
    if (!rows.length) return;
    const data = rows.map((r) => ({ id: r.id, doc_id: r.docId, source: r.source, text: r.text, vector: r.vector }));
    const t = await this.table(collection);
    if (t) {
      await t.add(data);
      return;
    }
    const db = await this.connection();
    try {
      const created = await db.createTable(collection, data, { mode: 'create' });
      this.tables.set(collection, Promise.resolve(created));
    } catch (err) {
      // Another writer created it first: append instead.
      const again = await this.table(collection);
      if (!again) throw err;
      await again.add(data);
    }
  }

  /** The `topK` nearest chunks to `vector`, best first; `score` is the cosine similarity. */
  async search(collection: string, vector: number[], topK: number): Promise<Passage[]> {
    const t = await this.table(collection);
    if (!t) throw new Error(`collection "${collection}" has no vector table`);
    const rows = (await t.vectorSearch(vector).distanceType('cosine').select(['id', 'source', 'text']).limit(topK).toArray()) as Array<{
      id: string;
      source: string;
      text: string;
      _distance: number;
    }>;
    return rows.map((r) => ({ id: r.id, source: r.source, text: r.text, score: 1 - r._distance }));
  }

  /** Compacts a table after many small appends. */
  async optimize(collection: string): Promise<void> {
    await (await this.table(collection))?.optimize();
  }

  /** Closes the connection and its tables. */
  async close(): Promise<void> {
    for (const t of this.tables.values()) (await t.catch(() => undefined))?.close();
    this.tables.clear();
    const c = await this.conn?.catch(() => undefined);
    c?.close();
    this.conn = undefined;
  }
}
