/** The collections there are, with their counts in both indexes. */
import type { CollectionInfo } from '../../contracts/retrieval';
import type { RagService } from './service';

/** Every collection; `vectors` is 0 for one whose vector store cannot be read. */
export async function listCollections(rag: RagService): Promise<CollectionInfo[]> {
  return Promise.all(rag.keyword.list().map(async (c) => ({ ...c, vectors: await rag.vectors.count(c.name).catch(() => 0) })));
}
