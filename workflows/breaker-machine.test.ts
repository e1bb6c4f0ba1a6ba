/**
 * The breaker's pure state machine, fed by hand: trips, cooldowns, half-open trials, flapping,
 * operator overrides and what it publishes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BreakerSettingsSchema } from '../config/schema';
import { DEFAULT_FAST_WINDOW_MS, type BreakerSettings, type OutcomeBatch } from '../contracts/breaker';
import { FailureType } from '../contracts/failures';
import type { BreakerState } from '../contracts/routing';
import { OutcomeBatcher } from '../worker/outcome-batcher';
import { cooldownFor, initialState, nextDeadline, publish, settingsForRun, step, tripReason, type MachineState } from './breaker-machine';

const T0 = 1_700_000_000_000;

const SETTINGS: BreakerSettings = {
  windowMs: 60_000,
  bucketMs: 1_000,
  minCalls: 10,
  errorRateThreshold: 0.5,
  slowCallMs: 1_000,
  slowCallRateThreshold: 0.5,
  consecutiveFailures: 5,
  cooldownMs: 1_000,
  maxCooldownMs: 8_000,
  halfOpenTrials: 3,
  probes: true,
  probeIntervalMs: 15_000,
  probeOpenIntervalMs: 2_000,
  continueAsNewAfterEvents: 2_000,
};

const settings = (over: Partial<BreakerSettings> = {}): BreakerSettings => ({ ...SETTINGS, ...over });

interface BatchOpts {
  slow?: number;
  trailing?: number;
  totalMs?: number;
  at?: number;
  byType?: Record<string, number>;
}

/** A batch of `calls` outcomes, `failures` of them failed; by default the failures come last. */
function batch(calls: number, failures: number, o: BatchOpts = {}): OutcomeBatch {
  const at = o.at ?? T0;
  return {
    worker: 'w1',
    from: at,
    to: at,
    calls,
    failures,
    slow: o.slow ?? 0,
    trailingFailures: o.trailing ?? failures,
    byType: o.byType ?? (failures ? { ProviderServerError: failures } : {}),
    totalMs: o.totalMs ?? calls * 100,
  };
}

function fresh(): MachineState {
  return initialState('t1', T0);
}

/** Sends a batch observed at `now`. */
function send(m: MachineState, now: number, calls: number, failures: number, o: BatchOpts = {}, s = SETTINGS): MachineState {
  return step(m, { kind: 'batch', batch: batch(calls, failures, { at: now, ...o }) }, now, s);
}

const tick = (m: MachineState, now: number, s = SETTINGS) => step(m, { kind: 'tick' }, now, s);
const probe = (m: MachineState, now: number, ok: boolean, latencyMs = 50, error?: string, s = SETTINGS) =>
  step(m, { kind: 'probe', result: { at: now, ok, latencyMs, ...(error ? { error } : {}) } }, now, s);

/** A machine tripped open at `now` by consecutive failures. */
function tripped(now = T0, s = SETTINGS): MachineState {
  const m = send(fresh(), now, s.consecutiveFailures, s.consecutiveFailures, {}, s);
  assert.equal(m.state, 'open');
  return m;
}

describe('cooldownFor', () => {
  test('doubles with each trip, starting at cooldownMs, bounded by maxCooldownMs', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 10, 60].map((n) => cooldownFor(n, SETTINGS)),
      [1_000, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000],
    );
  });
});

