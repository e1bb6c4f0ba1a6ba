/**
 * The compose stack (docker-compose.yml) as local processes, for tests and for machines without a
 * Docker engine: PostgreSQL in a temp dir, the schema set-up, the Temporal server built from its Go
 * module (scripts/ensure-temporal-server.ts), the namespace set-up, the API, the workers, toxiproxy
 * and the mock providers, each run with its service's own command and environment, on 127.0.0.1
 * and free ports (scripts/cluster-rewrite.ts). Services in dependency order; everything torn down
 * by `stop()`. Run by hand:
 *
 *   STORMPROOF_API_KEYS=ops:<key>:admin npm run cluster   # or put it in .env; Ctrl-C stops it
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { ensureToxiproxy } from './ensure-toxiproxy';
import { ensureTemporalServer } from './ensure-temporal-server';
import { loadCompose, type ComposeFile, type ComposeService } from './cluster-compose';
import { startPostgres, type RunningPostgres } from './cluster-postgres';
import { LocalPorts, rewriteCommand, rewriteDocument, rewriteEnvironment, type RewriteContext } from './cluster-rewrite';

const ROOT = resolve(__dirname, '..');
/** What a local process inherits from this one (a container inherits nothing either). */
const INHERITED = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'LC_ALL', 'TZ', 'USER', 'LOGNAME'];
/** Compose services the runner cannot run here (their images have no local stand-in). */
const NOT_LOCAL = (s: ComposeService) => !(s.image?.startsWith('postgres:') || s.buildTarget || s.image?.includes('/toxiproxy:'));

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Compose variables (what a .env file would hold). */
  vars: Record<string, string>;
  /** Services to run (their dependencies come too); default: every one that runs locally. */
  services?: string[];
  profiles?: string[];
  /** Folder for each process's output (default: a temp dir). */
  logDir?: string;
  log?: (line: string) => void;
  /** Replicas to start now, per service (default: the compose file's); the rest with `start()`. */
  initialReplicas?: Record<string, number>;
  /** Added to the environment of the gateway's processes (e.g. a prebuilt workflow bundle). */
  extraEnv?: Record<string, string>;
  composeFile?: string;
}

/** A running local cluster. */
export interface RunningCluster {
  compose: ComposeFile;
  ports: LocalPorts;
  logDir: string;
  /** `127.0.0.1:<free port>` of a service's container port. */
  address(service: string, port: number, replica?: number): string;
  /** The local copy of what a service sees at `containerPath` (a mounted config file). */
  localPath(service: string, containerPath: string, replica?: number): string | undefined;
  /** The process of a running replica. */
  process(service: string, replica?: number): ChildProcess | undefined;
  /** SIGKILL, and wait for the exit. */
  kill(service: string, replica?: number): Promise<void>;
  /** Starts a replica again (after a kill). */
  start(service: string, replica?: number): Promise<void>;
  stop(): Promise<void>;
}

function activeServices(compose: ComposeFile, opts: ClusterOptions): string[] {
  const profiles = new Set(opts.profiles ?? []);
  const inProfile = (s: ComposeService) => !s.profiles.length || s.profiles.some((p) => profiles.has(p));
  const wanted =
    opts.services ??
    Object.values(compose.services)
      .filter((s) => inProfile(s) && !NOT_LOCAL(s))
      .map((s) => s.name);
  const order: string[] = [];
  const visit = (name: string, path: string[]) => {
    const s = compose.services[name];
    if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
    if (path.includes(name)) throw new Error(`depends_on cycle: ${[...path, name].join(' → ')}`);
    if (order.includes(name)) return;
    for (const dep of Object.keys(s.dependsOn)) visit(dep, [...path, name]);
    if (NOT_LOCAL(s)) throw new Error(`service "${name}" (${s.image}) has no local stand-in; leave it out`);
    order.push(name);
  };
  for (const name of wanted) visit(name, []);
  return order;
}

function oneShot(compose: ComposeFile, name: string): boolean {
  return Object.values(compose.services).some((s) => s.dependsOn[name] === 'service_completed_successfully');
}

async function waitForPort(port: number, child: ChildProcess | undefined, what: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not listen on ${port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-3000);
  } catch {
    return '';
  }
}

