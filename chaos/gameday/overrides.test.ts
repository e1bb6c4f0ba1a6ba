/**
 * A scenario's `gateway:` block: only `routing.strategy` may be set (every other key is refused by
 * name), and it is merged into the rewired default config before the config is parsed, changing
 * nothing else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../../config/load';
import { mergeGatewayOverrides } from './overrides';
import { loadScenario, parseScenario, ScenarioError } from './schema';

const TARGETS = ['openai-us-east-1', 'anthropic-eu-west-1', 'selfhosted-onprem'];
const base = { title: 't', load: { rate: 1, seconds: 30 }, method: [{ at: 10, action: 'proxy-down', target: 'openai-us-east-1' }] };
function issues(raw: unknown): string[] {
  try {
    parseScenario(raw, { targets: TARGETS, name: 't' });
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues;
    throw e;
  }
  return [];
}

test('gateway.routing.strategy is the one key a scenario may set', () => {
  for (const strategy of ['priority', 'weighted', 'latency', 'cost'] as const) {
    const s = parseScenario({ ...base, gateway: { routing: { strategy } } }, { targets: TARGETS, name: 't' });
    assert.deepEqual(s.gateway, { routing: { strategy } });
  }
  assert.equal(parseScenario(base, { targets: TARGETS, name: 't' }).gateway, undefined, 'absent: the config decides');
});

test('anything else under gateway is refused, each key named', () => {
  assert.deepEqual(issues({ ...base, gateway: { routing: { strategy: 'weighted' }, breakers: { cooldownMs: 1 }, targets: [] } }), [
    'gateway.breakers: not overridable: a game day runs at the default config; only gateway.routing.strategy (priority | weighted | latency | cost) may be set',
    'gateway.targets: not overridable: a game day runs at the default config; only gateway.routing.strategy (priority | weighted | latency | cost) may be set',
  ]);
  assert.match(
    issues({ ...base, gateway: { routing: { strategy: 'weighted', hedgeAfterMs: 0 } } })[0],
    /^gateway\.routing\.hedgeAfterMs: not overridable/,
  );
  assert.match(issues({ ...base, gateway: { routing: { strategy: 'random' } } })[0], /^gateway\.routing\.strategy: /);
  assert.match(issues({ ...base, gateway: { routing: {} } })[0], /^gateway\.routing\.strategy: /);
  assert.match(issues({ ...base, gateway: {} })[0], /^gateway\.routing: /);
  // Elsewhere unknown keys keep zod's wording.
  assert.match(issues({ ...base, breakers: {} })[0], /^\(root\): Unrecognized key/);
});

test('the merge sets the strategy in the raw config and nothing else, before parseConfig validates it', () => {
  const raw = () => parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')) as { routing?: Record<string, unknown> };
  const plain = parseConfig(raw(), 'default');
  assert.equal(plain.routing.strategy, 'priority', 'the default config is active-passive');

  const merged = raw();
  assert.equal(mergeGatewayOverrides(merged, { routing: { strategy: 'weighted' } }), 'scenario');
  const config = parseConfig(merged, 'gameday');
  assert.equal(config.routing.strategy, 'weighted');
  assert.deepEqual({ ...config, routing: { ...config.routing, strategy: 'priority' } }, plain, 'everything else is the default config');

  const untouched = raw();
  assert.equal(mergeGatewayOverrides(untouched, undefined), 'config');
  assert.deepEqual(untouched, raw());
});

test('the active-passive and active-active drills differ from hard-down only in the strategy', () => {
  const dir = resolve(__dirname, '..', 'scenarios');
  const hard = loadScenario(resolve(dir, 'hard-down.yaml'), TARGETS);
  const ap = loadScenario(resolve(dir, 'hard-down-active-passive.yaml'), TARGETS);
  const aa = loadScenario(resolve(dir, 'hard-down-active-active.yaml'), TARGETS);
  assert.equal(ap.gateway?.routing.strategy, 'priority');
  assert.equal(aa.gateway?.routing.strategy, 'weighted');
  for (const s of [ap, aa]) {
    for (const k of ['steadyState', 'load', 'stack', 'method', 'rollbacks', 'thresholds', 'abort'] as const)
      assert.deepEqual(s[k], hard[k], `${s.name}.${k}`);
  }
});
