/**
 * Ensures a pinned toxiproxy server binary (a TCP proxy that injects real network faults) and returns its path.
 * Order: $TOXIPROXY_SERVER, then the project-local tools folder, where it is built with `go install` when missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { TOOLS_DIR } from './ensure-temporal';

export const TOXIPROXY_VERSION = '2.12.0';
const LOCAL_DIR = join(TOOLS_DIR, `toxiproxy-${TOXIPROXY_VERSION}`);
const LOCAL_BIN = join(LOCAL_DIR, 'toxiproxy-server');
/** Stamps the version `GET /version` reports (a plain go install reports "git"). */
const VERSION_LDFLAG = `-X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_VERSION}`;
const GO_PACKAGE = `github.com/Shopify/toxiproxy/v2/cmd/server@v${TOXIPROXY_VERSION}`;

function works(bin: string): boolean {
  return spawnSync(bin, ['-version'], { stdio: 'ignore' }).status === 0;
}

function goAvailable(): boolean {
  const r = spawnSync('go', ['version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** Returns the path of a working `toxiproxy-server` binary, installing it with `go install` if needed. */
export function ensureToxiproxy(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const fromEnv = process.env.TOXIPROXY_SERVER;
  if (fromEnv) {
    if (!works(fromEnv)) {
      throw new Error(`TOXIPROXY_SERVER=${fromEnv} is not a working toxiproxy-server binary; unset it or point it at one`);
    }
    return fromEnv;
  }
  if (existsSync(LOCAL_BIN) && works(LOCAL_BIN)) return LOCAL_BIN;

  const manual = `  GOBIN=${LOCAL_DIR} go install ${GO_PACKAGE} && mv ${join(LOCAL_DIR, 'server')} ${LOCAL_BIN}`;
  if (!goAvailable()) {
    throw new Error(
      `toxiproxy ${TOXIPROXY_VERSION} is not installed and Go is not on PATH. Install Go (https://go.dev/dl/) and run:\n` +
        `${manual}\nor download toxiproxy-server yourself and set TOXIPROXY_SERVER=/path/to/toxiproxy-server`,
    );
  }
  mkdirSync(LOCAL_DIR, { recursive: true });
  log(`[stormproof] installing toxiproxy ${TOXIPROXY_VERSION} into ${LOCAL_DIR} … (go install, about a minute)`);
  const started = Date.now();
  try {
    execFileSync('go', ['install', '-ldflags', VERSION_LDFLAG, GO_PACKAGE], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, GOBIN: LOCAL_DIR },
    });
    renameSync(join(LOCAL_DIR, 'server'), LOCAL_BIN);
  } catch (err) {
    throw new Error(`could not install toxiproxy (${(err as Error).message.split('\n')[0]}). Run by hand:\n${manual}`);
  }
  if (!works(LOCAL_BIN)) throw new Error(`go install built ${LOCAL_BIN} but it does not run; set TOXIPROXY_SERVER to a working binary`);
  log(`[stormproof] toxiproxy ready in ${Math.round((Date.now() - started) / 1000)} s: ${LOCAL_BIN}`);
  return LOCAL_BIN;
}

if (require.main === module) {
  try {
    process.stdout.write(`${ensureToxiproxy()}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