describe('closed → open', () => {
  test('a fresh machine is closed, with nothing to wait for', () => {
    const m = fresh();
    assert.equal(m.state, 'closed');
    assert.equal(m.trips, 0);
    assert.equal(nextDeadline(m), undefined);
    assert.equal(tripReason(m, SETTINGS, T0), undefined);
  });

  test('error rate trips only once minCalls are in the window', () => {
    const m = fresh();
    // 8 of 9 failed, but the last call succeeded (no run) and 9 < minCalls.
    send(m, T0, 9, 8, { trailing: 0 });
    assert.equal(m.state, 'closed');
    assert.equal(m.consecutiveFailures, 0);
    send(m, T0 + 1_000, 1, 0);
    assert.equal(m.state, 'open');
    assert.match(m.transitions.at(-1)!.reason, /error rate 80% ≥ 50% over 10 calls/);
    assert.equal(m.trips, 1);
    assert.equal(m.since, T0 + 1_000);
    assert.equal(m.retryAt, T0 + 1_000 + SETTINGS.cooldownMs);
  });

  test('error rate exactly at the threshold trips', () => {
    const m = send(fresh(), T0, 10, 5, { trailing: 0 });
    assert.equal(m.state, 'open');
  });

  test('stays closed below every threshold', () => {
    const m = fresh();
    for (let i = 0; i < 20; i++) send(m, T0 + i * 1_000, 10, 4, { slow: 4, trailing: 4 });
    assert.equal(m.state, 'closed');
    assert.equal(m.trips, 0);
    assert.deepEqual(m.transitions, []);
    const p = publish(m, SETTINGS, T0 + 19_000);
    assert.equal(p.window.calls, 200);
    assert.equal(p.window.errorRate, 0.4);
    assert.equal(p.window.slowRate, 0.4);
  });

  test('slow-call rate trips even with no failures', () => {
    const m = fresh();
    send(m, T0, 10, 0, { slow: 4 });
    assert.equal(m.state, 'closed');
    send(m, T0 + 500, 10, 0, { slow: 6 });
    assert.equal(m.state, 'open');
    assert.match(m.transitions.at(-1)!.reason, /slow-call rate 50% ≥ 50% \(> 1000 ms\) over 20 calls/);
  });

  test('slow-call rate also waits for minCalls', () => {
    const m = send(fresh(), T0, 9, 0, { slow: 9 });
    assert.equal(m.state, 'closed');
  });

  test('rates only count calls inside the window', () => {
    const m = fresh();
    send(m, T0, 9, 9, { trailing: 0 });
    // A minute later the old failures have left the window: 1 good call is not enough to trip.
    send(m, T0 + 61_000, 1, 0);
    assert.equal(m.state, 'closed');
    assert.equal(publish(m, SETTINGS, T0 + 61_000).window.calls, 1);
  });

  test('N consecutive failures trip at once, across batches, below minCalls', () => {
    const m = fresh();
    send(m, T0, 2, 2);
    assert.equal(m.consecutiveFailures, 2);
    send(m, T0 + 100, 2, 2);
    assert.equal(m.consecutiveFailures, 4);
    assert.equal(m.state, 'closed');
    send(m, T0 + 200, 1, 1);
    assert.equal(m.consecutiveFailures, 5);
    assert.equal(m.state, 'open');
    assert.equal(m.transitions.at(-1)!.reason, '5 failures in a row');
  });

  test('trailingFailures: an all-failed batch extends the run, otherwise the run restarts at trailingFailures', () => {
    const s = settings({ minCalls: 1_000 }); // keep the rate rules out of it
    const m = fresh();
    send(m, T0, 3, 3, {}, s);
    assert.equal(m.consecutiveFailures, 3);
    // fail, ok, fail, fail: the run ends with 2 failures.
    send(m, T0 + 100, 4, 3, { trailing: 2 }, s);
    assert.equal(m.consecutiveFailures, 2);
    send(m, T0 + 200, 2, 2, {}, s);
    assert.equal(m.consecutiveFailures, 4);
    // failures in the middle but the last call succeeded: the run is broken.
    send(m, T0 + 300, 3, 2, { trailing: 0 }, s);
    assert.equal(m.consecutiveFailures, 0);
    send(m, T0 + 400, 4, 4, {}, s);
    assert.equal(m.consecutiveFailures, 4);
    assert.equal(m.state, 'closed');
    // ok, fail: a run of 1, not 5.
    send(m, T0 + 500, 2, 1, { trailing: 1 }, s);
    assert.equal(m.consecutiveFailures, 1);
    assert.equal(m.state, 'closed');
  });

  test('a batch with no failures breaks the run', () => {
    const m = fresh();
    send(m, T0, 4, 4);
    send(m, T0 + 100, 1, 0);
    assert.equal(m.consecutiveFailures, 0);
    send(m, T0 + 200, 4, 4);
    assert.equal(m.state, 'closed');
  });

  test('a batch stamped in the future counts at `now`', () => {
    const m = fresh();
    step(m, { kind: 'batch', batch: { ...batch(3, 1, { trailing: 0 }), from: T0 + 50_000, to: T0 + 90_000 } }, T0, SETTINGS);
    assert.deepEqual(
      m.buckets.map((b) => [b.start, b.calls]),
      [[T0, 3]],
    );
  });
});

describe('open → half-open', () => {
  test('only after the cooldown: a tick before it leaves the breaker open', () => {
    const m = tripped(T0);
    assert.equal(nextDeadline(m), T0 + 1_000);
    tick(m, T0 + 1);
    tick(m, T0 + 999);
    assert.equal(m.state, 'open');
    tick(m, T0 + 1_000);
    assert.equal(m.state, 'half-open');
    assert.equal(m.since, T0 + 1_000);
    assert.equal(m.retryAt, undefined);
    assert.equal(nextDeadline(m), undefined);
    assert.deepEqual(m.transitions.at(-1), { at: T0 + 1_000, from: 'open', to: 'half-open', reason: 'cooldown elapsed', seq: 2, trips: 1 });
  });

  test('batches and probes while open do not move it, whatever they say', () => {
    const m = tripped(T0);
    send(m, T0 + 100, 50, 0);
    probe(m, T0 + 200, true);
    send(m, T0 + 300, 5, 5);
    probe(m, T0 + 400, false, 0, 'down');
    assert.equal(m.state, 'open');
    assert.equal(m.retryAt, T0 + 1_000, 'cooldown not extended or shortened');
    assert.equal(m.trips, 1);
  });
});

