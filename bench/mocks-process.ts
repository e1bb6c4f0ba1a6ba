/**
 * The bench's mock providers as their own process (their CPU is not the gateway's): one per target
 * of the default config, on free ports, streams paced at BENCH_CHUNK_DELAY_MS per chunk. Prints
 * `BENCH_READY {"<target id>": "<origin>", …}` on stdout; faults are set over HTTP (`/__faults`).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { startMockProvider, type MockProvider } from '../chaos/mock-provider';
import { DEFAULT_CONFIG_PATH } from '../config/load';

async function main(): Promise<void> {
  const raw = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as { targets: Array<{ id: string; kind: MockProvider['kind'] }> };
  const chunkDelayMs = Number(process.env.BENCH_CHUNK_DELAY_MS ?? 1);
  const mocks: MockProvider[] = [];
  for (const t of raw.targets) mocks.push(await startMockProvider({ kind: t.kind, name: t.id, chunkDelayMs }));
  process.stdout.write(`BENCH_READY ${JSON.stringify(Object.fromEntries(mocks.map((m) => [m.name, m.origin])))}\n`);
  const stop = () => void Promise.all(mocks.map((m) => m.close())).then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
