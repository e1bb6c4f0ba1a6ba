/**
 * The game-day stack, as separate processes at the DEFAULT config (config/default.yaml, only
 * rewired: ports, the Temporal address, a unique task queue, data dirs in a temp folder, and each
 * target's baseUrl pointed at a toxiproxy proxy). Per target: toxiproxy → recorder → an in-process
 * mock provider. A Temporal dev server of our own (so it can be restarted on its SQLite file),
 * worker processes (`worker/main.ts`) and an API process (`api/main.ts`) that can be SIGKILLed.
 * Breakers, probes, retries and timeouts keep their defaults: never tuned. A scenario may choose
 * one thing, the routing strategy (./overrides), merged in before the config is parsed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../../config/load';
import type { GatewayConfig } from '../../config/schema';
import { startMockProvider, type MockProvider } from '../mock-provider';
import { freePort, startToxiproxy, type RunningToxiproxy } from '../toxiproxy/server';
import { ensureTemporalCli } from '../../scripts/ensure-temporal';
import { startDevServerProcess, type DevServer } from '../../scripts/dev-server';
import { BreakerView } from '../../shared/breaker-view';
import { overrideBreaker } from '../../shared/breakers';
import type { BreakerAction } from '../../contracts/breaker';
import { ensureSampleCollection } from '../../activities/retrieval/sample';
import { createRagService } from '../../activities/retrieval/service';
import { mergeGatewayOverrides, type GatewayOverrides, type StrategySource } from './overrides';
import { startRecorder, type Recorder } from './recorder';

const ROOT = resolve(__dirname, '..', '..');

/** Options of {@link startStack}. */
export interface StackOptions {
  workers: number;
  chunkDelayMs: number;
  /** Folder for process logs. */
  logDir: string;
  /** ms since the load started (for the recorders). */
  now: () => number;
  log?: (line: string) => void;
  /**
   * The gateway config (default: config/default.yaml). Targets with `mock: true` get a mock
   * provider; the others are real upstreams, reached through toxiproxy and a recorder that speaks
   * TLS to them (their keys come from the environment, as for `npm start`).
   */
  configPath?: string;
  /** PEM CA certificates the recorders trust for real https upstreams, beside the system's. */
  upstreamCa?: string;
  /** The scenario's `gateway:` block (the routing strategy), merged into the config. */
  gateway?: GatewayOverrides;
}

/** One target's chain: toxiproxy proxy → recorder → mock (or the real upstream). */
export interface TargetChain {
  id: string;
  /** Undefined for a real upstream. */
  mock?: MockProvider;
  /** Where the recorder forwards to: the mock's or the real upstream's origin. */
  upstream: string;
  recorder: Recorder;
  proxyName: string;
  proxyPort: number;
}

/** A running game-day stack. */
export interface GamedayStack {
  config: GatewayConfig;
  configPath: string;
  /** The routing strategy in force, and whether the scenario or the config chose it. */
  routing: { strategy: string; from: StrategySource };
  apiUrl: string;
  targets: Record<string, TargetChain>;
  toxiproxy: RunningToxiproxy;
  client: Client;
  breakers: BreakerView;
  workers: Array<ChildProcess | undefined>;
  killWorker(index: number): Promise<void>;
  startWorker(index: number): Promise<void>;
  restartTemporal(downMs: number): Promise<void>;
  restartApi(downMs: number): Promise<void>;
  overrideBreaker(target: string, action: BreakerAction): Promise<void>;
  /** The tier of a model (config id or provider model; a tier name is its own tier). */
  tierOf(model: string): string | undefined;
  /** Removes every toxic, enables every proxy and clears every mock's faults. */
  resetFaults(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<GamedayStack>();

/** Stops every stack this process started (for Ctrl-C: no child process is left behind). */
export async function stopAllStacks(): Promise<void> {
  await Promise.all([...running].map((s) => s.stop()));
}

let bundle: Promise<string> | undefined;
/** The workflow bundle, built once per process (or STORMPROOF_WORKFLOW_BUNDLE). */
function workflowBundle(): Promise<string> {
  if (process.env.STORMPROOF_WORKFLOW_BUNDLE) return Promise.resolve(process.env.STORMPROOF_WORKFLOW_BUNDLE);
  bundle ??= (async () => {
    const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quiet as never });
    const p = join(mkdtempSync(join(tmpdir(), 'stormproof-gameday-bundle-')), 'workflow-bundle.js');
    writeFileSync(p, code);
    return p;
  })();
  return bundle;
}