describe('half-open', () => {
  function halfOpen(): MachineState {
    const m = tripped(T0);
    tick(m, T0 + 1_000);
    assert.equal(m.state, 'half-open');
    return m;
  }

  test('closes after halfOpenTrials successful calls, possibly over several batches', () => {
    const m = halfOpen();
    send(m, T0 + 1_100, 2, 0);
    assert.equal(m.state, 'half-open');
    assert.equal(m.halfOpenSuccesses, 2);
    send(m, T0 + 1_200, 1, 0);
    assert.equal(m.state, 'closed');
    assert.equal(m.transitions.at(-1)!.reason, '3 successful trial calls');
    assert.equal(m.consecutiveFailures, 0);
    assert.equal(m.halfOpenSuccesses, 0);
  });

  test('slow trial calls are not successes', () => {
    const m = halfOpen();
    send(m, T0 + 1_100, 3, 0, { slow: 2 });
    assert.equal(m.state, 'half-open');
    assert.equal(m.halfOpenSuccesses, 1);
  });

  test('a passing probe closes it', () => {
    const m = halfOpen();
    probe(m, T0 + 1_050, true, 42.4);
    assert.equal(m.state, 'closed');
    assert.equal(m.transitions.at(-1)!.reason, 'probe passed (42 ms)');
  });

  test('any failed trial reopens it with a doubled cooldown', () => {
    const m = halfOpen();
    send(m, T0 + 1_100, 2, 0, { trailing: 0 });
    send(m, T0 + 1_200, 5, 1, { trailing: 0, byType: { ProviderTimeout: 1 } });
    assert.equal(m.state, 'open');
    assert.equal(m.trips, 2);
    assert.equal(m.retryAt, T0 + 1_200 + 2_000);
    assert.equal(m.transitions.at(-1)!.reason, 'trial call failed (ProviderTimeout)');
    assert.equal(m.halfOpenSuccesses, 0);
  });

  test('a failing probe reopens it with a doubled cooldown', () => {
    const m = halfOpen();
    probe(m, T0 + 1_100, false, 0, 'ECONNREFUSED');
    assert.equal(m.state, 'open');
    assert.equal(m.retryAt, T0 + 1_100 + 2_000);
    assert.equal(m.transitions.at(-1)!.reason, 'probe failed: ECONNREFUSED');
  });

  test('the cooldown keeps doubling on each re-trip and stops at maxCooldownMs', () => {
    const m = tripped(T0);
    let now = T0;
    const cooldowns: number[] = [m.retryAt! - now];
    for (let i = 0; i < 6; i++) {
      now = m.retryAt!;
      tick(m, now);
      assert.equal(m.state, 'half-open');
      now += 10;
      probe(m, now, false);
      assert.equal(m.state, 'open');
      cooldowns.push(m.retryAt! - now);
    }
    assert.deepEqual(cooldowns, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000]);
    assert.equal(m.trips, 7);
  });

  test('after closing, the failures that tripped it do not trip it again', () => {
    // 10 failures fill the window (error rate 100%), then the target recovers.
    const m = send(fresh(), T0, 10, 10);
    assert.equal(m.state, 'open');
    tick(m, T0 + 1_000);
    send(m, T0 + 1_100, 3, 0);
    assert.equal(m.state, 'closed');
    send(m, T0 + 2_000, 1, 0);
    assert.equal(m.state, 'closed', 'stale pre-trip failures must not re-trip a recovered breaker');
    assert.equal(m.trips, 1);
  });
});

