/** The live config watcher: applies newer published versions, reports one it cannot apply once. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { loadConfig } from '../config/load';
import { LiveConfig, liveOverlay } from '../config/live';
import { LIVE_CONFIG_MEMO_KEY, type LiveConfigState } from '../contracts/live-config';
import { LiveConfigWatcher } from './live-config';

const base = loadConfig();

/** A client whose config workflow publishes `memo()` (undefined: no such workflow). */
function fakeClient(memo: () => LiveConfigState | undefined): Client {
  const describe = async () => {
    const m = memo();
    if (!m) throw new WorkflowNotFoundError('not found', 'id', undefined);
    return { memo: { [LIVE_CONFIG_MEMO_KEY]: m } };
  };
  return { workflow: { getHandle: () => ({ describe }) } } as unknown as Client;
}

describe('LiveConfigWatcher', () => {
  test('no config workflow yet: the start-up config stays, no error', async () => {
    const live = new LiveConfig(base);
    const errors: unknown[] = [];
    await new LiveConfigWatcher({ client: fakeClient(() => undefined), live, taskQueue: 'q', onError: (e) => errors.push(e) }).poll();
    assert.equal(live.current, base);
    assert.deepEqual(errors, []);
  });

  test('a newer version is applied once; a bad one is refused, reported once, and the running config stays', async () => {
    const live = new LiveConfig(base);
    const overlay = liveOverlay(base);
    overlay.targets[base.targets[0].id] = { ...overlay.targets[base.targets[0].id], weight: 4 };
    let state: LiveConfigState = { version: 1, overlay };
    const applied: number[] = [];
    const errors: unknown[] = [];
    const w = new LiveConfigWatcher({
      client: fakeClient(() => state),
      live,
      taskQueue: 'q',
      onApplied: (v) => applied.push(v),
      onError: (e) => errors.push(e),
    });
    await w.poll();
    await w.poll();
    assert.deepEqual(applied, [1]);
    assert.equal(live.current.targets[0].weight, 4);
    state = { version: 2, overlay: { ...overlay, timeouts: { ...overlay.timeouts, callMs: -1 } } };
    await w.poll();
    await w.poll();
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /timeouts\.callMs/);
    assert.equal(live.version, 1);
    assert.equal(live.current.targets[0].weight, 4);
  });
});
