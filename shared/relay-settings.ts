/**
 * Settings of the cross-process stream relay, read once at start-up from config and environment,
 * and the start-up checks that keep a deployment from losing streamed tokens without a word.
 *
 * How workers reach THIS API instance (`streamTo`, sent in each streaming request), first match:
 *   1. `STORMPROOF_API_INTERNAL_URL` (per instance: each replica names itself);
 *   2. `api.internalUrl` (one value for every instance of the config);
 *   3. `http://<api.host>:<port>` when the API listens on one address (a loopback address is right:
 *      such an API is reachable from its own host only);
 *   4. listening on every interface (`0.0.0.0`, `::`): `http://<this host's first non-loopback
 *      address>:<port>`, never a loopback address that would be wrong for a worker on another host.
 * The token (the variable `api.internalTokenEnv` names, default STORMPROOF_INTERNAL_TOKEN) must be
 * the same in every process; without it nothing is relayed, which {@link relayStartupProblem}
 * refuses for standalone API and worker processes, and {@link watchRelayPeers} reports for a
 * combined process once another worker polls its task queue.
 */
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { GatewayConfig } from '../config/schema';

/** Per-instance override of how workers reach this API (e.g. `http://api-2.internal:8080`). */
export const INTERNAL_URL_ENV = 'STORMPROOF_API_INTERNAL_URL';

/** The relay's token and how this API names itself to workers. */
export interface RelaySettings {
  /** Shared token (undefined: relay off, streams still end correctly from the workflow result). */
  token?: string;
  /** `streamTo` for a request, once the API's port is known; undefined when the relay is off. */
  streamToFor(port: number): string | undefined;
  /** Which rule chose the URL (for the start-up log). */
  urlSource: 'env' | 'config' | 'listen-address' | 'interface';
}

/** A process role, for {@link relayStartupProblem}. */
export type ProcessRole = 'api' | 'worker' | 'combined';

const WILDCARD = new Set(['0.0.0.0', '::', '']);

function hostOf(ifaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string | undefined {
  const all = Object.values(ifaces)
    .flatMap((list) => list ?? [])
    .filter((i) => !i.internal);
  const pick = all.find((i) => i.family === 'IPv4') ?? all.find((i) => i.family === 'IPv6' && !i.address.startsWith('fe80'));
  return pick?.address;
}

const bracket = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** Reads the token and resolves this instance's relay URL (rules in the file comment). */
export function relaySettings(
  config: GatewayConfig,
  env: NodeJS.ProcessEnv = process.env,
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): RelaySettings {
  const token = env[config.api.internalTokenEnv] || undefined;
  const fromEnv = env[INTERNAL_URL_ENV] || undefined;
  if (fromEnv) {
    let url: URL | undefined;
    try {
      url = new URL(fromEnv);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol)) {
      throw new Error(
        `${INTERNAL_URL_ENV}=${fromEnv} is not an http(s) URL; set it to how workers reach this API, e.g. http://api-1.internal:8080`,
      );
    }
  }
  let urlSource: RelaySettings['urlSource'] = fromEnv ? 'env' : config.api.internalUrl ? 'config' : 'listen-address';
  let host = config.api.host;
  if (urlSource === 'listen-address' && WILDCARD.has(host)) {
    const found = hostOf(ifaces);
    if (!found) {
      throw new Error(
        `api.host ${host || '(empty)'} listens everywhere but this host has no non-loopback address to tell workers; set api.internalUrl or ${INTERNAL_URL_ENV}`,
      );
    }
    host = found;
    urlSource = 'interface';
  }
  const fixed = fromEnv ?? config.api.internalUrl;
  return {
    token,
    urlSource,
    streamToFor(port) {
      if (!token) return undefined;
      return fixed ?? `http://${bracket(host)}:${port}`;
    },
  };
}

/**
 * What is wrong with the relay for this role, if anything. Standalone API and worker processes only
 * exchange streamed tokens through the relay, so without the token they refuse to start: streams
 * would still end correctly, but every token would arrive at once at the end.
 */
export function relayStartupProblem(role: ProcessRole, config: GatewayConfig, settings: RelaySettings): string | undefined {
  if (settings.token || role === 'combined') return undefined;
  const other = role === 'api' ? 'the workers' : 'the API processes';
  return (
    `${config.api.internalTokenEnv} is not set: a standalone ${role === 'api' ? 'API' : 'worker'} relays streamed tokens ` +
    `to ${other} with it, and without it every stream would arrive in one piece at the end. ` +
    `Set ${config.api.internalTokenEnv} to the same random string in every API and worker process`
  );
}

/** Options of {@link watchRelayPeers}. */
export interface RelayPeerWatch {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  /** This process's worker identity. */
  identity: string;
  log: { warn(obj: unknown, msg?: string): void; error(obj: unknown, msg?: string): void };
  intervalMs?: number;
}

/**
 * A combined (API + worker) process without the token: streams run by another process's worker
 * for this API's clients cannot be relayed. Warn at start when the API is reachable from other
 * hosts (replicas are likely), and report every other worker found polling the task queue (one
 * that polled since this process started, so a dead predecessor is not mistaken for a peer).
 * Returns a stop function; does nothing when the token is set.
 */
export function watchRelayPeers(settings: RelaySettings, opts: RelayPeerWatch): () => void {
  if (settings.token) return () => undefined;
  const tokenEnv = opts.config.api.internalTokenEnv;
  if (!['127.0.0.1', 'localhost', '::1'].includes(opts.config.api.host)) {
    opts.log.warn(
      { host: opts.config.api.host },
      `${tokenEnv} is not set: if several replicas of this process share task queue ${opts.taskQueue}, set the same ${tokenEnv} in each, or streams run by another replica reach the client only at the end`,
    );
  }
  const since = Date.now();
  const reported = new Set<string>();
  const check = async () => {
    const { pollers } = await opts.client.workflowService.describeTaskQueue({
      namespace: opts.config.temporal.namespace,
      taskQueue: { name: opts.taskQueue },
      // Streaming calls are regular activities: whoever polls for activities may run one.
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    });
    for (const p of pollers ?? []) {
      const seen = p.lastAccessTime?.seconds ? Number(p.lastAccessTime.seconds) * 1000 : 0;
      if (!p.identity || p.identity === opts.identity || reported.has(p.identity) || seen < since) continue;
      reported.add(p.identity);
      opts.log.error(
        { peer: p.identity, taskQueue: opts.taskQueue },
        `another worker polls task queue ${opts.taskQueue} but ${tokenEnv} is not set here: the streams it runs for this API's clients lose their tokens (the whole answer arrives at the end). Set the same ${tokenEnv} in every process`,
      );
    }
  };
  const timer = setInterval(() => void check().catch(() => undefined), opts.intervalMs ?? 30_000);
  timer.unref();
  return () => clearInterval(timer);
}