describe('a flapping target', () => {
  test('fails every trial: the breaker never leaves open sooner than its growing cooldown', () => {
    const m = fresh();
    const s = SETTINGS;
    const opened: number[] = [];
    const halfOpened: number[] = [];
    let prev: BreakerState = m.state;
    const observe = (now: number) => {
      if (m.state !== prev) {
        if (m.state === 'open') opened.push(now);
        if (m.state === 'half-open') halfOpened.push(now);
        assert.notEqual(m.state, 'closed', 'a target that fails everything never closes');
        prev = m.state;
      }
    };
    // Every 50 ms: a failing batch from some worker; every 170 ms a failing probe; every
    // 30 ms a clock tick (the workflow may wake up at any time). Five minutes of it.
    for (let now = T0; now <= T0 + 300_000; now += 10) {
      if ((now - T0) % 30 === 0) tick(m, now, s);
      observe(now);
      if ((now - T0) % 50 === 0) send(m, now, 2, 2, {}, s);
      observe(now);
      if ((now - T0) % 170 === 0) probe(m, now, false, 0, 'down', s);
      observe(now);
    }
    assert.ok(opened.length >= 30, `many trips (${opened.length})`);
    assert.equal(m.trips, opened.length);
    assert.ok(halfOpened.length === opened.length || halfOpened.length === opened.length - 1);
    for (let i = 0; i < halfOpened.length; i++) {
      const open = halfOpened[i] - opened[i];
      const cooldown = cooldownFor(i + 1, s);
      assert.ok(open >= cooldown, `trip ${i + 1}: open for ${open} ms < cooldown ${cooldown} ms`);
      assert.ok(open < cooldown + 30, `trip ${i + 1}: half-open reached promptly (${open} ms)`);
      // Half-open never lasts: the next failing trial reopens it.
      if (i + 1 < opened.length) assert.ok(opened[i + 1] - halfOpened[i] <= 50);
    }
    // Transitions are spaced by at least the cooldown, which grows then holds at the maximum.
    const spacing = opened.slice(1).map((at, i) => at - opened[i]);
    for (let i = 1; i < spacing.length; i++) assert.ok(spacing[i] >= spacing[i - 1] - 50, `spacing shrank: ${spacing.join(', ')}`);
    assert.ok(spacing.slice(4).every((d) => d >= s.maxCooldownMs && d <= s.maxCooldownMs + 80));
    // No more than one open→half-open per maxCooldownMs once the cooldown is at its maximum.
    assert.ok(opened.length <= 4 + Math.ceil(300_000 / s.maxCooldownMs));
  });
});

describe('forgetting trips', () => {
  function closedAfterOneTrip(at: number): MachineState {
    const m = tripped(at);
    tick(m, at + 1_000);
    probe(m, at + 1_000, true);
    assert.equal(m.state, 'closed');
    assert.equal(m.trips, 1);
    return m;
  }

  test('a full window closed forgets earlier trips, so the cooldown starts small again', () => {
    const m = closedAfterOneTrip(T0);
    const closedAt = m.since;
    tick(m, closedAt + SETTINGS.windowMs - 1);
    assert.equal(m.trips, 1);
    tick(m, closedAt + SETTINGS.windowMs);
    assert.equal(m.trips, 0);
    const now = closedAt + SETTINGS.windowMs + 10;
    send(m, now, 5, 5);
    assert.equal(m.state, 'open');
    assert.equal(m.retryAt, now + SETTINGS.cooldownMs);
  });

  test('a re-trip soon after closing is remembered and gets a doubled cooldown', () => {
    const m = closedAfterOneTrip(T0);
    const now = m.since + 5_000;
    tick(m, now);
    send(m, now, 5, 5);
    assert.equal(m.state, 'open');
    assert.equal(m.trips, 2);
    assert.equal(m.retryAt, now + 2 * SETTINGS.cooldownMs);
  });
});

