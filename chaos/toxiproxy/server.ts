/**
 * Starts a real toxiproxy server (installed by scripts/ensure-toxiproxy.ts) on 127.0.0.1 for tests and chaos runs.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureToxiproxy } from '../../scripts/ensure-toxiproxy';
import { ToxiproxyClient } from './client';

/** Options of {@link startToxiproxy}. */
export interface StartToxiproxyOptions {
  /** API port; default: a free one. */
  port?: number;
  /** File receiving the server's stdout/stderr; default: output is dropped. */
  logFile?: string;
  /** Binary to run; default: {@link ensureToxiproxy}. */
  binary?: string;
  /** How long to wait for the API to answer, ms (default 15000). */
  startTimeoutMs?: number;
}

/** A running toxiproxy server. */
export interface RunningToxiproxy {
  /** e.g. `http://127.0.0.1:41234` */
  apiUrl: string;
  client: ToxiproxyClient;
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process exited. */
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Spawns toxiproxy-server on 127.0.0.1 and resolves once `GET /version` answers. */
export async function startToxiproxy(opts: StartToxiproxyOptions = {}): Promise<RunningToxiproxy> {
  const binary = opts.binary ?? ensureToxiproxy();
  const port = opts.port ?? (await freePort());
  let out: number | 'ignore' = 'ignore';
  if (opts.logFile) {
    mkdirSync(dirname(opts.logFile), { recursive: true });
    out = openSync(opts.logFile, 'a');
  }
  const child = spawn(binary, ['-host', '127.0.0.1', '-port', String(port)], { stdio: ['ignore', out, out] });
  if (typeof out === 'number') closeSync(out);

  let exited = false;
  let exitInfo = '';
  const exitedPromise = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exitInfo = signal ? `signal ${signal}` : `code ${code}`;
      resolveExit();
    });
    child.once('error', (err) => {
      exited = true;
      exitInfo = err.message;
      resolveExit();
    });
  });

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!exited) child.kill('SIGKILL');
    }, 2000);
    await exitedPromise;
    clearTimeout(timer);
  };

  const apiUrl = `http://127.0.0.1:${port}`;
  const client = new ToxiproxyClient(apiUrl);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  for (;;) {
    if (exited) throw new Error(`toxiproxy-server (${binary}) exited before answering on ${apiUrl}: ${exitInfo}`);
    try {
      await client.version();
      return { apiUrl, client, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`toxiproxy-server did not answer GET ${apiUrl}/version in time`);
    }
    await sleep(50);
  }
}
