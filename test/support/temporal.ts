/**
 * The Temporal dev server for tests. `npm test` starts one for the whole run and passes its
 * address in STORMPROOF_TEST_TEMPORAL_ADDRESS; a test file run on its own starts its own.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../../contracts/workflow-api';
import { ensureTemporalCli } from '../../scripts/ensure-temporal';

const TYPES = { Keyword: SearchAttributeType.KEYWORD, Int: SearchAttributeType.INT } as const;

/** Search attribute keys the workflows use, for registering with the dev server. */
export function searchAttributeKeys() {
  return Object.values(SEARCH_ATTRIBUTES).map((a) => defineSearchAttributeKey(a.name, TYPES[a.type]));
}

/** Starts a dev server from the pinned CLI binary (never downloaded by the SDK). */
export async function startDevServer(opts: { dbFilename?: string; uiPort?: number; port?: number } = {}): Promise<TestWorkflowEnvironment> {
  const path = ensureTemporalCli();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      ip: '127.0.0.1',
      port: opts.port,
      ...(opts.uiPort ? { ui: true, uiPort: opts.uiPort } : {}),
      dbFilename: opts.dbFilename,
      searchAttributes: searchAttributeKeys(),
      extraArgs: opts.dbFilename ? ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'] : [],
    },
  });
}

let own: Promise<{ address: string; env?: TestWorkflowEnvironment }> | undefined;

/** Address of the test server (shared by the run, or started for this process). */
export function testTemporalAddress(): Promise<string> {
  own ??= (async () => {
    const shared = process.env.STORMPROOF_TEST_TEMPORAL_ADDRESS;
    if (shared) return { address: shared };
    const env = await startDevServer();
    process.once('beforeExit', () => void env.teardown());
    return { address: env.address, env };
  })();
  return own.then((o) => o.address);
}

/** Stops a server this process started (no-op for the shared one). */
export async function stopOwnTemporal(): Promise<void> {
  const o = await own;
  own = undefined;
  await o?.env?.teardown();
}