describe('operator overrides', () => {
  test('force open pins the breaker open: no retryAt, ticks and successes do not move it', () => {
    const m = fresh();
    step(m, { kind: 'override', action: 'open' }, T0, SETTINGS);
    assert.equal(m.state, 'open');
    assert.equal(m.forced, 'open');
    assert.equal(m.retryAt, undefined);
    assert.equal(nextDeadline(m), undefined);
    const p = publish(m, SETTINGS, T0);
    assert.equal(p.forced, 'open');
    assert.equal('retryAt' in p, false);
    assert.equal(m.transitions.at(-1)!.reason, 'operator forced open');
    for (let i = 1; i <= 20; i++) {
      const now = T0 + i * 60_000;
      tick(m, now);
      send(m, now, 100, 0);
      probe(m, now, true);
    }
    assert.equal(m.state, 'open');
    assert.equal(m.forced, 'open');
    assert.equal(m.transitions.length, 1);
  });

  test('force open of an automatically open breaker drops its retryAt', () => {
    const m = tripped(T0);
    assert.notEqual(m.retryAt, undefined);
    step(m, { kind: 'override', action: 'open' }, T0 + 10, SETTINGS);
    assert.equal(m.retryAt, undefined);
    tick(m, T0 + 100_000);
    assert.equal(m.state, 'open');
  });

  test('force close pins the breaker closed: failures do not trip it', () => {
    const m = tripped(T0);
    step(m, { kind: 'override', action: 'close' }, T0 + 10, SETTINGS);
    assert.equal(m.state, 'closed');
    assert.equal(m.forced, 'close');
    assert.equal(m.retryAt, undefined);
    const before = publish(m, SETTINGS, T0 + 10).window.failures;
    for (let i = 1; i <= 20; i++) {
      const now = T0 + i * 1_000;
      send(m, now, 20, 20, { slow: 20 });
      probe(m, now, false, 0, 'down');
      tick(m, now);
    }
    assert.equal(m.state, 'closed');
    assert.equal(m.forced, 'close');
    assert.equal(publish(m, SETTINGS, T0 + 20_000).forced, 'close');
    // The window still records what happened (for the operator's eyes).
    assert.equal(publish(m, SETTINGS, T0 + 20_000).window.failures, before + 400);
    assert.equal(m.probe.healthy, false);
  });

  test('reset clears window, run and trips and returns to automatic operation', () => {
    const m = tripped(T0);
    step(m, { kind: 'override', action: 'open' }, T0 + 10, SETTINGS);
    send(m, T0 + 20, 7, 7);
    step(m, { kind: 'override', action: 'reset' }, T0 + 30, SETTINGS);
    assert.equal(m.state, 'closed');
    assert.equal(m.forced, undefined);
    assert.equal(m.trips, 0);
    assert.equal(m.consecutiveFailures, 0);
    assert.deepEqual(m.buckets, []);
    assert.equal(m.retryAt, undefined);
    const p = publish(m, SETTINGS, T0 + 30);
    assert.equal('forced' in p, false);
    assert.equal(p.window.calls, 0);
    assert.equal(m.transitions.at(-1)!.reason, 'operator reset');
    // Automatic again: failures trip it with the first cooldown.
    send(m, T0 + 40, 5, 5);
    assert.equal(m.state, 'open');
    assert.equal(m.retryAt, T0 + 40 + SETTINGS.cooldownMs);
  });

  test('reset of a forced-closed breaker lets failures trip it again', () => {
    const m = fresh();
    step(m, { kind: 'override', action: 'close' }, T0, SETTINGS);
    send(m, T0 + 10, 10, 10);
    assert.equal(m.state, 'closed');
    step(m, { kind: 'override', action: 'reset' }, T0 + 20, SETTINGS);
    assert.equal(m.state, 'closed');
    assert.equal(m.forced, undefined);
    assert.equal(publish(m, SETTINGS, T0 + 20).window.calls, 0);
    send(m, T0 + 30, 5, 5);
    assert.equal(m.state, 'open');
  });
});

describe('transitions', () => {
  test('are recorded newest last and bounded to 20', () => {
    const m = tripped(T0);
    let now = T0;
    for (let i = 0; i < 30; i++) {
      now = m.retryAt!;
      tick(m, now);
      now += 1;
      probe(m, now, false, 0, `e${i}`);
    }
    assert.equal(m.transitions.length, 20);
    const last = m.transitions.at(-1)!;
    assert.deepEqual(last, { at: now, from: 'half-open', to: 'open', reason: 'probe failed: e29', seq: 61, trips: 31 });
    assert.ok(
      m.transitions.every((t, i) => i === 0 || t.seq === m.transitions[i - 1].seq! + 1),
      'numbered in order, none skipped',
    );
    assert.ok(m.transitions.every((t, i) => i === 0 || t.at >= m.transitions[i - 1].at));
    assert.deepEqual(publish(m, SETTINGS, now).transitions, m.transitions);
  });
});

