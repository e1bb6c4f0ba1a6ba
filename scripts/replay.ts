/**
 * `npm run replay -- <workflow id> [--run-id <id>] [--address host:port] [--namespace ns] [--save <file>]`
 * fetches a workflow's history from a running Temporal server (default 127.0.0.1:7233, e.g. the
 * one `npm start` runs) and replays it locally with the current workflow code, printing success
 * or where the code diverges. `--file <history.json>` replays a saved history instead (a fixture,
 * the CLI's `temporal workflow show --output json`, the Web UI's download). Exit code 1 on divergence.
 */
import { writeFileSync } from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { AesGcmCodec, parseCodecKeys } from '../shared/codec';
import { historyToJson } from '../worker/history-json';
import { readHistoryFile, replayOne, workflowIdOf, workflowTypeOf, type History } from '../worker/replay';
import { installRuntime } from '../shared/runtime';

const USAGE =
  'usage: npm run replay -- <workflow id>… [--run-id <id>] [--address host:port] [--namespace ns] [--save <file>] | --file <history.json>…';

function parseArgs(argv: string[]) {
  const opts = {
    ids: [] as string[],
    files: [] as string[],
    runId: undefined as string | undefined,
    address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    save: undefined as string | undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--run-id') opts.runId = value();
    else if (a === '--address') opts.address = value();
    else if (a === '--namespace') opts.namespace = value();
    else if (a === '--save') opts.save = value();
    else if (a === '--file') opts.files.push(value());
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else opts.ids.push(a);
  }
  if (!opts.ids.length && !opts.files.length) throw new Error(USAGE);
  if (opts.save && opts.ids.length !== 1) throw new Error('--save takes exactly one workflow id');
  return opts;
}

async function check(label: string, history: History, fallbackId: string): Promise<boolean> {
  const events = history.events?.length ?? 0;
  const t0 = Date.now();
  const failure = await replayOne(history, fallbackId, codecSource(), label);
  const took = `${Date.now() - t0} ms`;
  if (failure) console.log(`✖ ${failure}\n  (replayed in ${took})`);
  else
    console.log(
      `✔ ${label}: ${workflowTypeOf(history)} (${workflowIdOf(history, fallbackId)}, ${events} events) replays with the current workflow code (${took})`,
    );
  return !failure;
}

/** Histories sealed by the payload codec replay with the keys in STORMPROOF_CODEC_KEYS. */
function codecSource() {
  const keys = parseCodecKeys(process.env.STORMPROOF_CODEC_KEYS, 'STORMPROOF_CODEC_KEYS');
  return keys.length ? { dataConverter: { payloadCodecs: [new AesGcmCodec(keys)] } } : {};
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  installRuntime();
  let ok = true;
  for (const file of opts.files) ok = (await check(file, readHistoryFile(file), file)) && ok;
  if (opts.ids.length) {
    const connection = await Connection.connect({ address: opts.address }).catch((err: Error) => {
      throw new Error(
        `cannot reach Temporal at ${opts.address} (${err.message}); is the stack running (npm start)? Use --address host:port otherwise.`,
      );
    });
    try {
      const client = new Client({ connection, namespace: opts.namespace });
      for (const id of opts.ids) {
        const history = await client.workflow.getHandle(id, opts.runId).fetchHistory();
        if (opts.save) {
          writeFileSync(opts.save, `${historyToJson(history)}\n`);
          console.log(`saved ${history.events?.length ?? 0} events to ${opts.save}`);
        }
        ok = (await check(`${id}${opts.runId ? ` (run ${opts.runId})` : ''}`, history, id)) && ok;
      }
    } finally {
      await connection.close();
    }
  }
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
