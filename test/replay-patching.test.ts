/**
 * Proof of the safe-change procedure (docs/replay.md) on a copy of the request workflow
 * (test/replay-patching/, bundled here, never registered in production): an incompatible change
 * is caught by replaying a recorded fixture, the same change behind `patched()` replays it, new
 * executions take the new path and record the marker, and `deprecatePatch()` is only safe once no
 * history without the marker can be replayed any more.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { parseConfig } from '../config/load';
import { REQUEST_WORKFLOW } from '../contracts/workflow-api';
import { createGatewayWorker } from '../worker/worker';
import { markerDetails, readHistoryFile, replayOne, replayWorkerOptions, workflowTypeOf, type History } from '../worker/replay';
import { installRuntime } from '../shared/runtime';
import { chat, mockedConfig } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { PATCH_ID } from './replay-patching/v1-patched';

installRuntime();

const FIXTURES = join(__dirname, 'fixtures', 'histories');
/** The recorded fixture the demo changes are judged against. */
const FIXTURE = 'request-happy-openai.json';
const VARIANTS = ['v0-original', 'v1-unsafe', 'v1-patched', 'v2-deprecated'] as const;
type Variant = (typeof VARIANTS)[number];

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never;
const code = {} as Record<Variant, string>;
let old: History;

before(async () => {
  old = readHistoryFile(join(FIXTURES, FIXTURE));
  for (const v of VARIANTS)
    code[v] = (await bundleWorkflowCode({ workflowsPath: require.resolve(`./replay-patching/${v}`), logger: quiet })).code;
});

/** Replays `history` against a variant; resolves with the raw error (or undefined). */
async function replayError(variant: Variant, history: History): Promise<unknown> {
  try {
    await Worker.runReplayHistory(replayWorkerOptions({ code: code[variant] }), history, 'replay-patching');
    return undefined;
  } catch (err) {
    return err;
  }
}

function markers(history: History, name: string): number {
  return (history.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === name).length;
}

describe('changing a workflow safely: patched / deprecatePatch', () => {
  test('baseline: the unchanged copy replays every recorded request fixture', async () => {
    const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
    const requests = files
      .map((f) => ({ f, h: readHistoryFile(join(FIXTURES, f)) }))
      .filter(({ h }) => workflowTypeOf(h) === REQUEST_WORKFLOW);
    assert.ok(requests.length > 0);
    // The copy is of the code the unlabelled fixtures were recorded with (not `<name>--<label>` ones).
    for (const { f, h } of requests.filter(
      ({ f }) => !f.includes('--') && (f.startsWith('request-happy') || f.startsWith('request-failover')),
    )) {
      assert.equal(await replayOne(h, f, { code: code['v0-original'] }, f), undefined, `${f} replays on the frozen copy`);
    }
  });

  test('an extra activity before the provider call, unpatched: the old history fails replay with a DeterminismViolationError', async () => {
    const err = await replayError('v1-unsafe', old);
    assert.ok(err instanceof DeterminismViolationError, `expected a DeterminismViolationError, got ${String(err)}`);
    // What the fixture suite prints: the fixture, the workflow type and the event.
    const report = await replayOne(old, FIXTURE, { code: code['v1-unsafe'] }, FIXTURE);
    assert.match(report ?? '', new RegExp(`^${FIXTURE}: aiRequestWorkflow does not replay: nondeterminism`));
    console.log(`[replay-patching] caught as expected:\n${report}`);
  });

  test('the same change behind patched(): the old history replays (it takes the old path)', async () => {
    assert.equal(await replayError('v1-patched', old), undefined);
  });

  describe('a new execution of the patched code', () => {
    let fresh: History;
    let connection: NativeConnection;
    let close: () => Promise<void> = async () => undefined;

    before(async () => {
      const address = await testTemporalAddress();
      const { raw, mocks } = await mockedConfig(address);
      const config = parseConfig(raw, 'test');
      const bundlePath = join(mkdtempSync(join(tmpdir(), 'stormproof-patched-')), 'bundle.js');
      writeFileSync(bundlePath, code['v1-patched']);
      connection = await NativeConnection.connect({ address });
      const gw = await createGatewayWorker({ connection, config, workflowBundlePath: bundlePath });
      const client = new Client({ connection });
      close = async () => {
        await connection.close();
        await Promise.all(Object.values(mocks).map((m) => m.close()));
      };
      const id = `patched-${randomUUID()}`;
      await gw.worker.runUntil(
        client.workflow.execute(REQUEST_WORKFLOW, {
          taskQueue: config.temporal.taskQueue,
          workflowId: id,
          args: [{ request: chat('gpt-4o', 'patched hello') }],
        }),
      );
      fresh = await client.workflow.getHandle(id).fetchHistory();
    });
    after(() => close());

    test('takes the new path and records the patch marker', () => {
      const patch = (fresh.events ?? []).filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
      assert.deepEqual(
        patch.map((e) => markerDetails(e)?.id),
        [PATCH_ID],
        'one patch marker, for this change',
      );
      assert.equal(markers(fresh, 'core_local_activity'), 3, 'snapshot, snapshot again, provider call');
    });

    test('its history replays on the patched code and on the deprecated-patch code', async () => {
      assert.equal(await replayError('v1-patched', fresh), undefined);
      assert.equal(await replayError('v2-deprecated', fresh), undefined);
    });

    test('rolling back to the original code would break it (a deploy is one-way once new histories exist)', async () => {
      assert.ok((await replayError('v0-original', fresh)) instanceof DeterminismViolationError);
    });

    test('deprecatePatch too early breaks old histories: it waits until none can be replayed', async () => {
      assert.ok((await replayError('v2-deprecated', old)) instanceof DeterminismViolationError);
    });
  });
});
