/** An API-only process: `tsx api/main.ts` (workers run elsewhere, e.g. `tsx worker/main.ts`). */
import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { loadConfig } from '../config/load';
import { logger } from '../shared/log';
import { createMetrics } from '../shared/telemetry';
import { tracingFromConfig } from '../shared/tracing';
import { startApiServer } from './server';
import { relaySettings, relayStartupProblem } from '../shared/relay-settings';
import { dataConverterFor } from '../shared/codec';
import { reloadFromFile } from '../shared/live-config';

async function main(): Promise<void> {
  const config = loadConfig();
  const relay = relaySettings(config);
  const problem = relayStartupProblem('api', config, relay);
  if (problem) throw new Error(problem);
  const temporal = temporalConnectionOptions(config);
  const connection = await Connection.connect(temporal);
  const tracing = tracingFromConfig(config);
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config),
    ...(tracing ? { interceptors: { workflow: [tracing.clientInterceptor()] } } : {}),
  });
  // This process's own series (HTTP, jobs, jobs in flight, process) at the API's /metrics.
  const metrics = createMetrics({ config });
  const api = await startApiServer({ config, client, metrics, tracing, taskQueue: process.env.STORMPROOF_TASK_QUEUE, log: logger });
  logger.info(
    {
      url: api.url,
      metrics: `${api.url}/metrics`,
      relayUrl: relay.streamToFor(Number(new URL(api.url).port)),
      relayUrlFrom: relay.urlSource,
    },
    'API listening',
  );
  // SIGHUP: re-read the config file and publish its live keys to every process (README "Configuration").
  const taskQueue = process.env.STORMPROOF_TASK_QUEUE ?? config.temporal.taskQueue;
  process.on(
    'SIGHUP',
    () =>
      void reloadFromFile({ client, live: api.live, taskQueue, read: () => loadConfig(), by: `SIGHUP api ${process.pid}`, log: logger }),
  );
  const stop = () => {
    void api
      .close()
      .then(() => connection.close())
      .then(() => tracing?.shutdown());
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  logger.error({ err }, 'API failed');
  process.exit(1);
});
