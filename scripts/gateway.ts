/**
 * One process hosting both the worker and the API on one NativeConnection, so workflow starts
 * are eager (the first workflow task comes back in the start response, no extra round trip).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import type { GatewayConfig } from '../config/schema';
import { createApp } from '../api/app';
import { relaySettings, watchRelayPeers } from '../shared/relay-settings';
import { StreamHub } from '../api/stream-hub';
import { LocalCancels } from '../activities/local-cancels';
import { createRelaySink } from '../worker/stream-relay';
import { createGatewayWorker } from '../worker/worker';
import { createMetrics, type GatewayMetrics } from '../shared/telemetry';
import { logger } from '../shared/log';
import type { RoutingState } from '../worker/routing-state';
import type { LiveConfig } from '../config/live';
import { installRuntime, installRuntimeWithMetrics } from '../shared/runtime';
import { serveMetrics, type MetricsServer } from '../shared/metrics-server';
import { tracingFromConfig, type Tracing } from '../shared/tracing';

export interface GatewayOptions {
  config: GatewayConfig;
  address?: string;
  taskQueue?: string;
  /** API port; 0 picks a free one. */
  apiPort?: number;
  maxCachedWorkflows?: number;
  /**
   * Also serve this process's metrics (gateway and Temporal SDK series) on this port, beside the
   * API's /metrics (which shows the same); 0 picks a free port. Default: not served separately.
   */
  metricsPort?: number;
  /** Export the Temporal SDK's runtime metrics (default: when `metricsPort` is set). */
  sdkMetrics?: boolean;
  /** Tracing (default: as the config says, i.e. OTLP when `tracing.otlpEndpoint` is set). */
  tracing?: Tracing;
}

export interface RunningGateway {
  client: Client;
  connection: NativeConnection;
  worker: Worker;
  routing: RoutingState;
  metrics: GatewayMetrics;
  apiUrl: string;
  /** The separate metrics endpoint, when `metricsPort` was given. */
  metricsUrl?: string;
  taskQueue: string;
  /** Streamed events and early answers of the jobs this process's API serves. */
  hub: StreamHub;
  /** The config in force (live reloads applied; config/live.ts). */
  live: LiveConfig;
  stop(): Promise<void>;
}

/** Starts worker + API; resolves once the worker polls and the API listens. */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const { config } = opts;
  const taskQueue = opts.taskQueue ?? config.temporal.taskQueue;
  if (opts.sdkMetrics ?? opts.metricsPort !== undefined) await installRuntimeWithMetrics();
  else installRuntime();
  const connection = await NativeConnection.connect({ address: opts.address ?? config.temporal.address });
  const metrics = createMetrics({ config });
  const tracing = opts.tracing ?? tracingFromConfig(config);
  // Streamed chunks: straight into this process's hub, or relayed to the API that waits for them.
  const hub = new StreamHub();
  // A client that leaves aborts its job's local provider calls at once (not at the next task heartbeat).
  const localCancels = new LocalCancels();
  const relay = relaySettings(config);
  let apiPort = 0;
  const gw = await createGatewayWorker({
    connection,
    config,
    taskQueue,
    metrics,
    maxCachedWorkflows: opts.maxCachedWorkflows,
    tracing,
    activityDeps: { streamSink: createRelaySink({ token: relay.token, local: hub, log: logger }), localCancels },
  });
  const { worker, client, routing } = gw;
  const running = gw.run();
  const app = createApp({
    client,
    config,
    live: gw.live,
    taskQueue,
    eagerStart: true,
    metrics,
    hub,
    onCancel: (id) => localCancels.cancel(id),
    internalToken: relay.token,
    streamTo: () => relay.streamToFor(apiPort),
    routing,
    tracing,
    log: logger,
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.apiPort ?? config.api.port, config.api.host, () => resolve(s));
    s.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  apiPort = port;
  // Without the relay token, another replica's worker could run this API's streams: say so.
  const unwatch = watchRelayPeers(relay, { client, config, taskQueue, identity: String(worker.options.identity), log: logger });
  let metricsServer: MetricsServer | undefined;
  if (opts.metricsPort !== undefined)
    metricsServer = await serveMetrics(metrics, { host: config.worker.metricsHost, port: opts.metricsPort });
  let stopped: Promise<void> | undefined;
  return {
    client,
    connection,
    worker,
    routing,
    metrics,
    taskQueue,
    hub,
    live: gw.live,
    apiUrl: `http://${config.api.host}:${port}`,
    metricsUrl: metricsServer?.url,
    stop() {
      stopped ??= (async () => {
        unwatch();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await connection.close();
        await metricsServer?.close();
        if (!opts.tracing) await tracing?.shutdown();
      })();
      return stopped;
    },
  };
}
