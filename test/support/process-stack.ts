/**
 * A gateway as separate processes, for drills and secret scans: a Temporal dev server of its own
 * (SQLite on disk, so it survives a SIGKILL), worker processes (`worker/main.ts`) and an API
 * process (`api/main.ts`), each killable with SIGKILL and restartable; mock providers in this
 * process. Every process's output is kept in one log file per process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { parseConfig } from '../../config/load';
import type { GatewayConfig } from '../../config/schema';
import type { MockProvider } from '../../chaos/mock-provider';
import { freePort } from '../../chaos/toxiproxy/server';
import { ensureTemporalCli } from '../../scripts/ensure-temporal';
import { startDevServerProcess, type DevServer } from '../../scripts/dev-server';
import { dataConverterFor } from '../../shared/codec';
import { mockedConfig } from './stack';
import { writeConfig } from './processes';

const ROOT = resolve(__dirname, '..', '..');

export interface ProcessStackOptions {
  /** Edits the raw config (default.yaml with mocks) before it is written. */
  edit?: (raw: any) => void;
  /** Environment of every gateway process (secrets, codec keys). */
  env?: Record<string, string>;
  workers?: number;
}

export interface ProcessStack {
  config: GatewayConfig;
  apiUrl: string;
  mocks: Record<string, MockProvider>;
  /** A client with the stack's data converter (codec keys from `env`). */
  client: Client;
  logDir: string;
  startApi(): Promise<void>;
  killApi(): Promise<void>;
  startWorker(i: number): Promise<void>;
  killWorker(i: number): Promise<void>;
  /** Sends a signal to worker `i` (e.g. SIGHUP: re-read the config file). */
  signalWorker(i: number, signal: NodeJS.Signals): void;
  /** The config file every gateway process reads (STORMPROOF_CONFIG). */
  configPath: string;
  /** SIGKILL of the Temporal server; `startTemporal` brings it back on the same database. */
  killTemporal(): Promise<void>;
  startTemporal(): Promise<void>;
  /** Every process's output so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** Spawns `tsx <script>`; resolves once its stderr says `ready`. */
async function spawnReady(script: string, env: NodeJS.ProcessEnv, ready: string, logFile: string): Promise<ChildProcess> {
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out, { end: false });
  child.once('exit', () => out.end());
  await new Promise<void>((ok, fail) => {
    let seen = '';
    const timer = setTimeout(() => fail(new Error(`${script} not ready after 120 s:\n${seen.slice(-2000)}`)), 120_000);
    child.stderr?.on('data', (d: Buffer) => {
      out.write(d);
      if (seen.length < 200_000) seen += d.toString();
      if (seen.includes(ready)) {
        clearTimeout(timer);
        ok();
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${seen.slice(-2000)}`));
    });
  });
  return child;
}

async function killHard(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** Starts Temporal, the workers and the API as processes; resolves once all are ready. */
export async function startProcessStack(opts: ProcessStackOptions = {}): Promise<ProcessStack> {
  const tmp = mkdtempSync(join(tmpdir(), 'stormproof-procs-'));
  const logDir = join(tmp, 'logs');
  const temporalPort = await freePort();
  const { raw, mocks } = await mockedConfig(`127.0.0.1:${temporalPort}`, opts.edit);
  raw.api.port = await freePort();
  raw.temporal.dataDir = join(tmp, 'temporal');
  const config = parseConfig(raw, 'process stack');
  const configPath = writeConfig(raw);
  const devOpts = {
    bin: ensureTemporalCli(() => undefined),
    host: '127.0.0.1',
    port: temporalPort,
    uiPort: await freePort(),
    dataDir: config.temporal.dataDir,
    namespace: config.temporal.namespace,
    log: () => undefined,
  };
  let temporal: DevServer | undefined = await startDevServerProcess(devOpts);
  // Standalone API and worker processes need the stream relay's token.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STORMPROOF_INTERNAL_TOKEN: randomUUID(),
    ...opts.env,
    STORMPROOF_CONFIG: configPath,
    STORMPROOF_LOG_LEVEL: 'info',
    STORMPROOF_WORKER_METRICS_PORT: '0',
  };
  mkdirSync(logDir, { recursive: true });
  const workers: Array<ChildProcess | undefined> = [];
  let api: ChildProcess | undefined;
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config, { ...process.env, ...opts.env }),
  });
  const stack: ProcessStack = {
    config,
    apiUrl: `http://127.0.0.1:${config.api.port}`,
    mocks,
    client,
    logDir,
    async startApi() {
      if (api && api.exitCode === null && api.signalCode === null) return;
      api = await spawnReady('api/main.ts', env, 'API listening', join(logDir, 'api.log'));
    },
    killApi: () => killHard(api),
    async startWorker(i) {
      if (workers[i] && workers[i]!.exitCode === null && workers[i]!.signalCode === null) return;
      workers[i] = await spawnReady(
        'worker/main.ts',
        { ...env, STORMPROOF_WORKER_IDENTITY: `worker-${i}` },
        'worker polling',
        join(logDir, `worker-${i}.log`),
      );
    },
    killWorker: (i) => killHard(workers[i]),
    signalWorker: (i, signal) => void workers[i]?.kill(signal),
    configPath,
    async killTemporal() {
      await killHard(temporal?.process);
      temporal = undefined;
    },
    async startTemporal() {
      temporal ??= await startDevServerProcess(devOpts);
    },
    logs() {
      return readdirSync(logDir)
        .map((f) => readFileSync(join(logDir, f), 'utf8'))
        .join('\n');
    },
    async stop() {
      await killHard(api);
      await Promise.all(workers.map((w) => killHard(w)));
      await connection.close().catch(() => undefined);
      await temporal?.stop();
      await Promise.all(Object.values(mocks).map((m) => m.close()));
    },
  };
  try {
    for (let i = 0; i < (opts.workers ?? 1); i++) await stack.startWorker(i);
    await stack.startApi();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
