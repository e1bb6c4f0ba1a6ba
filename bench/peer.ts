/**
 * A non-durable peer gateway beside Stormproof in the same run: Portkey's open-source gateway
 * (`@portkey-ai/gateway`, pinned), installed on first use into `.tools/` from the npm registry and
 * pointed at the same mock with its `x-portkey-custom-host` header. The design's first target is
 * "overhead p50 ≤ the peer's overhead in the same run"; this is that peer. BENCH_PEER=0 skips it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../chaos/toxiproxy/server';
import { stopChild } from './stack';

export const PEER_PACKAGE = '@portkey-ai/gateway';
export const PEER_VERSION = '1.15.2';

const TOOLS = resolve(__dirname, '..', '.tools', `portkey-gateway-${PEER_VERSION}`);
const ENTRY = join(TOOLS, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');

export interface Peer {
  name: string;
  url: string;
  pid: number;
  /** Headers that send a chat to `upstream` (an OpenAI-compatible base URL ending in /v1). */
  headers(upstream: string): Record<string, string>;
  stop(): Promise<void>;
}

/** Installs the pinned peer once (npm registry); undefined, with the reason logged, when it cannot. */
function ensurePeer(log: (l: string) => void): string | undefined {
  if (existsSync(ENTRY)) return ENTRY;
  log(`[bench] peer: installing ${PEER_PACKAGE}@${PEER_VERSION} into ${TOOLS} (once)…`);
  mkdirSync(TOOLS, { recursive: true });
  const r = spawnSync('npm', ['install', '--prefix', TOOLS, '--no-audit', '--no-fund', '--silent', `${PEER_PACKAGE}@${PEER_VERSION}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 600_000,
  });
  if (r.status !== 0 || !existsSync(ENTRY)) {
    log(`[bench] peer: install failed (exit ${r.status ?? r.signal}); the peer is left out of this run`);
    return undefined;
  }
  return ENTRY;
}

/** Starts the peer on a free loopback port and waits until it answers. */
export async function startPeer(logDir: string, log: (l: string) => void): Promise<Peer | undefined> {
  const entry = ensurePeer(log);
  if (!entry) return undefined;
  const port = await freePort();
  const out = createWriteStream(join(logDir, 'peer.log'), { flags: 'a' });
  const child: ChildProcess = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], {
    cwd: TOOLS,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const url = `http://127.0.0.1:${port}`;
  const stop = () => stopChild(child);
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) {
        log(`[bench] peer: ${PEER_PACKAGE}@${PEER_VERSION} at ${url}`);
        return {
          name: 'peer',
          url,
          pid: child.pid!,
          headers: (upstream) => ({
            'x-portkey-provider': 'openai',
            'x-portkey-custom-host': upstream,
            authorization: 'Bearer sk-bench',
          }),
          stop,
        };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  log(`[bench] peer: did not answer within 30 s (log: ${join(logDir, 'peer.log')}); left out of this run`);
  return undefined;
}
