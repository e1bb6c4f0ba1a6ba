/**
 * The worker's side of the breakers with a fake Temporal client: trials handed out by calls (not
 * by snapshots) and shared among workers, stale views treated as unknown, settings sent to a
 * breaker that runs others, start-up that survives a failing ensureBreakers, per-model overlay.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../config/load';
import type { GatewayConfig } from '../config/schema';
import { BREAKER_MEMO_KEY, SETTINGS_SIGNAL, type BreakerPublished } from '../contracts/breaker';
import { BreakerView, STALE_REFRESHES } from '../shared/breaker-view';
import { breakerIdFor, breakerInput } from '../shared/breakers';
import { RoutingState } from './routing-state';
import { TrialGate } from './trial-gate';

const T0 = 1_700_000_000_000;
const PRIMARY = 'openai-us-east-1';

function config(edit: (raw: any) => void = () => undefined): GatewayConfig {
  const raw = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
  raw.routing = { ...raw.routing, refreshIntervalMs: 50, flushIntervalMs: 100 };
  edit(raw);
  return parseConfig(raw, 'test');
}

/** A published view of the primary's breaker. */
function view(over: Partial<BreakerPublished> = {}): BreakerPublished {
  return {
    target: PRIMARY,
    state: 'closed',
    since: T0,
    trips: 0,
    window: { calls: 0, failures: 0, slow: 0, errorRate: 0, slowRate: 0, meanMs: 0 },
    consecutiveFailures: 0,
    probe: { healthy: true },
    transitions: [],
    ...over,
  };
}

interface Fake {
  client: Client;
  memos: Map<string, BreakerPublished>;
  signals: Array<{ id: string; name: string; arg: unknown }>;
  starts: number;
  signalWithStarts: number;
  failStarts: number;
  failDescribe: boolean;
}

function fakeClient(): Fake {
  const f: Fake = {
    memos: new Map(),
    signals: [],
    starts: 0,
    signalWithStarts: 0,
    failStarts: 0,
    failDescribe: false,
    client: undefined as unknown as Client,
  };
  f.client = {
    workflow: {
      async start() {
        f.starts += 1;
        if (f.failStarts > 0) {
          f.failStarts -= 1;
          throw new Error('Temporal unavailable');
        }
      },
      async signalWithStart() {
        f.signalWithStarts += 1;
      },
      getHandle(id: string) {
        return {
          async describe() {
            if (f.failDescribe) throw new Error('describe failed');
            const memo = f.memos.get(id);
            return { status: { name: 'RUNNING' }, memo: memo ? { [BREAKER_MEMO_KEY]: memo } : {} };
          },
          async signal(name: string, arg: unknown) {
            f.signals.push({ id, name, arg });
          },
        };
      },
    },
  } as unknown as Client;
  return f;
}

const refused = (fn: () => void) =>
  assert.throws(
    fn,
    (err: unknown) =>
      err instanceof ApplicationFailure && err.type === 'ProviderUnavailable' && err.nonRetryable && /half-open/.test(err.message),
  );

