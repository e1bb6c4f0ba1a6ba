/**
 * The embedded Temporal dev server of `npm start`: a child process of the pinned CLI, with SQLite
 * persistence in WAL mode (as Temporal's own CI runs it), the Web UI, and our search attributes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../contracts/workflow-api';

/**
 * Why each flag: one node, one task-queue partition
 * (the default 4 spread a handful of pollers over partitions and forward tasks between them);
 * activities dispatched eagerly in the workflow task's answer (a stream or a long call starts
 * without a matching round trip); a larger SQLite page cache in memory.
 */
export const DEV_SERVER_TUNING = [
  '--dynamic-config-value',
  'matching.numTaskqueueReadPartitions=1',
  '--dynamic-config-value',
  'matching.numTaskqueueWritePartitions=1',
  '--dynamic-config-value',
  'system.enableActivityEagerExecution=true',
  '--sqlite-pragma',
  'cache_size=-65536',
  '--sqlite-pragma',
  'temp_store=memory',
];

export interface DevServerOptions {
  bin: string;
  host: string;
  port: number;
  uiPort: number;
  dataDir: string;
  namespace: string;
  log: (line: string) => void;
  /** The API's codec endpoint, so the Web UI shows sealed payloads (set when codec keys are). */
  codecEndpoint?: string;
}

export interface DevServer {
  process: ChildProcess;
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/** Starts the server and waits (with progress) until its frontend answers. */
export async function startDevServerProcess(opts: DevServerOptions): Promise<DevServer> {
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const args = [
    'server',
    'start-dev',
    '--ip',
    opts.host,
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--db-filename',
    join(dataDir, 'temporal.db'),
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    ...DEV_SERVER_TUNING,
    '--namespace',
    opts.namespace,
    '--log-level',
    'error',
    '--ui-disable-news-fetch',
    ...(opts.codecEndpoint ? ['--ui-codec-endpoint', opts.codecEndpoint] : []),
    ...Object.values(SEARCH_ATTRIBUTES).flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
  ];
  const child = spawn(opts.bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const address = `${opts.host}:${opts.port}`;
  const started = Date.now();
  for (let i = 0; ; i++) {
    if (exited !== undefined) {
      const hint = /locked|busy/i.test(output)
        ? `the database ${join(dataDir, 'temporal.db')} is locked: is another Stormproof or Temporal still running? Stop it, or set temporal.dataDir elsewhere`
        : /address already in use|bind/i.test(output)
          ? `a port is in use (temporal.address ${address} or Web UI ${opts.uiPort}); stop whatever holds it or change the config`
          : 'see its output above';
      throw new Error(`the Temporal dev server exited (code ${exited}): ${hint}\n--- temporal output ---\n${output.trim()}`);
    }
    try {
      const conn = await NativeConnection.connect({ address });
      await conn.close();
      break;
    } catch {
      if (Date.now() - started > 60_000) {
        child.kill('SIGTERM');
        throw new Error(`the Temporal dev server did not answer on ${address} within 60 s\n${output.trim()}`);
      }
      if (i % 10 === 9) opts.log(`  …waiting for Temporal on ${address} (${Math.round((Date.now() - started) / 1000)} s)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    process: child,
    address,
    uiUrl: `http://${opts.host}:${opts.uiPort}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
