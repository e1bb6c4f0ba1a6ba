/** A standalone worker process: `tsx worker/main.ts` (the API may run elsewhere). */
import { NativeConnection } from '@temporalio/worker';
import { installRuntime } from './runtime';
import { loadConfig, checkEnvironment } from '../config/load';
import { createGatewayWorker } from './worker';
import { logger } from './log';

async function main(): Promise<void> {
  const config = loadConfig();
  checkEnvironment(config);
  const metricsPort = Number(process.env.STORMPROOF_WORKER_METRICS_PORT ?? config.worker.metricsPort);
  installRuntime({ metricsPort: metricsPort > 0 ? metricsPort : undefined });
  const address = process.env.TEMPORAL_ADDRESS ?? config.temporal.address;
  const connection = await NativeConnection.connect({ address });
  const worker = await createGatewayWorker({ connection, config, taskQueue: process.env.STORMPROOF_TASK_QUEUE, identity: process.env.STORMPROOF_WORKER_IDENTITY });
  logger.info({ address, taskQueue: worker.options.taskQueue }, 'worker polling');
  // Worker.runUntil is not needed: the SDK's default shutdown signals (SIGINT, SIGTERM) stop it.
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  logger.error({ err }, 'worker failed');
  process.exit(1);
});