describe('half-open trials (TrialGate)', () => {
  const trialsConfig = config((raw) => (raw.breaker = { probes: false, halfOpenTrials: 3 }));
  const halfOpen = (over: Partial<BreakerPublished> = {}) =>
    view({ state: 'half-open', since: T0 + 1, halfOpen: { mode: 'trials', trials: 3 }, ...over });

  test('reading the state (a routing snapshot) takes no trial; a call does, and one past the share is refused at once', () => {
    const g = new TrialGate(trialsConfig);
    const v = halfOpen();
    for (let i = 0; i < 50; i++) assert.equal(g.routedState(PRIMARY, undefined, 'half-open', v), 'half-open');
    for (let i = 0; i < 3; i++) g.admit({ target: PRIMARY, model: 'gpt-4o' }, v);
    assert.equal(g.routedState(PRIMARY, undefined, 'half-open', v), 'open', 'no trial left: routers see it as open');
    refused(() => g.admit({ target: PRIMARY, model: 'gpt-4o' }, v));
    // A last resort goes anyway, as it would through an open breaker.
    g.admit({ target: PRIMARY, model: 'gpt-4o', lastResort: 'breaker open' }, v);
  });

  test('each worker grants its share: ⌈trials ÷ workers⌉, so the total does not multiply with the workers', () => {
    const g = new TrialGate(trialsConfig);
    const v = halfOpen({ workers: 3 });
    assert.equal(g.share(PRIMARY, v), 1);
    g.admit({ target: PRIMARY, model: 'gpt-4o' }, v);
    refused(() => g.admit({ target: PRIMARY, model: 'gpt-4o' }, v));
    assert.equal(g.share(PRIMARY, halfOpen({ workers: 2 })), 2);
  });

  test('a new half-open period gives a new share', () => {
    const g = new TrialGate(trialsConfig);
    for (let i = 0; i < 3; i++) g.admit({ target: PRIMARY, model: 'gpt-4o' }, halfOpen());
    g.admit({ target: PRIMARY, model: 'gpt-4o' }, halfOpen({ since: T0 + 99 }));
  });

  test('a half-open model is gated on its own; other models of the target are not', () => {
    const g = new TrialGate(trialsConfig);
    const v = view({
      models: { 'gpt-4o': { state: 'half-open', since: T0 + 5, trips: 1, healthy: true, consecutiveFailures: 0, transitions: [] } },
    });
    for (let i = 0; i < 3; i++) g.admit({ target: PRIMARY, model: 'gpt-4o' }, v);
    refused(() => g.admit({ target: PRIMARY, model: 'gpt-4o' }, v));
    for (let i = 0; i < 10; i++) g.admit({ target: PRIMARY, model: 'gpt-4o-mini' }, v);
  });

  test('when the probe decides half-open, no user call is a trial: routers see it open, calls are never refused', () => {
    const g = new TrialGate(config());
    const v = halfOpen({ halfOpen: { mode: 'probe', trials: 3 } });
    assert.equal(g.routedState(PRIMARY, undefined, 'half-open', v), 'open');
    for (let i = 0; i < 10; i++) g.admit({ target: PRIMARY, model: 'gpt-4o' }, v);
    // A breaker on older rules publishes no mode: the config says (default: the probe calls the models).
    assert.equal(g.probeDecides(PRIMARY, view({ state: 'half-open' })), true);
    assert.equal(new TrialGate(trialsConfig).probeDecides(PRIMARY, view({ state: 'half-open' })), false);
  });
});

describe('calls to an open breaker (TrialGate)', () => {
  const openRefused = (fn: () => void) =>
    assert.throws(
      fn,
      (err: unknown) =>
        err instanceof ApplicationFailure && err.type === 'ProviderUnavailable' && err.nonRetryable && /is open/.test(err.message),
    );

  test('a call (e.g. a Temporal retry of a try routed before the trip) to an open target is refused at once; a last resort goes', () => {
    const g = new TrialGate(config());
    const v = view({ state: 'open' });
    openRefused(() => g.admit({ target: PRIMARY, model: 'gpt-4o' }, v));
    g.admit({ target: PRIMARY, model: 'gpt-4o', lastResort: 'breaker open' }, v);
  });

  test("an open model is refused; the target's other models are not; a forced close lets everything through", () => {
    const g = new TrialGate(config());
    const v = view({
      models: { 'gpt-4o': { state: 'open', since: T0 + 5, trips: 1, healthy: false, consecutiveFailures: 5, transitions: [] } },
    });
    openRefused(() => g.admit({ target: PRIMARY, model: 'gpt-4o' }, v));
    g.admit({ target: PRIMARY, model: 'gpt-4o-mini' }, v);
    g.admit({ target: PRIMARY, model: 'gpt-4o' }, view({ state: 'closed', forced: 'close' }));
  });
});

