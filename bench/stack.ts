/**
 * The processes the bench measures. One mocks process for every variant; per variant (a checkout:
 * this one, or BENCH_BASELINE) a Temporal dev server of its own (started by that checkout's
 * scripts/dev-server.ts, so its flags are the ones under test) and the gateway, either as
 * `npm start` runs it (worker and API in one process, eager start) or split in an API and a
 * worker process (the game days' and compose topology).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../chaos/toxiproxy/server';
import { DEFAULT_CONFIG_PATH } from '../config/load';
import { ensureTemporalCli } from '../scripts/ensure-temporal';
import type { RawConfig } from './types';

const HERE = resolve(__dirname, '..');

/** A process and the line that says it is ready. */
async function spawnReady(
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; ready: string; log: string },
): Promise<{ child: ChildProcess; line: string }> {
  const out = createWriteStream(opts.log, { flags: 'a' });
  // BENCH_NODE_ARGS, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, reaches every Node process of the stack.
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((ok, fail) => {
    let seen = '';
    const timer = setTimeout(() => fail(new Error(`${args[0]} not ready after 180 s (log: ${opts.log})`)), 180_000);
    const onData = (d: Buffer) => {
      out.write(d);
      if (seen.length < 200_000) seen += d.toString();
      const at = seen.indexOf(opts.ready);
      if (at >= 0) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.stdout?.pipe(out);
        child.stderr?.pipe(out);
        ok({
          child,
          line: seen
            .slice(at + opts.ready.length)
            .split('\n')[0]
            .trim(),
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`${args[0]} exited (${code}) before it was ready:\n${seen.slice(-3000)}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 10 s; resolves when the process is gone. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

/** The mock providers: origin per target id. */
export interface Mocks {
  origins: Record<string, string>;
  pid: number;
  stop(): Promise<void>;
}

export async function startMocks(logDir: string, chunkDelayMs: number): Promise<Mocks> {
  const { child, line } = await spawnReady([join(HERE, 'bench/mocks-process.ts')], {
    cwd: HERE,
    env: { BENCH_CHUNK_DELAY_MS: String(chunkDelayMs) },
    ready: 'BENCH_READY',
    log: join(logDir, 'mocks.log'),
  });
  return { origins: JSON.parse(line) as Record<string, string>, pid: child.pid!, stop: () => stopChild(child) };
}

/** Which process layout a variant runs. */
export type Topology = 'combined' | 'split';

/** One running variant. */
export interface Variant {
  name: string;
  root: string;
  topology: Topology;
  apiUrl: string;
  /** Combined only: POST here starts an empty workflow eagerly in the gateway's process. */
  floorUrl?: string;
  /** The processes to measure, by role. */
  pids: Record<string, number>;
  /** A client of this variant's Temporal server (histories). */
  client: Client;
  /** Its Temporal server's address. */
  address: string;
  stop(): Promise<void>;
}

export interface VariantOptions {
  name: string;
  root: string;
  topology: Topology;
  mocks: Mocks;
  logDir: string;
  /** Edits the raw config (default.yaml of the variant's root) before it is written. */
  edit?: (raw: RawConfig) => void;
  /** Extra environment of the gateway processes. */
  env?: NodeJS.ProcessEnv;
  log: (line: string) => void;
}

/** Starts a variant's Temporal server and gateway; resolves once the API answers. */
export async function startVariant(o: VariantOptions): Promise<Variant> {
  const tmp = mkdtempSync(join(tmpdir(), `stormproof-bench-${o.name}-`));
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const raw = parse(readFileSync(join(o.root, 'config/default.yaml'), 'utf8')) as RawConfig;
    const defaults = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as RawConfig;
    for (const t of raw.targets) {
      const path = new URL(defaults.targets.find((d) => d.id === t.id)?.baseUrl ?? t.baseUrl).pathname.replace(/\/$/, '');
      t.baseUrl = `${o.mocks.origins[t.id]}${path}`;
    }
    const temporalPort = await freePort();
    raw.temporal.address = `127.0.0.1:${temporalPort}`;
    raw.temporal.uiPort = await freePort();
    raw.temporal.dataDir = join(tmp, 'temporal');
    raw.temporal.taskQueue = `bench-${randomUUID().slice(0, 8)}`;
    raw.api.port = await freePort();
    raw.rag = { ...raw.rag, dataDir: join(tmp, 'rag'), sample: { ...raw.rag?.sample, enabled: false } };
    o.edit?.(raw);
    const configPath = join(tmp, 'config.yaml');
    writeFileSync(configPath, stringify(raw));

    // The variant's own dev-server script: its SQLite pragmas and flags are part of what is measured.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const dev = require(join(o.root, 'scripts/dev-server.ts')) as typeof import('../scripts/dev-server');
    o.log(`[bench] ${o.name}: Temporal dev server on ${raw.temporal.address}…`);
    const server = await dev.startDevServerProcess({
      bin: ensureTemporalCli(),
      host: '127.0.0.1',
      port: temporalPort,
      uiPort: raw.temporal.uiPort,
      dataDir: raw.temporal.dataDir,
      namespace: raw.temporal.namespace ?? 'default',
      log: o.log,
    });
    stops.push(() => server.stop());
    const env = {
      STORMPROOF_CONFIG: configPath,
      STORMPROOF_LOG_LEVEL: 'warn',
      STORMPROOF_INTERNAL_TOKEN: randomUUID(),
      BENCH_ROOT: o.root,
      ...o.env,
    };
    const pids: Record<string, number> = { temporal: server.process.pid! };
    let apiUrl: string;
    let floorUrl: string | undefined;
    o.log(`[bench] ${o.name}: gateway (${o.topology}; bundling workflows takes a while)…`);
    if (o.topology === 'combined') {
      const g = await spawnReady([join(HERE, 'bench/gateway-process.ts')], {
        cwd: o.root,
        env,
        ready: 'BENCH_READY',
        log: join(o.logDir, `${o.name}-gateway.log`),
      });
      stops.push(() => stopChild(g.child));
      const urls = JSON.parse(g.line) as { apiUrl: string; floorUrl: string };
      ({ apiUrl, floorUrl } = urls);
      pids.gateway = g.child.pid!;
    } else {
      const w = await spawnReady([join(o.root, 'worker/main.ts')], {
        cwd: o.root,
        env: { ...env, STORMPROOF_LOG_LEVEL: 'info', STORMPROOF_WORKER_METRICS_PORT: '0' },
        ready: 'worker polling',
        log: join(o.logDir, `${o.name}-worker.log`),
      });
      stops.push(() => stopChild(w.child));
      const a = await spawnReady([join(o.root, 'api/main.ts')], {
        cwd: o.root,
        env: { ...env, STORMPROOF_LOG_LEVEL: 'info' },
        ready: 'API listening',
        log: join(o.logDir, `${o.name}-api.log`),
      });
      stops.push(() => stopChild(a.child));
      apiUrl = `http://127.0.0.1:${raw.api.port}`;
      pids.worker = w.child.pid!;
      pids.api = a.child.pid!;
    }
    const connection = await Connection.connect({ address: raw.temporal.address });
    stops.push(() => connection.close());
    return {
      name: o.name,
      root: o.root,
      topology: o.topology,
      address: raw.temporal.address,
      apiUrl,
      ...(floorUrl ? { floorUrl } : {}),
      pids,
      client: new Client({ connection, namespace: raw.temporal.namespace ?? 'default' }),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A log folder for this run. */
export function runDir(): string {
  const dir = join(HERE, 'reports', 'bench', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}
