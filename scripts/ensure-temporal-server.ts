/**
 * Ensures the pinned Temporal server and its SQL schema tool, built from their Go module
 * (`go.temporal.io/server`), and returns their paths. Built once per machine into a cache outside
 * the clone (about 4 minutes the first time), so every clone, `npm test` and `.ci/run` share it.
 *
 * Order: $TEMPORAL_SERVER_DIR (a folder holding `temporal-server` and `temporal-sql-tool`), then the
 * cache (`$STORMPROOF_CACHE_DIR`, else `$XDG_CACHE_HOME/stormproof`, else `~/.cache/stormproof`),
 * built there with `go install` when missing. The Go toolchain the server needs comes from the Go
 * module proxy (`GOTOOLCHAIN`), whatever Go is on PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const TEMPORAL_SERVER_VERSION = '1.32.2';
/** The Go toolchain 1.32.x asks for; fetched by `go` itself from the module proxy. */
export const GO_TOOLCHAIN = 'go1.27.3';
const MODULE = 'go.temporal.io/server';
const PACKAGES = [`${MODULE}/cmd/server@v${TEMPORAL_SERVER_VERSION}`, `${MODULE}/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION}`];

/** Where the binaries are. */
export interface TemporalServerBinaries {
  dir: string;
  /** `temporal-server start --config-file … --service …` */
  server: string;
  /** `temporal-sql-tool --plugin postgres12 … setup-schema / update-schema` */
  sqlTool: string;
}

/** The cache folder of this version. */
export function temporalServerDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TEMPORAL_SERVER_DIR) return env.TEMPORAL_SERVER_DIR;
  const cache = env.STORMPROOF_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'stormproof');
  return join(cache, `temporal-server-${TEMPORAL_SERVER_VERSION}`);
}

function binaries(dir: string): TemporalServerBinaries {
  return { dir, server: join(dir, 'temporal-server'), sqlTool: join(dir, 'temporal-sql-tool') };
}

/** Both binaries run and report the pinned version; returns what is wrong, or undefined. */
export function verifyTemporalServer(b: TemporalServerBinaries): string | undefined {
  for (const bin of [b.server, b.sqlTool]) {
    if (!existsSync(bin)) return `${bin} is missing`;
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    if (r.status !== 0) return `${bin} --version failed (${r.error?.message ?? `exit ${r.status}`}): ${out.trim().slice(0, 300)}`;
    if (!out.includes(TEMPORAL_SERVER_VERSION)) return `${bin} reports "${out.trim()}", not ${TEMPORAL_SERVER_VERSION}`;
  }
  return undefined;
}

function manualCommand(dir: string): string {
  return (
    `  mkdir -p ${dir} && GOTOOLCHAIN=${GO_TOOLCHAIN} CGO_ENABLED=0 GOBIN=${dir} go install ${PACKAGES.join(' ')}\n` +
    `  mv ${join(dir, 'server')} ${join(dir, 'temporal-server')} && mv ${join(dir, 'sql')} ${join(dir, 'temporal-sql-tool')}`
  );
}

/** Runs `go install` into `bin`, printing a progress line every 20 s (packages compiled so far). */
async function goInstall(bin: string, log: (line: string) => void): Promise<void> {
  const started = Date.now();
  // -v lists each package as it is compiled: the count is the progress (~1,300 packages).
  const child = spawn('go', ['install', '-v', '-trimpath', ...PACKAGES], {
    env: { ...process.env, GOBIN: bin, GOTOOLCHAIN: GO_TOOLCHAIN, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let compiled = 0;
  let tail = '';
  let phase = 'downloading the Go toolchain and modules';
  child.stderr?.on('data', (d: Buffer) => {
    const text = d.toString();
    tail = (tail + text).slice(-3000);
    for (const line of text.split('\n')) {
      if (/^go: downloading golang\.org\/toolchain/.test(line)) phase = `downloading the Go toolchain ${GO_TOOLCHAIN}`;
      else if (/^go: downloading /.test(line)) phase = 'downloading modules';
      else if (/^[\w.-]+(\/[\w.@~+-]+)+$/.test(line.trim())) {
        compiled += 1;
        phase = 'compiling';
      }
    }
  });
  const timer = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    log(`[temporal-server] …${phase}${compiled ? `: ${compiled} packages compiled` : ''} (${s} s)`);
  }, 20_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  }).finally(() => clearInterval(timer));
  if (code !== 0) throw new Error(`go install exited with ${code}:\n${tail.trim()}`);
}