describe('publish', () => {
  test('window rates, consecutive failures and retryAt', () => {
    const m = fresh();
    send(m, T0, 10, 3, { slow: 2, trailing: 1, totalMs: 2_500 });
    const p = publish(m, SETTINGS, T0 + 100);
    assert.equal(p.target, 't1');
    assert.equal(p.state, 'closed');
    assert.deepEqual(p.window, { calls: 10, failures: 3, slow: 2, errorRate: 0.3, slowRate: 0.2, meanMs: 250 });
    assert.equal(p.consecutiveFailures, 1);
    assert.equal('retryAt' in p, false);
    assert.equal(p.trips, 0);
    send(m, T0 + 200, 4, 4);
    const q = publish(m, SETTINGS, T0 + 200);
    assert.equal(q.state, 'open');
    assert.equal(q.retryAt, T0 + 200 + SETTINGS.cooldownMs);
    assert.equal(q.since, T0 + 200);
    assert.equal(q.trips, 1);
  });

  test('the window ages with `now`', () => {
    const m = send(fresh(), T0, 4, 1, { trailing: 0 });
    assert.equal(publish(m, SETTINGS, T0 + 59_999).window.calls, 4);
    assert.equal(publish(m, SETTINGS, T0 + 61_000).window.calls, 0);
  });

  test('probe: EWMA of passing probes, p50/p95 of recent samples, failures recorded', () => {
    const m = fresh();
    assert.deepEqual(publish(m, SETTINGS, T0).probe, {
      healthy: true,
      lastAt: undefined,
      lastError: undefined,
      latencyEwmaMs: undefined,
      p50Ms: undefined,
      p95Ms: undefined,
    });
    probe(m, T0, true, 100);
    assert.equal(m.probe.latencyEwmaMs, 100);
    probe(m, T0 + 1, true, 200);
    assert.ok(Math.abs(m.probe.latencyEwmaMs! - 130) < 1e-9); // 0.3 × 200 + 0.7 × 100
    probe(m, T0 + 2, false, 5_000, 'HTTP 503');
    let p = publish(m, SETTINGS, T0 + 2).probe;
    assert.equal(p.healthy, false);
    assert.equal(p.lastAt, T0 + 2);
    assert.equal(p.lastError, 'HTTP 503');
    assert.ok(Math.abs(p.latencyEwmaMs! - 130) < 1e-9, 'a failing probe leaves the EWMA alone');
    assert.equal(m.probe.samples.length, 2, 'a failing probe adds no sample');
    probe(m, T0 + 3, true, 100);
    p = publish(m, SETTINGS, T0 + 3).probe;
    assert.equal(p.healthy, true);
    assert.equal(p.lastError, undefined);
  });

  test('probe percentiles over the last 50 samples', () => {
    const m = fresh();
    for (let i = 0; i < 60; i++) probe(m, T0 + i, true, i);
    assert.equal(m.probe.samples.length, 50);
    const p = publish(m, SETTINGS, T0 + 60).probe;
    // Samples 10..59: p50 = sorted[25] = 35, p95 = sorted[47] = 57.
    assert.equal(p.p50Ms, 35);
    assert.equal(p.p95Ms, 57);
  });

  test('percentiles sort the samples (arrival order does not matter)', () => {
    const m = fresh();
    for (const ms of [90, 10, 50, 30, 70, 20, 100, 40, 80, 60]) probe(m, T0, true, ms);
    const p = publish(m, SETTINGS, T0).probe;
    assert.equal(p.p50Ms, 60);
    assert.equal(p.p95Ms, 100);
  });
});

describe('carry (continue-as-new)', () => {
  test('the state survives a JSON round trip and behaves the same afterwards', () => {
    const a = tripped(T0);
    send(a, T0 + 10, 3, 1, { trailing: 0 });
    probe(a, T0 + 20, false, 0, 'down');
    const b = JSON.parse(JSON.stringify(a)) as MachineState;
    for (const m of [a, b]) {
      tick(m, T0 + 1_000);
      send(m, T0 + 1_100, 3, 0);
    }
    assert.equal(b.state, 'closed');
    assert.deepEqual(publish(b, SETTINGS, T0 + 1_200), publish(a, SETTINGS, T0 + 1_200));
  });
});

/*
 * Issue 11: reaction time at the default settings, simulated with the real batcher (one flush a
 * second, as `routing.flushIntervalMs` defaults to) feeding the real machine, on a simulated clock.
 */
