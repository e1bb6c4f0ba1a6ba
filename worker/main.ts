/** A standalone worker process: `tsx worker/main.ts` (the API may run elsewhere). */
import { NativeConnection } from '@temporalio/worker';
import { installRuntimeWithMetrics } from '../shared/runtime';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { loadConfig, checkEnvironment } from '../config/load';
import { createGatewayWorker } from './worker';
import { logger } from '../shared/log';
import { createRelaySink } from './stream-relay';
import { relaySettings, relayStartupProblem } from '../shared/relay-settings';
import { createMetrics } from '../shared/telemetry';
import { serveMetrics } from '../shared/metrics-server';
import { tracingFromConfig } from '../shared/tracing';
import { reloadFromFile } from '../shared/live-config';

async function main(): Promise<void> {
  const config = loadConfig();
  checkEnvironment(config);
  const relay = relaySettings(config);
  const problem = relayStartupProblem('worker', config, relay);
  if (problem) throw new Error(problem);
  // Gateway and Temporal SDK series on one endpoint (Prometheus scrapes worker:9464).
  await installRuntimeWithMetrics();
  const metrics = createMetrics({ config });
  const metricsPort = Number(process.env.STORMPROOF_WORKER_METRICS_PORT ?? config.worker.metricsPort);
  const served = await serveMetrics(metrics, { host: config.worker.metricsHost, port: metricsPort });
  const tracing = tracingFromConfig(config);
  const temporal = temporalConnectionOptions(config);
  const connection = await NativeConnection.connect(temporal);
  const gw = await createGatewayWorker({
    connection,
    config,
    metrics,
    tracing,
    taskQueue: process.env.STORMPROOF_TASK_QUEUE,
    identity: process.env.STORMPROOF_WORKER_IDENTITY,
    // Streamed chunks go to the API process that waits for them (named in the request, token from env).
    activityDeps: { streamSink: createRelaySink({ token: relay.token, log: logger }) },
  });
  const running = gw.run();
  // SIGHUP: re-read the config file and publish its live keys to every process (README "Configuration").
  const taskQueue = gw.worker.options.taskQueue;
  process.on(
    'SIGHUP',
    () =>
      void reloadFromFile({
        client: gw.client,
        live: gw.live,
        taskQueue,
        read: () => loadConfig(),
        by: `SIGHUP ${String(gw.worker.options.identity)}`,
        log: logger,
      }),
  );
  logger.info(
    {
      address: temporal.address,
      taskQueue: gw.worker.options.taskQueue,
      metrics: served.url,
      tracing: config.tracing.otlpEndpoint ?? false,
    },
    'worker polling',
  );
  // The SDK's default shutdown signals (SIGINT, SIGTERM) stop the worker; run() then flushes.
  await running;
  await connection.close();
  await served.close();
  await tracing?.shutdown();
}

main().catch((err) => {
  logger.error({ err }, 'worker failed');
  process.exit(1);
});
