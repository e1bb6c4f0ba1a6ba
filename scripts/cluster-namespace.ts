/**
 * One-shot set-up of a Temporal cluster for Stormproof: waits for the frontend, registers the
 * config's namespace and adds Stormproof's search attributes, then waits until both are usable.
 * Safe to run again (what exists is kept). The dev server of `npm start` does this by itself; a
 * real cluster does not. Run as the compose file's `temporal-setup` service and by scripts/cluster.ts:
 *
 *   STORMPROOF_CONFIG=<config> tsx scripts/cluster-namespace.ts
 */
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { msToTs } from '@temporalio/common/lib/time';
import { loadConfig } from '../config/load';
import { temporalConnectionOptions, type TemporalConnectionOptions } from '../config/temporal-connection';
import { SEARCH_ATTRIBUTES } from '../contracts/workflow-api';

const TYPES = {
  Keyword: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
} as const;
/** How long closed workflows (jobs, their answers and traces) stay readable. */
const RETENTION_MS = 3 * 24 * 3600_000;
const ALREADY_EXISTS = 6;

const say = (line: string) => process.stderr.write(`[temporal-setup] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connect(options: TemporalConnectionOptions, timeoutMs: number): Promise<Connection> {
  const { address } = options;
  const started = Date.now();
  for (let i = 1; ; i++) {
    try {
      const connection = await Connection.connect({ ...options, connectTimeout: 5_000 });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      if (Date.now() - started > timeoutMs)
        throw new Error(`the Temporal frontend at ${address} did not answer within ${timeoutMs / 1000} s: ${(err as Error).message}`);
      if (i % 10 === 0) say(`waiting for the Temporal frontend at ${address} (${Math.round((Date.now() - started) / 1000)} s)…`);
      await sleep(500);
    }
  }
}

/** Registers `namespace` and the search attributes unless they exist; resolves once both are usable. */
export async function setUpNamespace(connection: Connection, namespace: string, timeoutMs = 60_000): Promise<void> {
  // An existing namespace is kept (and on Temporal Cloud, where only the Cloud creates one, never registered).
  const exists = await connection.workflowService.describeNamespace({ namespace }).then(
    () => true,
    () => false,
  );
  if (exists) say(`namespace ${namespace} exists`);
  else {
    try {
      await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs(RETENTION_MS) });
      say(`namespace ${namespace} registered`);
    } catch (err) {
      if ((err as { code?: number }).code !== ALREADY_EXISTS) throw err;
    }
  }
  const started = Date.now();
  for (;;) {
    try {
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = Object.values(SEARCH_ATTRIBUTES).filter((a) => !(a.name in (customAttributes ?? {})));
      if (!missing.length) break;
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((a) => [a.name, TYPES[a.type]])),
      });
      say(`search attributes added: ${missing.map((a) => a.name).join(', ')}`);
    } catch (err) {
      // A namespace just registered reaches every service's cache within a few seconds.
      if (Date.now() - started > timeoutMs) throw err;
      await sleep(500);
    }
  }
  // Usable means the frontend accepts a query on them (it reads the namespace's attribute names).
  const query = Object.values(SEARCH_ATTRIBUTES)
    .map((a) => `${a.name} IS NULL`)
    .join(' AND ');
  for (;;) {
    try {
      await connection.workflowService.listWorkflowExecutions({ namespace, query, pageSize: 1 });
      break;
    } catch (err) {
      if (Date.now() - started > timeoutMs) throw err;
      await sleep(500);
    }
  }
  say(`namespace ${namespace} ready with ${Object.keys(SEARCH_ATTRIBUTES).length} search attributes`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const connection = await connect(temporalConnectionOptions(config), 120_000);
  try {
    await setUpNamespace(connection, config.temporal.namespace);
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    say(`failed: ${(err as Error).message}`);
    process.exit(1);
  });
}