describe('stale views (BreakerView)', () => {
  test('a view whose seq stops moving turns unknown after publishIntervalMs + N refreshes, once; it comes back when it moves', async () => {
    const f = fakeClient();
    const cfg = config((raw) => (raw.breaker = { publishIntervalMs: 1_000 }));
    let now = T0;
    const stale: string[] = [];
    const v = new BreakerView(f.client, cfg, { onStale: (t, _age, why) => stale.push(`${t}: ${why}`) }, () => now);
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ seq: 7, state: 'open' }));
    await v.refresh();
    assert.equal(v.get(PRIMARY)?.state, 'open');
    const bound = 1_000 + STALE_REFRESHES * 50;
    now = T0 + bound;
    await v.refresh();
    assert.equal(v.get(PRIMARY)?.state, 'open', 'at the bound: still trusted');
    now = T0 + bound + 1;
    await v.refresh();
    assert.equal(v.get(PRIMARY), undefined);
    assert.equal(v.get(PRIMARY), undefined);
    assert.equal(stale.length, 1, 'reported once per episode');
    assert.match(stale[0], /stopped publishing/);
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ seq: 8, state: 'open' }));
    await v.refresh();
    assert.equal(v.get(PRIMARY)?.state, 'open');
  });

  test('a view this process cannot read turns unknown after N refresh intervals', async () => {
    const f = fakeClient();
    const cfg = config();
    let now = T0;
    const v = new BreakerView(f.client, cfg, {}, () => now);
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ state: 'open' }));
    await v.refresh();
    f.failDescribe = true;
    now = T0 + STALE_REFRESHES * 50;
    await v.refresh();
    assert.equal(v.get(PRIMARY)?.state, 'open');
    now += 1;
    await v.refresh();
    assert.equal(v.get(PRIMARY), undefined);
    assert.equal(v.last(PRIMARY)?.state, 'open', 'the operator still sees what was last read');
  });
});

