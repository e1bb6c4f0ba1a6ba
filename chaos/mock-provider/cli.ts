/**
 * CLI: start one mock provider until SIGINT/SIGTERM.
 *
 *   tsx chaos/mock-provider/cli.ts --kind openai --port 18081 --name x [--host 127.0.0.1] [--api-key k] [--chunk-delay-ms 20]
 */
import { startMockProvider, type ProviderKind } from './server';

/** Parses `--key value` pairs. */
function parseArgs(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else out[a.slice(2)] = argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : 'true';
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const kind = (args.kind ?? 'openai') as ProviderKind;
  if (!['openai', 'anthropic', 'openai-compatible'].includes(kind)) {
    console.error(`--kind must be openai, anthropic or openai-compatible (got ${kind})`);
    process.exit(2);
  }
  const port = args.port !== undefined ? Number(args.port) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid --port ${args.port}`);
    process.exit(2);
  }
  const chunkDelayMs = args['chunk-delay-ms'] !== undefined ? Number(args['chunk-delay-ms']) : undefined;
  if (chunkDelayMs !== undefined && !(Number.isInteger(chunkDelayMs) && chunkDelayMs >= 0)) {
    console.error(`invalid --chunk-delay-ms ${args['chunk-delay-ms']}`);
    process.exit(2);
  }
  const mock = await startMockProvider({ kind, port, name: args.name, host: args.host, apiKey: args['api-key'], chunkDelayMs });
  console.log(`mock ${mock.kind} provider '${mock.name}' listening on ${mock.origin} (baseURL ${mock.baseUrl})`);
  const stop = (signal: string): void => {
    console.log(`${signal}: closing mock provider '${mock.name}'`);
    void mock.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
