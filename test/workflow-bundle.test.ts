/**
 * What the workflow bundle holds. With the reusable V8 context (the SDK's default), every module the
 * bundle's entry imports is evaluated again for each workflow the worker creates: a third-party
 * library in it costs its whole start-up on every request. Profiling the gateway at 40 req/s showed
 * zod (pulled in by contracts that define schemas next to the constants workflows use) taking half
 * of the workflow thread's busy time. Workflows import only pure, schema-free contracts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { bundleWorkflowCode } from '@temporalio/worker';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never;

async function bundle(): Promise<string> {
  const built = process.env.STORMPROOF_WORKFLOW_BUNDLE;
  if (built) return readFileSync(built, 'utf8');
  return (await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quiet })).code;
}

/** Module ids of the bundle (webpack keys its modules by their path relative to the project). */
function modulesOf(code: string): string[] {
  return [...new Set([...code.matchAll(/"(\.\/[^"\s]+\.(?:[cm]?js|ts))"/g)].map((m) => m[1]))];
}

test('the workflow bundle carries no third-party library beyond what the Temporal SDK brings', async () => {
  const modules = modulesOf(await bundle());
  assert.ok(
    modules.some((m) => m === './workflows/request.ts'),
    'the module list was read',
  );
  // The SDK's own dependencies: @temporalio/*, nexus-rpc (Nexus operations), long (int64 ids), ms (durations).
  const sdk = /^\.\/node_modules\/(@temporalio\/|nexus-rpc\/|long\/|ms\/)/;
  const foreign = modules.filter((m) => m.startsWith('./node_modules/') && !sdk.test(m));
  assert.deepEqual(foreign, [], 'modules evaluated again for every workflow');
});

test('workflows import contracts that define no schema', async () => {
  const contracts = modulesOf(await bundle()).filter((m) => m.startsWith('./contracts/'));
  assert.ok(contracts.includes('./contracts/failures.ts'), 'the contracts workflows use are in the bundle');
  const withSchemas = contracts.filter((m) => /from 'zod'/.test(readFileSync(m, 'utf8')));
  assert.deepEqual(withSchemas, [], 'contracts with zod schemas in the workflow bundle');
});
