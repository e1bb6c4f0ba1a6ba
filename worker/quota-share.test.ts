/** The live-worker count behind `routing.quotaShare: auto`, against a described task queue. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from '@temporalio/client';
import { liveWorkers, POLLER_LIVE_MS, QuotaShareWatcher } from './quota-share';

const NOW = 1_700_000_000_000;
const at = (ms: number) => ({ seconds: Math.floor(ms / 1000) });

function fakeClient(byType: Record<number, { identity: string; lastAccessTime?: { seconds: number } }[]>, fail = { on: false }): Client {
  return {
    workflowService: {
      describeTaskQueue: async (req: { taskQueueType: number }) => {
        if (fail.on) throw new Error('unavailable');
        return { pollers: byType[req.taskQueueType] ?? [] };
      },
    },
  } as unknown as Client;
}

test('distinct identities polling workflow or activity tasks recently, this worker always included', async () => {
  const client = fakeClient({
    1: [
      { identity: 'a', lastAccessTime: at(NOW - 1_000) },
      { identity: 'b', lastAccessTime: at(NOW - 30_000) },
    ],
    2: [
      { identity: 'a', lastAccessTime: at(NOW) },
      { identity: 'c', lastAccessTime: at(NOW - 5_000) },
      { identity: 'dead', lastAccessTime: at(NOW - POLLER_LIVE_MS - 2_000) },
    ],
  });
  assert.deepEqual([...(await liveWorkers(client, 'ns', 'q', 'me', NOW))].sort(), ['a', 'b', 'c', 'me']);
  assert.deepEqual([...(await liveWorkers(fakeClient({}), 'ns', 'q', 'me', NOW))], ['me'], 'alone before its first poll');
});

test('the watcher applies 1 / live workers, and keeps the last share when Temporal cannot be read', async () => {
  const now = Date.now();
  const fail = { on: false };
  const byType: Record<number, { identity: string; lastAccessTime: { seconds: number } }[]> = {
    1: [
      { identity: 'me', lastAccessTime: at(now) },
      { identity: 'other', lastAccessTime: at(now) },
    ],
  };
  const applied: number[] = [];
  const errors: unknown[] = [];
  const w = new QuotaShareWatcher({
    client: fakeClient(byType, fail),
    namespace: 'ns',
    taskQueue: 'q',
    identity: 'me',
    intervalMs: 60_000,
    apply: (s) => applied.push(s),
    onError: (e) => errors.push(e),
  });
  await w.start();
  w.stop();
  assert.deepEqual(applied, [0.5]);
  assert.equal(w.workers, 2);
  byType[2] = [{ identity: 'third', lastAccessTime: at(now) }];
  await w.refresh();
  fail.on = true;
  await w.refresh();
  assert.deepEqual(applied, [0.5, 1 / 3], 'a failed count applies nothing');
  assert.equal(errors.length, 1);
});
