/**
 * The API as its own process part: listens, and wires the stream hub and the relay route. Used by
 * `api/main.ts` (an API-only process, workers elsewhere) and by tests of that deployment.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { GatewayConfig } from '../config/schema';
import { createMetrics, type GatewayMetrics } from '../shared/telemetry';
import type { Tracing } from '../shared/tracing';
import { createApp } from './app';
import { relaySettings } from '../shared/relay-settings';
import { StreamHub } from './stream-hub';
import { LiveConfig } from '../config/live';
import { LiveConfigWatcher } from '../shared/live-config';

export interface ApiServerOptions {
  config: GatewayConfig;
  client: Client;
  taskQueue?: string;
  /** Only when this process hosts a worker on the client's connection. */
  eagerStart?: boolean;
  metrics?: GatewayMetrics;
  /** Server spans for API requests (the client must carry the same tracing's interceptor). */
  tracing?: Tracing;
  hub?: StreamHub;
  /** 0 picks a free port; default: the config's. */
  port?: number;
  env?: NodeJS.ProcessEnv;
  log?: { error(obj: unknown, msg?: string): void; info?(obj: unknown, msg?: string): void; warn?(obj: unknown, msg?: string): void };
  /** How often the live config is read from Temporal (shared/live-config.ts). */
  liveConfigPollMs?: number;
}

export interface RunningApi {
  url: string;
  hub: StreamHub;
  server: Server;
  /** The config in force (live reloads applied). */
  live: LiveConfig;
  close(): Promise<void>;
}

/** Starts listening; resolves with the base URL. */
export async function startApiServer(opts: ApiServerOptions): Promise<RunningApi> {
  const { config } = opts;
  const hub = opts.hub ?? new StreamHub();
  const relay = relaySettings(config, opts.env);
  let port = 0;
  const taskQueue = opts.taskQueue ?? config.temporal.taskQueue;
  const log = opts.log ?? console;
  const live = new LiveConfig(config);
  const watcher = new LiveConfigWatcher({
    client: opts.client,
    live,
    taskQueue,
    intervalMs: opts.liveConfigPollMs,
    onApplied: (version, state) => log.info?.({ version, by: state.by }, `live config version ${version} applied`),
    onError: (err) => log.warn?.({ err }, 'live config: not read or not applied; the running config stays'),
  });
  await watcher.start();
  const app = createApp({
    live,
    client: opts.client,
    config,
    taskQueue,
    eagerStart: opts.eagerStart ?? false,
    metrics: opts.metrics ?? createMetrics({ config }),
    tracing: opts.tracing,
    log,
    hub,
    internalToken: relay.token,
    streamTo: () => relay.streamToFor(port),
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port ?? config.api.port, config.api.host, () => resolve(s));
    s.once('error', reject);
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${config.api.host}:${port}`,
    hub,
    server,
    live,
    async close() {
      watcher.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
