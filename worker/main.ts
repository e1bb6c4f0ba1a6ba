/** A standalone worker process: `tsx worker/main.ts` (the API may run elsewhere). */
import { NativeConnection } from '@temporalio/worker';
import { installRuntime } from './runtime';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { loadConfig, checkEnvironment } from '../config/load';
import { createGatewayWorker } from './worker';
import { logger } from './log';
import { createRelaySink } from './stream-relay';
import { relaySettings, relayStartupProblem } from '../api/relay-settings';

async function main(): Promise<void> {
  const config = loadConfig();
  checkEnvironment(config);
  const relay = relaySettings(config);
  const problem = relayStartupProblem('worker', config, relay);
  if (problem) throw new Error(problem);
  const metricsPort = Number(process.env.STORMPROOF_WORKER_METRICS_PORT ?? config.worker.metricsPort);
  installRuntime({ metricsPort: metricsPort > 0 ? metricsPort : undefined });
  const temporal = temporalConnectionOptions(config);
  const connection = await NativeConnection.connect(temporal);
  const gw = await createGatewayWorker({ connection, config, taskQueue: process.env.STORMPROOF_TASK_QUEUE, identity: process.env.STORMPROOF_WORKER_IDENTITY,
    // Streamed chunks go to the API process that waits for them (named in the request, token from env).
    activityDeps: { streamSink: createRelaySink({ token: relay.token, log: logger }) },
  });
  const running = gw.run();
  logger.info({ address: temporal.address, taskQueue: gw.worker.options.taskQueue }, 'worker polling');
  // The SDK's default shutdown signals (SIGINT, SIGTERM) stop the worker; run() then flushes.
  await running;
  await connection.close();
}

main().catch((err) => {
  logger.error({ err }, 'worker failed');
  process.exit(1);
});