describe('RoutingState', () => {
  // The state's own timers are unref'd (they never hold a worker process open); this holds the test's.
  let keepAlive: NodeJS.Timeout;
  before(() => (keepAlive = setInterval(() => undefined, 1_000)));
  after(() => clearInterval(keepAlive));

  test('start-up: ensureBreakers failing does not leave the worker without flushing or reading; it is retried', async () => {
    const f = fakeClient();
    f.failStarts = 3; // the first attempt (3 targets) fails
    const r = new RoutingState({ client: f.client, config: config(), taskQueue: 'q', workerId: 'w', onError: () => undefined });
    f.memos.set(breakerIdFor(r['opts'].config, PRIMARY), view({ state: 'open', seq: 1 }));
    await r.start();
    r.record({ target: PRIMARY, model: 'gpt-4o', outcome: 'ok', durationMs: 5, streaming: false });
    await new Promise((res) => setTimeout(res, 300));
    assert.ok(f.signalWithStarts >= 1, 'outcomes were flushed');
    assert.equal(r.overlay(PRIMARY).breaker, 'open', 'breakers were read');
    await r.ready;
    assert.ok(f.starts >= 6, `ensureBreakers was tried again (${f.starts} starts)`);
    await r.stop();
  });

  test('a breaker running other settings is sent this config’s, at most once per 10 s', async () => {
    const f = fakeClient();
    const cfg = config();
    const r = new RoutingState({ client: f.client, config: cfg, taskQueue: 'q', workerId: 'w' });
    const id = breakerIdFor(cfg, PRIMARY);
    f.memos.set(id, view({ settingsHash: 'other' }));
    await r.view.refresh();
    await r.view.refresh();
    const sent = f.signals.filter((x) => x.name === SETTINGS_SIGNAL);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].id, id);
    assert.deepEqual(sent[0].arg, { settings: breakerInput(cfg, PRIMARY).settings, hash: breakerInput(cfg, PRIMARY).settingsHash });
    // A breaker that already runs these settings, or older code that publishes no hash, is left alone.
    f.memos.set(id, view({ settingsHash: breakerInput(cfg, PRIMARY).settingsHash }));
    f.memos.set(breakerIdFor(cfg, 'anthropic-eu-west-1'), view({ target: 'anthropic-eu-west-1' }));
    await r.view.refresh();
    assert.equal(f.signals.filter((x) => x.name === SETTINGS_SIGNAL).length, 1);
  });

  test('overlay: per-model states for the selector, the shared 429 cool-down, local evidence when the view is unknown', async () => {
    const f = fakeClient();
    const cfg = config();
    const r = new RoutingState({ client: f.client, config: cfg, taskQueue: 'q', workerId: 'w' });
    const until = Date.now() + 30_000;
    const gpt4o = { state: 'open' as const, since: T0, trips: 1, healthy: true, consecutiveFailures: 5, transitions: [] };
    const mini = { state: 'closed' as const, since: T0, trips: 0, healthy: false, consecutiveFailures: 0, transitions: [] };
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ models: { 'gpt-4o': gpt4o, 'gpt-4o-mini': mini }, coolDownUntil: until }));
    await r.view.refresh();
    const o = r.overlay(PRIMARY);
    assert.equal(o.breaker, 'closed');
    assert.deepEqual(o.modelHealth, { 'gpt-4o': { breaker: 'open', healthy: true }, 'gpt-4o-mini': { breaker: 'closed', healthy: false } });
    assert.equal(o.coolDownUntil, until);
    // No view at all (never read): this worker's own failures in a row decide.
    for (let i = 0; i < 5; i++)
      r.record({ target: 'selfhosted-onprem', model: 'llama-3.1-8b', outcome: 'ProviderUnavailable', durationMs: 1, streaming: false });
    assert.equal(r.overlay('selfhosted-onprem').breaker, 'open');
    r.record({ target: 'selfhosted-onprem', model: 'llama-3.1-8b', outcome: 'ok', durationMs: 1, streaming: false });
    assert.equal(r.overlay('selfhosted-onprem').breaker, 'closed');
  });

  test('routing snapshots take no half-open trial (they did: any snapshot read used one up)', async () => {
    const f = fakeClient();
    const cfg = config((raw) => (raw.breaker = { probes: false, halfOpenTrials: 2 }));
    const r = new RoutingState({ client: f.client, config: cfg, taskQueue: 'q', workerId: 'w' });
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ state: 'half-open', since: T0 + 1, halfOpen: { mode: 'trials', trials: 2 } }));
    await r.view.refresh();
    for (let i = 0; i < 10; i++) assert.equal(r.overlay(PRIMARY).breaker, 'half-open', `snapshot ${i}`);
    r.hooks.onCallStart?.({ target: PRIMARY, model: 'gpt-4o-mini', request: { model: 'gpt-4o-mini', messages: [] }, jobId: 'j' }, 10);
    r.hooks.onCallStart?.({ target: PRIMARY, model: 'gpt-4o-mini', request: { model: 'gpt-4o-mini', messages: [] }, jobId: 'j' }, 10);
    assert.equal(r.overlay(PRIMARY).breaker, 'open');
    refused(() =>
      r.hooks.onCallStart?.({ target: PRIMARY, model: 'gpt-4o-mini', request: { model: 'gpt-4o-mini', messages: [] }, jobId: 'j' }, 10),
    );
  });

  test('latency: this worker’s figure while fresh (streams by their first token), then the probe’s', async () => {
    const f = fakeClient();
    const cfg = config();
    let now = T0;
    const r = new RoutingState({ client: f.client, config: cfg, taskQueue: 'q', workerId: 'w', now: () => now });
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ probe: { healthy: true, latencyEwmaMs: 400 } }));
    await r.view.refresh();
    r.record({ target: PRIMARY, model: 'gpt-4o', outcome: 'ok', durationMs: 8_000, streaming: true, firstTokenMs: 120 });
    assert.equal(r.overlay(PRIMARY).latencyMs, 120, 'a long healthy stream is judged by its first token');
    now = T0 + 60_000;
    assert.equal(r.overlay(PRIMARY).latencyMs, 400, 'an avoided target does not keep its old figure forever');
  });

  test('a shared 429 cool-down reported before this worker cleared its cool-downs is forgotten with them', async () => {
    const f = fakeClient();
    const cfg = config();
    const r = new RoutingState({ client: f.client, config: cfg, taskQueue: 'q', workerId: 'w' });
    const until = Date.now() + 30_000;
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ coolDownUntil: until, coolDownSince: Date.now() - 1 }));
    await r.view.refresh();
    assert.equal(r.overlay(PRIMARY).coolDownUntil, until);
    r.quota.clearCoolDowns();
    assert.equal(r.overlay(PRIMARY).coolDownUntil, undefined);
    f.memos.set(breakerIdFor(cfg, PRIMARY), view({ coolDownUntil: until, coolDownSince: Date.now() + 1 }));
    await r.view.refresh();
    assert.equal(r.overlay(PRIMARY).coolDownUntil, until, 'one reported after the clear holds');
  });
});