let inFlight: Promise<TemporalServerBinaries> | undefined;

/** Returns the pinned server's binaries, building them once per machine if needed. */
export function ensureTemporalServer(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<TemporalServerBinaries> {
  inFlight ??= build(log).finally(() => {
    inFlight = undefined;
  });
  return inFlight;
}

async function build(log: (line: string) => void): Promise<TemporalServerBinaries> {
  const dir = temporalServerDir();
  const wanted = binaries(dir);
  if (!verifyTemporalServer(wanted)) return wanted;
  if (process.env.TEMPORAL_SERVER_DIR) {
    throw new Error(`TEMPORAL_SERVER_DIR=${dir}: ${verifyTemporalServer(wanted)}; unset it or build there:\n${manualCommand(dir)}`);
  }
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    throw new Error(
      `the Temporal server ${TEMPORAL_SERVER_VERSION} is not built and Go is not on PATH. Install Go (https://go.dev/dl/) and run:\n${manualCommand(dir)}`,
    );
  }
  const parent = join(dir, '..');
  mkdirSync(parent, { recursive: true });
  // Built beside the cache and renamed into place: a build killed half-way leaves nothing that
  // looks finished, and two builds racing both end with one complete folder.
  const staging = mkdtempSync(join(parent, `.temporal-server-${TEMPORAL_SERVER_VERSION}-`));
  const started = Date.now();
  log(`[temporal-server] building Temporal server ${TEMPORAL_SERVER_VERSION} and its SQL tool with ${GO_TOOLCHAIN} into ${dir}`);
  log(
    `[temporal-server] (once per machine; about 4 minutes on 2 cores; ${go.stdout.trim()} fetches ${GO_TOOLCHAIN} from the module proxy)`,
  );
  try {
    await goInstall(staging, log);
    renameSync(join(staging, 'server'), join(staging, 'temporal-server'));
    renameSync(join(staging, 'sql'), join(staging, 'temporal-sql-tool'));
    const problem = verifyTemporalServer(binaries(staging));
    if (problem) throw new Error(`the build finished but does not verify: ${problem}`);
    writeFileSync(
      join(staging, 'BUILD.json'),
      `${JSON.stringify({ packages: PACKAGES, toolchain: GO_TOOLCHAIN, builtAt: new Date().toISOString(), seconds: Math.round((Date.now() - started) / 1000) }, null, 2)}\n`,
    );
    if (existsSync(dir) && verifyTemporalServer(wanted)) rmSync(dir, { recursive: true, force: true });
    try {
      renameSync(staging, dir);
    } catch (err) {
      if (verifyTemporalServer(wanted)) throw err; // someone else's build won the race: keep theirs
    }
  } catch (err) {
    throw new Error(`could not build the Temporal server (${(err as Error).message}). Run by hand:\n${manualCommand(dir)}`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const problem = verifyTemporalServer(wanted);
  if (problem) throw new Error(`the Temporal server in ${dir} does not verify: ${problem}`);
  log(`[temporal-server] built and verified in ${Math.round((Date.now() - started) / 1000)} s: ${wanted.server}`);
  return wanted;
}

/** What the last build recorded (toolchain, time taken), if any. */
export function buildInfo(dir = temporalServerDir()): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'BUILD.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

if (require.main === module) {
  ensureTemporalServer()
    .then((b) => {
      process.stderr.write(`[temporal-server] ${TEMPORAL_SERVER_VERSION} verified in ${b.dir}\n`);
      process.stdout.write(`${b.server}\n${b.sqlTool}\n`);
    })
    .catch((err: Error) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    });
}
