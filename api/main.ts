/** An API-only process: `tsx api/main.ts` (workers run elsewhere, e.g. `tsx worker/main.ts`). */
import { Client, Connection } from '@temporalio/client';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { loadConfig } from '../config/load';
import { logger } from '../worker/log';
import { startApiServer } from './server';
import { relaySettings, relayStartupProblem } from './relay-settings';

async function main(): Promise<void> {
  const config = loadConfig();
  const relay = relaySettings(config);
  const problem = relayStartupProblem('api', config, relay);
  if (problem) throw new Error(problem);
  const temporal = temporalConnectionOptions(config);
  const connection = await Connection.connect(temporal);
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const api = await startApiServer({ config, client, taskQueue: process.env.STORMPROOF_TASK_QUEUE, log: logger });
  logger.info({ url: api.url, relayUrl: relay.streamToFor(Number(new URL(api.url).port)), relayUrlFrom: relay.urlSource }, 'API listening');
  const stop = () => {
    void api.close().then(() => connection.close());
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err) => {
  logger.error({ err }, 'API failed');
  process.exit(1);
});
