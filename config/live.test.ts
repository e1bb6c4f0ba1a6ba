/**
 * Live reload rules: a validated config round-trips through its overlay, live keys are applied
 * and re-validated, restart-only keys are named, and an older or bad version is not applied.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from './load';
import { applyOverlay, LiveConfig, liveChanges, liveOverlay, restartOnlyChanges } from './live';
import type { GatewayConfig } from './schema';

const base = loadConfig();
const edited = (edit: (raw: any) => void): GatewayConfig => {
  const raw = JSON.parse(JSON.stringify(base));
  edit(raw);
  return parseConfig(raw, 'edited');
};

describe('live config', () => {
  test('a validated config parses again unchanged (what GET answers, PUT takes)', () => {
    assert.deepEqual(parseConfig(JSON.parse(JSON.stringify(base))), base);
    assert.deepEqual(applyOverlay(base, liveOverlay(base)), base);
  });

  test('live keys apply over the start-up config and are listed as changed', () => {
    const id = base.targets[0].id;
    const next = edited((raw) => {
      raw.targets[0].weight = 7;
      raw.targets[0].limits = { ...raw.targets[0].limits, requestsPerMinute: 5 };
      raw.breaker.consecutiveFailures = 2;
      raw.routing.strategy = 'weighted';
      raw.timeouts.callMs = 1234;
    });
    assert.deepEqual(restartOnlyChanges(base, next), []);
    const applied = applyOverlay(base, liveOverlay(next));
    assert.equal(applied.targets[0].weight, 7);
    assert.equal(applied.targets[0].limits.requestsPerMinute, 5);
    assert.equal(applied.breaker.consecutiveFailures, 2);
    assert.equal(applied.routing.strategy, 'weighted');
    assert.equal(applied.timeouts.callMs, 1234);
    assert.ok(Object.isFrozen(applied.targets[0]));
    assert.deepEqual(
      liveChanges(base, next).sort(),
      [
        'breaker.consecutiveFailures',
        'routing.strategy',
        `targets.${id}.limits.requestsPerMinute`,
        `targets.${id}.weight`,
        'timeouts.callMs',
      ].sort(),
    );
  });

  test('restart-only keys are named, targets by id', () => {
    const next = edited((raw) => {
      raw.api.port = 9999;
      raw.temporal.taskQueue = 'other';
      raw.targets[1].baseUrl = 'http://127.0.0.1:1/v1';
      raw.routing.refreshIntervalMs = 900;
    });
    assert.deepEqual(
      restartOnlyChanges(base, next).sort(),
      ['api.port', 'routing.refreshIntervalMs', `targets[1].baseUrl (target "${base.targets[1].id}")`, 'temporal.taskQueue'].sort(),
    );
  });

  test('an overlay that does not validate throws a ConfigError naming the key, and the running config stays', () => {
    const live = new LiveConfig(base);
    const bad = liveOverlay(base);
    bad.timeouts = { ...bad.timeouts, callMs: -5 };
    assert.throws(
      () => live.apply(bad, 1),
      (err: unknown) => err instanceof ConfigError && err.problems.some((p) => p.startsWith('timeouts.callMs')),
    );
    assert.equal(live.current, base);
    assert.equal(live.version, 0);
  });

  test('versions apply in order; an older one is ignored; listeners see each change', () => {
    const live = new LiveConfig(base);
    const seen: number[] = [];
    live.onChange((next) => seen.push(next.targets[0].weight));
    const w = (n: number) => liveOverlay(edited((raw) => (raw.targets[0].weight = n)));
    assert.equal(live.apply(w(3), 2), true);
    assert.equal(live.apply(w(9), 1), false);
    assert.equal(live.apply(w(4), 3), true);
    assert.deepEqual(seen, [3, 4]);
    assert.equal(live.current.targets[0].weight, 4);
    assert.equal(live.version, 3);
  });
});