/** Starts the services in dependency order; resolves once every long-running one listens. */
export async function startCluster(opts: ClusterOptions): Promise<RunningCluster> {
  const say = opts.log ?? (() => undefined);
  const compose = loadCompose(opts.vars, opts.composeFile);
  const names = activeServices(compose, opts);
  const ports = new LocalPorts(compose.services);
  await ports.allocate(names);
  const tmp = mkdtempSync(join(tmpdir(), 'stormproof-cluster-'));
  const logDir = opts.logDir ?? join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  const procs = new Map<string, ChildProcess>();
  const contexts = new Map<string, RewriteContext>();
  let postgres: RunningPostgres | undefined;
  let temporalPath = '';

  const context = (s: ComposeService, replica: number): RewriteContext => {
    const ctx: RewriteContext = { ports, self: s.name, replica, mounts: [] };
    const dir = join(tmp, `${s.name}-${replica}`);
    mkdirSync(dir, { recursive: true });
    for (const m of s.mounts) {
      if (m.kind === 'volume') {
        const local = join(tmp, 'volumes', m.source);
        mkdirSync(local, { recursive: true });
        ctx.mounts.push({ target: m.target, local });
      } else if (m.kind === 'bind') ctx.mounts.push({ target: m.target, local: m.source });
    }
    // Config files last: their content may name the volumes above.
    for (const m of s.mounts.filter((x) => x.kind === 'config')) {
      const local = join(dir, basename(m.target));
      const text = readFileSync(m.source, 'utf8');
      const ext = extname(m.source);
      if (ext === '.json') writeFileSync(local, JSON.stringify(rewriteDocument(JSON.parse(text), ctx), null, 2));
      else if (ext === '.yaml' || ext === '.yml') writeFileSync(local, stringify(rewriteDocument(parse(text), ctx)));
      else writeFileSync(local, text);
      ctx.mounts.push({ target: m.target, local });
    }
    contexts.set(`${s.name}#${replica}`, ctx);
    return ctx;
  };

  const launch = async (s: ComposeService, replica: number): Promise<ChildProcess | undefined> => {
    const ctx = context(s, replica);
    const env = rewriteEnvironment(s.environment, ctx);
    if (s.image?.startsWith('postgres:')) {
      postgres = await startPostgres({
        port: ports.of(s.name, 5432)!,
        user: env.POSTGRES_USER ?? 'postgres',
        password: env.POSTGRES_PASSWORD ?? '',
        log: say,
      });
      return undefined;
    }
    let [cmd, ...args] = rewriteCommand(s.command ?? [], ctx);
    const base = Object.fromEntries(INHERITED.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
    let fullEnv: NodeJS.ProcessEnv = { ...base, ...env };
    if (s.image?.includes('/toxiproxy:')) [cmd, args] = [ensureToxiproxy(say), [cmd, ...args].filter((a) => a !== undefined)];
    else if (s.buildTarget === 'temporal') fullEnv = { ...fullEnv, PATH: `${temporalPath}:${fullEnv.PATH ?? ''}` };
    else if (s.buildTarget === 'gateway') {
      fullEnv = { ...fullEnv, ...opts.extraEnv };
      if (cmd === 'node') cmd = process.execPath;
    }
    const logFile = join(logDir, `${s.name}-${replica}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(cmd, args, { cwd: ROOT, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
    child.once('exit', () => setTimeout(() => out.end(), 100));
    procs.set(`${s.name}#${replica}`, child);
    if (oneShot(compose, s.name)) {
      const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
      if (code !== 0) throw new Error(`${s.name} exited with ${code}:\n${tail(logFile)}`);
      say(`[cluster] ${s.name} done`);
      return child;
    }
    try {
      for (const p of s.ports) await waitForPort(ports.of(s.name, p, replica)!, child, `${s.name}#${replica}`, 120_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${tail(logFile)}`);
    }
    return child;
  };

  const killHard = async (child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL') => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await gone;
    clearTimeout(timer);
  };

  const stop = async () => {
    await Promise.all([...procs.values()].map((c) => killHard(c, 'SIGTERM')));
    await postgres?.stop().catch(() => undefined);
    // Logs stay (a failed test points at them); the data goes.
    rmSync(join(tmp, 'volumes'), { recursive: true, force: true });
  };

  try {
    if (names.some((n) => compose.services[n].buildTarget === 'temporal')) temporalPath = (await ensureTemporalServer(say)).dir;
    // In waves: every service whose dependencies are up starts beside the others.
    const done = new Set<string>();
    while (done.size < names.length) {
      const wave = names.filter((n) => !done.has(n) && Object.keys(compose.services[n].dependsOn).every((d) => done.has(d)));
      say(
        `[cluster] starting ${wave.map((n) => `${n}${compose.services[n].replicas > 1 ? ` ×${compose.services[n].replicas}` : ''}`).join(', ')}…`,
      );
      const count = (n: string) => Math.min(opts.initialReplicas?.[n] ?? Infinity, compose.services[n].replicas);
      await Promise.all(wave.flatMap((n) => Array.from({ length: count(n) }, (_, r) => launch(compose.services[n], r))));
      for (const n of wave) done.add(n);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  say(`[cluster] up: ${names.join(', ')} (logs in ${logDir})`);

  return {
    compose,
    ports,
    logDir,
    address: (service, port, replica = 0) => `127.0.0.1:${ports.of(service, port, replica)}`,
    localPath: (service, containerPath, replica = 0) =>
      contexts.get(`${service}#${replica}`)?.mounts.find((m) => m.target === containerPath)?.local,
    process: (service, replica = 0) => procs.get(`${service}#${replica}`),
    kill: (service, replica = 0) => killHard(procs.get(`${service}#${replica}`)),
    async start(service, replica = 0) {
      const s = compose.services[service];
      if (replica >= s.replicas) throw new Error(`${service} has ${s.replicas} replica(s) in docker-compose.yml`);
      await launch(s, replica);
    },
    stop,
  };
}

async function main(): Promise<void> {
  // Like Compose: variables from a .env file beside docker-compose.yml, the environment first.
  const dotenv = join(ROOT, '.env');
  if (existsSync(dotenv)) process.loadEnvFile(dotenv);
  const vars: Record<string, string> = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  vars.STORMPROOF_INTERNAL_TOKEN ??= randomUUID();
  const cluster = await startCluster({ vars, profiles: ['mocks'], log: (l) => process.stdout.write(`${l}\n`) });
  const api = cluster.compose.services.api ? cluster.address('api', 8080) : undefined;
  process.stdout.write(`\nStormproof cluster is up.\n  Temporal frontend  ${cluster.address('temporal', 7233)}\n`);
  if (api) process.stdout.write(`  API                http://${api}\n`);
  process.stdout.write(`  logs               ${cluster.logDir}\nCtrl-C stops everything.\n`);
  const stop = () => void cluster.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`[cluster] ${(err as Error).message}\n`);
    process.exit(1);
  });
}
