/** The breaker view's read cadence: every interval while requests route, slower when quiet, fresh on demand. */
import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../config/load';
import { BREAKER_MEMO_KEY } from '../contracts/breaker';
import { BreakerView, QUIET_REFRESH_INTERVALS } from './breaker-view';

const config = loadConfig();
const TARGETS = config.targets.length;
const INTERVAL = config.routing.refreshIntervalMs;

let describes = 0;
const client = {
  workflow: {
    getHandle: (id: string) => ({
      describe: async () => {
        describes++;
        return {
          status: { name: 'RUNNING' },
          memo: { [BREAKER_MEMO_KEY]: { target: id, state: 'closed', since: 0, trips: 0, transitions: [] } },
        };
      },
    }),
  },
} as unknown as Client;

const flush = () => new Promise((r) => setImmediate(r));
/** Advances the mocked clock in interval steps, letting each read complete. */
async function advance(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += INTERVAL) {
    mock.timers.tick(INTERVAL);
    await flush();
  }
}
const reads = () => describes / TARGETS;

beforeEach(() => {
  describes = 0;
  mock.timers.enable({ apis: ['setInterval', 'setTimeout', 'Date'], now: 1_000_000 });
});
afterEach(() => mock.timers.reset());

test('while requests route, the views are read every interval', async () => {
  const view = new BreakerView(client, config);
  view.start(INTERVAL);
  for (let i = 0; i < 10; i++) {
    await view.fresh();
    await advance(INTERVAL);
  }
  assert.ok(reads() >= 9, `read ${reads()} times in 10 intervals`);
  view.stop();
});

test('quiet (no request for a while): a read every few intervals; the next request reads first', async () => {
  const view = new BreakerView(client, config);
  view.start(INTERVAL);
  await advance(20_000); // 10 s busy-equivalent start, then quiet
  describes = 0;
  await advance(100 * INTERVAL);
  assert.ok(reads() <= 100 / QUIET_REFRESH_INTERVALS + 1, `quiet: ${reads()} reads in 100 intervals`);
  assert.ok(reads() >= 100 / QUIET_REFRESH_INTERVALS - 1, `still read regularly: ${reads()}`);
  // A request after the quiet spell, when the view is older than two intervals: it is read first.
  for (let i = 0; i < QUIET_REFRESH_INTERVALS && Date.now() - view.refreshedAt <= 2 * INTERVAL; i++) await advance(INTERVAL);
  assert.ok(Date.now() - view.refreshedAt > 2 * INTERVAL);
  describes = 0;
  await view.fresh();
  assert.equal(reads(), 1, 'the request waited for a fresh read');
  describes = 0;
  await advance(4 * INTERVAL);
  assert.ok(reads() >= 3, `busy again: ${reads()} reads in 4 intervals`);
  view.stop();
});

test('quiet reads come often enough that a view never turns unknown between them', async () => {
  const stale: string[] = [];
  const view = new BreakerView(client, config, { onStale: (target, _ageMs, why) => stale.push(`${target}: ${why}`) });
  view.start(INTERVAL);
  await advance(20_000); // quiet from here: no request asks for a fresh view
  for (let i = 0; i < 100; i++) {
    await advance(INTERVAL);
    // What /v1/providers and the gauges do between reads.
    for (const t of config.targets) assert.ok(view.get(t.id), `${t.id} known after ${i + 1} quiet intervals`);
  }
  assert.deepEqual(stale, []);
  view.stop();
});
