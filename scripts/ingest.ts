/**
 * `npm run ingest -- <collection> <files or folders…>`: chunks, embeds (in batches) and indexes
 * documents into a RAG collection, printing progress. Folders are read recursively (markdown and
 * text files). Embedding uses the config's `rag.embeddings` target, so under the default config
 * run it while `npm start` runs (its mock providers embed); otherwise the documents are indexed
 * for keyword search only and a warning says so.
 */
import { loadConfig, ConfigError } from '../config/load';
import { createRagService, ingestDocuments, readDocuments, IngestInputError } from '../activities/retrieval';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  const [collection, ...paths] = process.argv.slice(2);
  if (!collection || !paths.length) {
    say('usage: npm run ingest -- <collection> <files or folders…>');
    return 2;
  }
  const config = loadConfig();
  const docs = readDocuments(paths);
  if (!docs.length) {
    say(`[ingest] no documents found in ${paths.join(', ')} (folders are searched for ${['.md', '.txt', '…'].join(', ')} files)`);
    return 2;
  }
  const rag = createRagService(config);
  say(
    `[ingest] ${docs.length} document(s) into "${collection}" (data in ${config.rag.dataDir}; embeddings: ${rag.embedder ? `${rag.embedder.model} on ${rag.embedder.target}` : 'none'})`,
  );
  const t0 = Date.now();
  let lastLine = 0;
  try {
    const result = await ingestDocuments(rag, collection, docs, {
      onProgress: (p) => {
        // One line per second at most, plus the first and the last.
        if (p.embedded !== 0 && p.embedded !== p.chunks && Date.now() - lastLine < 1_000) return;
        lastLine = Date.now();
        say(
          `[ingest] ${p.documents} documents, ${p.chunks} chunks; embedded ${p.embedded}/${p.chunks} (${p.chunks ? Math.floor((100 * p.embedded) / p.chunks) : 100}%)`,
        );
      },
    });
    say(
      `[ingest] done in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${result.documents} documents, ${result.chunks} chunks, ${result.embedded} with vectors`,
    );
    if (result.degradedReason) say(`[ingest] WARNING: ${result.degradedReason}`);
    return 0;
  } finally {
    await rag.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    say(err instanceof ConfigError || err instanceof IngestInputError ? `[ingest] ${err.message}` : `[ingest] failed: ${err.stack ?? err}`);
    process.exit(1);
  },
);
