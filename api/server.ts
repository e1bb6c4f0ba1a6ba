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
  log?: { error(obj: unknown, msg?: string): void };
}

export interface RunningApi {
  url: string;
  hub: StreamHub;
  server: Server;
  close(): Promise<void>;
}

/** Starts listening; resolves with the base URL. */
export async function startApiServer(opts: ApiServerOptions): Promise<RunningApi> {
  const { config } = opts;
  const hub = opts.hub ?? new StreamHub();
  const relay = relaySettings(config, opts.env);
  let port = 0;
  const app = createApp({
    client: opts.client,
    config,
    taskQueue: opts.taskQueue ?? config.temporal.taskQueue,
    eagerStart: opts.eagerStart ?? false,
    metrics: opts.metrics ?? createMetrics({ config }),
    tracing: opts.tracing,
    log: opts.log ?? console,
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
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