describe('reaction time (issue 11)', () => {
  const DEFAULTS = BreakerSettingsSchema.parse({});
  const HEALTHY_MS = 300_000;

  interface Phase {
    ms: number;
    perSecond: number;
    /** Share of calls that fail and that are slow: spread evenly, or placed by `random` if given. */
    fail?: number;
    slow?: number;
    random?: () => number;
  }

  /** A seeded generator (mulberry32), so "random" traffic is the same on every run. */
  function seeded(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  /** Evenly spread: call i of a phase is picked if it crosses the next multiple of 1/share. */
  const spread = (i: number, share: number) => Math.floor((i + 1) * share) > Math.floor(i * share);

  /**
   * Runs the phases back to back from T0 (calls evenly spaced, one flush per second). Returns when
   * the breaker first opened, in ms since the start of the last phase, and why.
   */
  async function simulate(phases: Phase[], s: BreakerSettings = DEFAULTS, m = initialState('t1', T0)) {
    const batches: OutcomeBatch[] = [];
    const batcher = new OutcomeBatcher(
      'w1',
      () => s.slowCallMs,
      async (_t, b) => void batches.push(structuredClone(b)),
    );
    let start = T0;
    let lastStart = T0;
    for (const p of phases) {
      lastStart = start;
      const gap = 1_000 / p.perSecond;
      let i = 0;
      for (let second = 0; second < p.ms / 1_000; second++) {
        const end = start + (second + 1) * 1_000;
        for (; start + i * gap < end; i++) {
          const failed = p.random ? p.random() < (p.fail ?? 0) : spread(i, p.fail ?? 0);
          const slow = p.random ? p.random() < (p.slow ?? 0) : spread(i, p.slow ?? 0);
          const outcome = failed ? FailureType.ServerError : 'ok';
          const durationMs = slow ? s.slowCallMs + 1_000 : 200;
          batcher.record({ target: 't1', model: 'm', outcome, durationMs, streaming: false }, start + i * gap);
        }
        await batcher.flush();
        for (const b of batches.splice(0)) step(m, { kind: 'batch', batch: b }, end, s);
        step(m, { kind: 'tick' }, end, s);
        const opened = m.transitions.find((t) => t.to === 'open');
        if (opened) return { afterMs: opened.at - lastStart, reason: opened.reason, m };
      }
      start += p.ms;
    }
    return { afterMs: undefined, reason: undefined, m };
  }

  const healthy: Phase = { ms: HEALTHY_MS, perSecond: 40 };

  test('the defaults are the ones the issue measured', () => {
    const d = DEFAULTS;
    assert.deepEqual(
      [d.windowMs, d.bucketMs, d.minCalls, d.errorRateThreshold, d.slowCallRateThreshold, d.consecutiveFailures],
      [300_000, 5_000, 10, 0.3, 0.5, 5],
    );
    assert.equal(DEFAULTS.fastWindowMs, 10_000);
  });

  test('a latency brownout at 40 req/s after 5 min of healthy traffic trips within 12 s', async () => {
    const r = await simulate([healthy, { ms: 60_000, perSecond: 40, slow: 1 }]);
    assert.ok(r.afterMs !== undefined && r.afterMs <= 12_000, `tripped after ${r.afterMs} ms`);
    assert.match(r.reason!, /slow-call rate/);
  });

  test('a brownout that fails some calls and slows others (neither rule alone) trips on the two together', async () => {
    // 30% failed and 45% slow, independently: each below its own threshold's confidence bound.
    const random = seeded(5);
    const r = await simulate([healthy, { ms: 60_000, perSecond: 20, fail: 0.3, slow: 0.45, random }]);
    assert.ok(r.afterMs !== undefined && r.afterMs <= 15_000, `tripped after ${r.afterMs} ms`);
    assert.match(r.reason!, /failed-or-slow rate/);
  });

  test('40% errors at 40 req/s after 5 min of healthy traffic trip within 15 s', async () => {
    const r = await simulate([healthy, { ms: 60_000, perSecond: 40, fail: 0.4 }]);
    assert.ok(r.afterMs !== undefined && r.afterMs <= 15_000, `tripped after ${r.afterMs} ms`);
    assert.match(r.reason!, /error rate/);
  });

  test('40% errors at 40 req/s, randomly placed, trip within 15 s too', async () => {
    const random = seeded(11);
    const r = await simulate([
      { ...healthy, fail: 0.02, random },
      { ms: 60_000, perSecond: 40, fail: 0.4, random },
    ]);
    assert.ok(r.afterMs !== undefined && r.afterMs <= 15_000, `tripped after ${r.afterMs} ms`);
  });

  test('40% errors at 2 req/s (too few calls for the fast window to be sure) still trip via the long window', async () => {
    const r = await simulate([
      { ms: HEALTHY_MS, perSecond: 2 },
      { ms: DEFAULTS.windowMs, perSecond: 2, fail: 0.4 },
    ]);
    assert.ok(r.afterMs !== undefined && r.afterMs <= DEFAULTS.windowMs, `tripped after ${r.afterMs} ms`);
    assert.match(r.reason!, /^error rate \d+% ≥ 30% over \d+ calls$/);
  });

  for (const perSecond of [0.5, 1, 2, 5, 40]) {
    test(`steady 5% errors at ${perSecond} req/s never trip over 10 minutes (even, then randomly placed)`, async () => {
      const even = await simulate([{ ms: 600_000, perSecond, fail: 0.05 }]);
      assert.equal(even.reason, undefined);
      const random = await simulate([{ ms: 600_000, perSecond, fail: 0.05, random: seeded(perSecond * 1_000) }]);
      assert.equal(random.reason, undefined);
      assert.ok(
        random.m.buckets.some((b) => b.failures > 0),
        'the traffic did carry failures',
      );
    });
  }

  /** 40 calls: 16 ok, 8 failures in a row, 16 ok: 20% errors, no trailing run. */
  const burst = (): OutcomeBatch => ({ ...batch(40, 8, { trailing: 0 }), maxFailureRun: 8, leadingFailures: 0 });

  test('a run of failures inside one batch trips the consecutive rule', () => {
    const m = step(fresh(), { kind: 'batch', batch: burst() }, T0, DEFAULTS);
    assert.equal(m.state, 'open');
    assert.equal(m.transitions.at(-1)!.reason, '8 failures in a row');
  });

  test('the issue’s batch, through the real batcher: failures alternating with successes around a run of 8', async () => {
    // ok,x,ok,x,ok, x×8, ok,x,ok,x,ok,x,ok: 20 calls, 13 failures, no trailing run.
    const seq = [...'oxoxo', ...'xxxxxxxx', ...'oxoxoxo'];
    const sent: OutcomeBatch[] = [];
    const batcher = new OutcomeBatcher(
      'w1',
      () => 5_000,
      async (_t, b) => void sent.push(structuredClone(b)),
    );
    seq.forEach((c, i) => {
      const outcome = c === 'x' ? FailureType.ServerError : 'ok';
      batcher.record({ target: 't1', model: 'm', outcome, durationMs: 100, streaming: false }, T0 + i);
    });
    await batcher.flush();
    assert.deepEqual([sent.length, sent[0].calls, sent[0].failures, sent[0].trailingFailures], [1, 20, 13, 0]);
    const s = { ...DEFAULTS, errorRateThreshold: 1 }; // only the consecutive rule may trip
    const m = step(fresh(), { kind: 'batch', batch: sent[0] }, T0 + 1_000, s);
    assert.equal(m.state, 'open');
    assert.equal(m.transitions.at(-1)!.reason, '8 failures in a row');
  });

  test('a run across two batches (trailing, then leading failures) trips the consecutive rule', () => {
    const m = fresh();
    step(m, { kind: 'batch', batch: { ...batch(20, 3, { trailing: 3 }), maxFailureRun: 3, leadingFailures: 0 } }, T0, DEFAULTS);
    assert.equal(m.state, 'closed');
    step(m, { kind: 'batch', batch: { ...batch(20, 2, { trailing: 0 }), maxFailureRun: 2, leadingFailures: 2 } }, T0 + 1_000, DEFAULTS);
    assert.equal(m.state, 'open');
    assert.equal(m.transitions.at(-1)!.reason, '5 failures in a row');
  });

  test('a batch without the run fields behaves as before: only trailingFailures count', () => {
    const m = step(fresh(), { kind: 'batch', batch: batch(40, 8, { trailing: 0 }) }, T0, DEFAULTS);
    assert.equal(m.state, 'closed');
    assert.equal(m.consecutiveFailures, 0);
  });

  test('a state carried from an old run (no fast-window buckets) loads, and the fast window then works', async () => {
    const old = JSON.parse(JSON.stringify(fresh())) as Record<string, unknown>;
    delete old.fastBuckets;
    const carried = JSON.parse(JSON.stringify(old)) as MachineState;
    step(carried, { kind: 'tick' }, T0, DEFAULTS);
    assert.equal(publish(carried, DEFAULTS, T0).state, 'closed');
    const r = await simulate(
      [
        { ms: 60_000, perSecond: 40 },
        { ms: 60_000, perSecond: 40, slow: 1 },
      ],
      DEFAULTS,
      carried,
    );
    assert.ok(r.afterMs !== undefined && r.afterMs <= 12_000, `tripped after ${r.afterMs} ms`);
  });

  test('settingsForRun: an upgraded run gets the fast window (default if its input predates it), a legacy run never', () => {
    const { fastWindowMs: _absent, ...old } = DEFAULTS;
    assert.equal(settingsForRun(old as BreakerSettings, true).fastWindowMs, DEFAULT_FAST_WINDOW_MS);
    assert.equal(settingsForRun({ ...DEFAULTS, fastWindowMs: 0 }, true).fastWindowMs, 0);
    assert.equal(settingsForRun({ ...DEFAULTS, fastWindowMs: 4_000 }, true).fastWindowMs, 4_000);
    assert.equal('fastWindowMs' in settingsForRun(DEFAULTS, false), false);
  });

  test('fastWindowMs 0 turns the fast window off', async () => {
    const r = await simulate(
      [
        { ms: 60_000, perSecond: 40 },
        { ms: 20_000, perSecond: 40, slow: 1 },
      ],
      { ...DEFAULTS, fastWindowMs: 0 },
    );
    assert.equal(r.reason, undefined);
  });

  test('settings recorded before the fast window existed keep the old rules (replay-safe)', async () => {
    const { fastWindowMs: _absent, ...legacy } = DEFAULTS;
    const r = await simulate([healthy, { ms: 300_000, perSecond: 40, slow: 1 }], legacy as BreakerSettings);
    // The measurement: the 5-minute window alone needs about 150 s.
    assert.ok(r.afterMs !== undefined && r.afterMs > 100_000 && r.afterMs < 200_000, `tripped after ${r.afterMs} ms`);
    const m = step(fresh(), { kind: 'batch', batch: burst() }, T0, legacy as BreakerSettings);
    assert.equal(m.state, 'closed', 'a legacy run ignores the run fields too');
  });
});