/** Spawns `tsx <script>` and resolves once a stderr line includes `ready`; output goes to `logFile`. */
async function spawnReady(
  script: string,
  env: NodeJS.ProcessEnv,
  ready: string,
  logFile: string,
  timeoutMs = 90_000,
): Promise<ChildProcess> {
  const out: WriteStream = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out, { end: false });
  child.once('exit', () => out.end());
  await new Promise<void>((resolveReady, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`${script} not ready after ${timeoutMs} ms:\n${log.slice(-2000)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out.write(d);
      if (log.length < 100_000) log += d.toString();
      if (log.includes(ready)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code ?? signal}) before it was ready:\n${log.slice(-2000)}`));
    });
  });
  return child;
}

/** SIGKILL and wait for the exit. */
async function killHard(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}

/** Each model's tier, by config id and by provider model; a tier name is its own tier. */
export function tierIndex(config: Pick<GatewayConfig, 'tiers' | 'targets'>): (model: string) => string | undefined {
  const tiers = new Map<string, string>();
  for (const [tier, models] of Object.entries(config.tiers)) {
    tiers.set(tier, tier);
    for (const m of models) tiers.set(m, tier);
  }
  for (const t of config.targets)
    for (const m of t.models) if (m.providerModel && tiers.has(m.id)) tiers.set(m.providerModel, tiers.get(m.id)!);
  return (model) => tiers.get(model);
}

