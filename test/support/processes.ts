/** Child processes for multi-process tests (a worker that can be killed). */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

const ROOT = resolve(__dirname, '..', '..');

/** Writes a raw config object to a temporary YAML file and returns its path. */
export function writeConfig(raw: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'stormproof-cfg-')), 'config.yaml');
  writeFileSync(path, stringify(raw));
  return path;
}

/** A worker process (`worker/main.ts`) for the given config (and extra environment); resolves once it polls. */
export async function spawnWorker(configPath: string, identity: string, env: NodeJS.ProcessEnv = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'worker', 'main.ts')], {
    cwd: ROOT,
    // A standalone worker refuses to start without the relay token (shared/relay-settings.ts).
    env: {
      STORMPROOF_INTERNAL_TOKEN: 'test-relay-token',
      ...process.env,
      STORMPROOF_CONFIG: configPath,
      STORMPROOF_WORKER_METRICS_PORT: '0',
      STORMPROOF_WORKER_IDENTITY: identity,
      STORMPROOF_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolvePolling, reject) => {
    let log = '';
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('worker polling')) {
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolvePolling();
      }
    };
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before polling:\n${log}`)));
  });
  return child;
}

/** Kills a process hard (no graceful shutdown) and waits for it to be gone. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
}