/** Starts the whole stack; resolves once the API listens and every worker polls. */
export async function startStack(opts: StackOptions): Promise<GamedayStack> {
  const say = opts.log ?? (() => undefined);
  mkdirSync(opts.logDir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'stormproof-gameday-'));
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    stops.length = 0;
  };
  try {
    say('[gameday] starting toxiproxy…');
    const toxiproxy = await startToxiproxy({ logFile: join(opts.logDir, 'toxiproxy.log') });
    stops.push(() => toxiproxy.stop());
    const raw = parse(readFileSync(opts.configPath ?? DEFAULT_CONFIG_PATH, 'utf8'));
    const targets: Record<string, TargetChain> = {};
    type RawTarget = {
      id: string;
      kind: 'openai' | 'anthropic' | 'openai-compatible';
      baseUrl: string;
      mock?: boolean;
      models?: Array<{ id: string; providerModel?: string }>;
    };
    for (const t of raw.targets as RawTarget[]) {
      const mock = t.mock ? await startMockProvider({ kind: t.kind, name: t.id, chunkDelayMs: opts.chunkDelayMs }) : undefined;
      if (mock) stops.push(() => mock.close());
      const upstream = mock?.origin ?? new URL(t.baseUrl).origin;
      const modelIds = Object.fromEntries((t.models ?? []).map((m) => [m.providerModel ?? m.id, m.id]));
      const recorder = await startRecorder(t.id, upstream, opts.now, { ca: opts.upstreamCa, modelIds });
      stops.push(() => recorder.close());
      const proxy = await toxiproxy.client.createProxy({
        name: t.id,
        listen: '127.0.0.1:0',
        upstream: `127.0.0.1:${recorder.port}`,
        enabled: true,
      });
      const proxyPort = Number(proxy.listen.split(':').at(-1));
      const path = new URL(t.baseUrl).pathname.replace(/\/$/, '');
      t.baseUrl = `http://127.0.0.1:${proxyPort}${path}`;
      targets[t.id] = { id: t.id, mock, upstream, recorder, proxyName: t.id, proxyPort };
    }
    const real = Object.values(targets).filter((t) => !t.mock);
    say(
      `[gameday] ${Object.keys(targets).length - real.length} mock providers` +
        `${real.length ? ` and ${real.length} real upstreams (${real.map((t) => `${t.id} → ${t.upstream}`).join(', ')})` : ''} behind toxiproxy (${toxiproxy.apiUrl})`,
    );

    const temporalPort = await freePort();
    const uiPort = await freePort();
    const apiPort = await freePort();
    raw.api.port = apiPort;
    raw.temporal.address = `127.0.0.1:${temporalPort}`;
    raw.temporal.uiPort = uiPort;
    raw.temporal.dataDir = join(tmp, 'temporal');
    raw.temporal.taskQueue = `gameday-${randomUUID().slice(0, 8)}`;
    raw.rag = { ...raw.rag, dataDir: join(tmp, 'rag') };
    const strategyFrom = mergeGatewayOverrides(raw, opts.gateway);
    const config = parseConfig(raw, 'gameday');
    const configPath = join(tmp, 'config.yaml');
    writeFileSync(configPath, stringify(raw));

    // The sample RAG collection, as `npm start` ingests it: through the proxied embeddings target.
    const rag = createRagService(config);
    try {
      await ensureSampleCollection(config, { rag, base: ROOT, log: say });
    } finally {
      await rag.close();
    }

    const bin = ensureTemporalCli(say);
    const devOpts = {
      bin,
      host: '127.0.0.1',
      port: temporalPort,
      uiPort,
      dataDir: config.temporal.dataDir,
      namespace: config.temporal.namespace,
      log: say,
    };
    say(`[gameday] starting Temporal on ${config.temporal.address} (SQLite in ${config.temporal.dataDir})…`);
    let temporal: DevServer = await startDevServerProcess(devOpts);
    stops.push(() => temporal.stop());

    say('[gameday] bundling workflows…');
    const bundlePath = await workflowBundle();
    const token = randomUUID();
    const env = {
      STORMPROOF_CONFIG: configPath,
      STORMPROOF_WORKFLOW_BUNDLE: bundlePath,
      STORMPROOF_LOG_LEVEL: 'info',
      [config.api.internalTokenEnv]: token,
    };
    const workers: Array<ChildProcess | undefined> = [];
    const startWorker = async (i: number) => {
      if (workers[i] && workers[i]!.exitCode === null && workers[i]!.signalCode === null) return;
      workers[i] = await spawnReady(
        'worker/main.ts',
        { ...env, STORMPROOF_WORKER_METRICS_PORT: '0', STORMPROOF_WORKER_IDENTITY: `gameday-worker-${i}` },
        'worker polling',
        join(opts.logDir, `worker-${i}.log`),
      );
    };
    say(`[gameday] starting ${opts.workers} worker process(es)…`);
    await Promise.all(Array.from({ length: opts.workers }, (_, i) => startWorker(i)));
    stops.push(async () => {
      await Promise.all(workers.map((w) => killHard(w)));
    });
    let api: ChildProcess | undefined;
    const startApi = async () => {
      api = await spawnReady('api/main.ts', env, 'API listening', join(opts.logDir, 'api.log'));
    };
    say('[gameday] starting the API process…');
    await startApi();
    stops.push(() => killHard(api));

    const connection = await Connection.connect({ address: config.temporal.address });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const breakers = new BreakerView(client, config);

    const stack: GamedayStack = {
      config,
      configPath,
      routing: { strategy: config.routing.strategy, from: strategyFrom },
      apiUrl: `http://${config.api.host}:${apiPort}`,
      targets,
      toxiproxy,
      client,
      breakers,
      workers,
      killWorker: (i) => killHard(workers[i]),
      startWorker,
      async restartTemporal(downMs) {
        await temporal.stop();
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        temporal = await startDevServerProcess(devOpts);
      },
      async restartApi(downMs) {
        await killHard(api);
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        await startApi();
      },
      overrideBreaker: (target, action) => overrideBreaker(client, config, config.temporal.taskQueue, target, action),
      tierOf: tierIndex(config),
      async resetFaults() {
        await toxiproxy.client.reset();
        for (const t of Object.values(targets)) t.mock?.clearFaults();
      },
      async stop() {
        running.delete(stack);
        breakers.stop();
        await stopAll();
      },
    };
    running.add(stack);
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
