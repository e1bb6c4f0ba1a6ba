/**
 * Revision 3 of the breaker's rules, fed by hand: per-model cells, half-open decided by the probe
 * or by trials with a deadline, probe evidence, runs that in-flight notices do not break, shared
 * cool-downs, worker counts and transition numbering. Pure; no Temporal.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BreakerSettings, FailureRuns, ModelCounts, OutcomeBatch, ProbeResult } from '../contracts/breaker';
import {
  initialState,
  nextDeadline,
  probePlan,
  publish,
  settingsForRun,
  step,
  transitionsAfter,
  type MachineState,
  type RunSettings,
} from './breaker-machine';

const T0 = 1_700_000_000_000;

const BASE: BreakerSettings = {
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
  halfOpenTimeoutMs: 5_000,
  publishIntervalMs: 5_000,
};

/** Current rules; `probeEvidence: 'model'` (the probe decides half-open) unless told otherwise. */
const current = (over: Partial<BreakerSettings> = {}): RunSettings =>
  settingsForRun({ ...BASE, probeEvidence: 'model', ...over }, true, true);
const TRIALS = current({ probes: false });
const PROBED = current();

const runs = (failures: number, successes: number, o: Partial<FailureRuns> = {}): FailureRuns => ({
  failures,
  successes,
  trailingFailures: o.trailingFailures ?? (successes ? 0 : failures),
  leadingFailures: o.leadingFailures ?? (successes ? 0 : failures),
  maxFailureRun: o.maxFailureRun ?? failures,
});

const model = (calls: number, failures: number, o: Partial<FailureRuns> = {}): ModelCounts => ({
  calls,
  ...runs(failures, calls - failures, o),
});

/** A batch as the current batcher builds it. */
function batch(
  at: number,
  o: {
    calls?: number;
    target?: FailureRuns;
    models?: Record<string, ModelCounts>;
    slow?: number;
    successes?: number;
    worker?: string;
    coolDownUntil?: number;
    byType?: Record<string, number>;
  } = {},
): OutcomeBatch {
  const models = o.models ?? {};
  const calls = o.calls ?? Object.values(models).reduce((n, m) => n + m.calls, 0);
  const target = o.target ?? runs(0, calls);
  const failures = target.failures + Object.values(models).reduce((n, m) => n + m.failures, 0);
  return {
    worker: o.worker ?? 'w1',
    from: at,
    to: at,
    calls,
    failures,
    slow: o.slow ?? 0,
    trailingFailures: 0,
    leadingFailures: 0,
    maxFailureRun: 0,
    byType: o.byType ?? (failures ? { ProviderServerError: failures } : {}),
    totalMs: calls * 100,
    successes: o.successes ?? calls - failures - (o.slow ?? 0),
    targetRuns: target,
    byModel: models,
    ...(o.coolDownUntil !== undefined ? { coolDownUntil: o.coolDownUntil } : {}),
  };
}

const send = (m: MachineState, at: number, o: Parameters<typeof batch>[1], s: RunSettings = PROBED) =>
  step(m, { kind: 'batch', batch: batch(at, o) }, at, s);
const tick = (m: MachineState, at: number, s: RunSettings = PROBED) => step(m, { kind: 'tick' }, at, s);
const probe = (m: MachineState, at: number, r: Partial<ProbeResult>, s: RunSettings = PROBED, startedAt = at) =>
  step(m, { kind: 'probe', result: { at, ok: true, latencyMs: 20, evidence: 'model', ...r }, startedAt }, at, s);

/** Five connection failures in a row: the target opens. */
function targetOpen(s: RunSettings, at = T0): MachineState {
  const m = send(initialState('t1', at), at, { calls: 5, target: runs(5, 0), byType: { ProviderUnavailable: 5 } }, s);
  assert.equal(m.state, 'open');
  return m;
}

describe('settings of a current run', () => {
  test('revision 3, with the half-open deadline and publication interval defaulted for older inputs', () => {
    const { halfOpenTimeoutMs: _h, publishIntervalMs: _p, ...old } = BASE;
    const s = settingsForRun(old, true, true);
    assert.equal(s.revision, 3);
    assert.equal(s.halfOpenTimeoutMs, 20_000);
    assert.equal(s.publishIntervalMs, 5_000);
    assert.equal(settingsForRun(old, true, false).revision, undefined);
  });
});

describe('per-model cells', () => {
  test('one model failing while another answers opens that model only, and makes a probe of every model due', () => {
    const m = initialState('t1', T0);
    send(m, T0, { models: { 'gpt-4o': model(6, 6), 'gpt-4o-mini': model(6, 0) } });
    assert.equal(m.state, 'closed');
    assert.equal(m.models!['gpt-4o'].state, 'open');
    assert.match(m.models!['gpt-4o'].transitions.at(-1)!.reason, /6 failures in a row/);
    assert.equal(m.models!['gpt-4o-mini'].state, 'closed');
    assert.equal(m.probeDue, true);
    assert.deepEqual(probePlan(m, PROBED, T0), { allModels: true, calls: 1, slowCallMs: 1_000 });
    const view = publish(m, PROBED, T0);
    assert.equal(view.state, 'closed');
    assert.equal(view.models!['gpt-4o'].state, 'open');
    assert.equal(view.models!['gpt-4o-mini'].state, 'closed');
  });

  test('model-scoped failures do not count for the target: a 5xx storm on one model leaves its window clean', () => {
    const m = initialState('t1', T0);
    for (let i = 0; i < 5; i++) send(m, T0 + i * 100, { models: { 'gpt-4o': model(20, 20) } });
    assert.equal(m.state, 'closed');
    assert.equal(m.consecutiveFailures, 0);
    assert.equal(publish(m, PROBED, T0 + 500).window.failures, 0);
    assert.equal(m.models!['gpt-4o'].state, 'open');
  });

  test('connection-level failures open the target, not its models', () => {
    const m = targetOpen(PROBED);
    assert.match(m.transitions.at(-1)!.reason, /5 failures in a row/);
    assert.equal(Object.values(m.models ?? {}).filter((c) => c.state !== 'closed').length, 0);
  });

  test('two models out at once open the target: failures across models', () => {
    const m = initialState('t1', T0);
    send(m, T0, { models: { 'gpt-4o': model(5, 5) } });
    assert.equal(m.state, 'closed');
    send(m, T0 + 100, { models: { 'gpt-4o-mini': model(5, 5) } });
    assert.equal(m.state, 'open');
    assert.equal(m.transitions.at(-1)!.reason, 'failures across models (gpt-4o, gpt-4o-mini out)');
  });

  test('an open model goes half-open after its cooldown; a known-answer probe begun then closes it', () => {
    const m = initialState('t1', T0);
    send(m, T0, { models: { 'gpt-4o': model(5, 5), 'gpt-4o-mini': model(3, 0) } });
    const c = m.models!['gpt-4o'];
    assert.equal(nextDeadline(m, PROBED), c.retryAt);
    tick(m, c.retryAt!);
    assert.equal(c.state, 'half-open');
    assert.equal(nextDeadline(m, PROBED), c.halfOpenUntil);
    assert.deepEqual(probePlan(m, PROBED, c.since), { allModels: true, calls: 3, slowCallMs: 1_000 });
    // A probe begun before the half-open period judges nothing about it.
    probe(m, c.since + 10, { models: [{ model: 'gpt-4o', ok: true, calls: 1, latencyMs: 20 }] }, PROBED, c.since - 1);
    assert.equal(c.state, 'half-open');
    probe(m, c.since + 20, { models: [{ model: 'gpt-4o', ok: true, calls: 3, latencyMs: 20 }] }, PROBED, c.since);
    assert.equal(c.state, 'closed');
    assert.match(c.transitions.at(-1)!.reason, /known-answer probe passed \(3 call\(s\)/);
  });

  test('a failing known-answer probe marks a closed model unhealthy (routers demote it) and reopens a half-open one', () => {
    const m = initialState('t1', T0);
    probe(m, T0, {
      models: [
        { model: 'gpt-4o', ok: false, calls: 1, latencyMs: 20, error: 'gpt-4o failed the known-answer check' },
        { model: 'gpt-4o-mini', ok: true, calls: 1, latencyMs: 20 },
      ],
    });
    assert.equal(m.state, 'closed');
    assert.equal(m.probe.healthy, true);
    const view = publish(m, PROBED, T0);
    assert.equal(view.models!['gpt-4o'].healthy, false);
    assert.equal(view.models!['gpt-4o'].lastError, 'gpt-4o failed the known-answer check');
    assert.equal(view.models!['gpt-4o-mini'].healthy, true);
  });

  test('idle, healthy, closed models are forgotten after a window', () => {
    const m = initialState('t1', T0);
    send(m, T0, { models: { 'gpt-4o-mini': model(3, 0) } });
    tick(m, T0 + 59_999);
    assert.ok(m.models!['gpt-4o-mini']);
    tick(m, T0 + 60_000);
    assert.equal(m.models!['gpt-4o-mini'], undefined);
  });
});

describe('runs of failures', () => {
  test('an in-flight slow notice is no success: it does not end a run (it did under the older rules)', () => {
    const m = initialState('t1', T0);
    send(m, T0, { calls: 4, target: runs(4, 0), byType: { ProviderTimeout: 4 } });
    assert.equal(m.consecutiveFailures, 4);
    // Only a notice of a call still running past the slow bound: one call, slow, no outcome yet.
    send(m, T0 + 1_000, { calls: 1, slow: 1, target: runs(0, 0), successes: 0 });
    assert.equal(m.consecutiveFailures, 4);
    send(m, T0 + 2_000, { calls: 1, target: runs(1, 0), byType: { ProviderTimeout: 1 } });
    assert.equal(m.state, 'open');
    assert.match(m.transitions.at(-1)!.reason, /5 failures in a row/);
  });
});

describe('half-open decided by the probe', () => {
  test('trial-call successes do not close it; a known-answer probe begun in the period does', () => {
    const m = targetOpen(PROBED);
    tick(m, m.retryAt!);
    assert.equal(m.state, 'half-open');
    assert.equal(m.probeDue, true, 'the probe starts at once');
    assert.deepEqual(publish(m, PROBED, m.since).halfOpen, { mode: 'probe', trials: 3, until: m.since + 5_000 });
    send(m, m.since + 10, { calls: 10 });
    assert.equal(m.state, 'half-open');
    probe(m, m.since + 20, { ok: true, models: [{ model: 'gpt-4o', ok: true, calls: 3, latencyMs: 30 }] }, PROBED, m.since);
    assert.equal(m.state, 'closed');
    assert.match(m.transitions.at(-1)!.reason, /^known-answer probe passed \(3 call\(s\) of gpt-4o/);
  });

  test('a probe begun while it was still open judges nothing', () => {
    const m = targetOpen(PROBED);
    const openedAt = m.since;
    tick(m, m.retryAt!);
    probe(m, m.since + 5, { ok: false, error: 'connection refused' }, PROBED, openedAt + 1);
    assert.equal(m.state, 'half-open');
  });

  test('a failing probe reopens it with a longer cooldown; a failed call does too', () => {
    const m = targetOpen(PROBED);
    tick(m, m.retryAt!);
    probe(m, m.since + 5, { ok: false, error: 'gpt-4o: no first token within 1000 ms' }, PROBED, m.since);
    assert.equal(m.state, 'open');
    assert.equal(m.trips, 2);
    tick(m, m.retryAt!);
    send(m, m.since + 5, { calls: 1, target: runs(1, 0), byType: { ProviderUnavailable: 1 } });
    assert.equal(m.state, 'open');
    assert.equal(m.transitions.at(-1)!.reason, 'call failed (ProviderUnavailable)');
  });

  test('no probe result by the deadline: back to open, the trip count unchanged', () => {
    const m = targetOpen(PROBED);
    tick(m, m.retryAt!);
    const until = m.halfOpenUntil!;
    assert.equal(nextDeadline(m, PROBED), until);
    tick(m, until - 1);
    assert.equal(m.state, 'half-open');
    tick(m, until);
    assert.equal(m.state, 'open');
    assert.equal(m.trips, 1);
    assert.equal(m.retryAt, until + 1_000);
    assert.match(m.transitions.at(-1)!.reason, /no decision in 5 s \(no probe result\)/);
  });
});

describe('half-open decided by trials (no model probe)', () => {
  test('successful trials close it; the published mode says trials', () => {
    const m = targetOpen(TRIALS);
    tick(m, m.retryAt!, TRIALS);
    assert.equal(publish(m, TRIALS, m.since).halfOpen?.mode, 'trials');
    send(m, m.since + 10, { calls: 2 }, TRIALS);
    send(m, m.since + 20, { calls: 1 }, TRIALS);
    assert.equal(m.state, 'closed');
    assert.equal(m.transitions.at(-1)!.reason, '3 successful trial calls');
  });

  test('by the deadline: closed after some good trials and no failure, else open again', () => {
    const a = targetOpen(TRIALS);
    tick(a, a.retryAt!, TRIALS);
    send(a, a.since + 10, { calls: 1 }, TRIALS);
    tick(a, a.halfOpenUntil!, TRIALS);
    assert.equal(a.state, 'closed');
    assert.match(a.transitions.at(-1)!.reason, /1 successful trial call\(s\) and no failure in 5 s/);
    const b = targetOpen(TRIALS);
    tick(b, b.retryAt!, TRIALS);
    tick(b, b.halfOpenUntil!, TRIALS);
    assert.equal(b.state, 'open');
    assert.equal(b.trips, 1);
  });
});

describe('probe evidence', () => {
  for (const s of [PROBED, TRIALS, settingsForRun(BASE, true)]) {
    const label = s.revision ? (s.probes ? 'current rules' : 'current rules, trials') : 'older rules';
    test(`${label}: a health endpoint alone cannot close a half-open breaker; a failing one reopens it`, () => {
      const m = targetOpen(current());
      tick(m, m.retryAt!, s);
      probe(m, m.since + 5, { ok: true, evidence: 'health' }, s, m.since);
      assert.equal(m.state, 'half-open');
      probe(m, m.since + 6, { ok: false, evidence: 'health', error: 'health endpoint answered 503' }, s, m.since);
      assert.equal(m.state, 'open');
    });

    test(`${label}: a probe that could judge nothing is unknown: no health change, no transition`, () => {
      const m = targetOpen(current());
      tick(m, m.retryAt!, s);
      const before = m.transitions.length;
      probe(m, m.since + 5, { ok: false, evidence: 'none', error: 'nothing to probe' }, s, m.since);
      assert.equal(m.state, 'half-open');
      assert.equal(m.probe.healthy, true);
      assert.equal(m.transitions.length, before);
    });
  }
});

describe('what a current breaker shares', () => {
  test('a 429 cool-down from any worker is published until it ends (bounded by maxCooldownMs)', () => {
    const m = initialState('t1', T0);
    send(m, T0, { calls: 0, target: runs(0, 0), successes: 0, coolDownUntil: T0 + 30_000 });
    assert.equal(publish(m, PROBED, T0).coolDownUntil, T0 + 8_000, 'capped at maxCooldownMs');
    tick(m, T0 + 8_000);
    assert.equal(publish(m, PROBED, T0 + 8_000).coolDownUntil, undefined);
  });

  test('the workers that sent outcomes within the window (each grants its share of trials)', () => {
    const m = initialState('t1', T0);
    send(m, T0, { calls: 1, worker: 'a' });
    send(m, T0 + 30_000, { calls: 1, worker: 'b' });
    assert.equal(publish(m, PROBED, T0 + 30_000).workers, 2);
    tick(m, T0 + 60_000);
    assert.equal(publish(m, PROBED, T0 + 60_000).workers, 1);
  });

  test('older rules publish none of it, and keep no model cells', () => {
    const s = settingsForRun(BASE, true);
    const m = initialState('t1', T0);
    send(m, T0, { models: { 'gpt-4o': model(6, 6) }, coolDownUntil: T0 + 1_000 }, s);
    assert.equal(m.models, undefined);
    const view = publish(m, s, T0);
    assert.deepEqual([view.models, view.workers, view.coolDownUntil, view.halfOpen], [undefined, undefined, undefined, undefined]);
  });
});

describe('transition numbering (the export)', () => {
  test('every transition, the target’s and its models’, numbered once and in order', () => {
    const m = initialState('t1', T0);
    send(m, T0, { models: { 'gpt-4o': model(5, 5) } });
    send(m, T0 + 10, { models: { 'gpt-4o-mini': model(5, 5) } });
    tick(m, T0 + 2_000);
    const all = transitionsAfter(m, 0);
    assert.deepEqual(
      all.map((t) => [t.seq, t.model, t.from, t.to]),
      [
        [1, 'gpt-4o', 'closed', 'open'],
        [2, 'gpt-4o-mini', 'closed', 'open'],
        [3, undefined, 'closed', 'open'],
        [4, undefined, 'open', 'half-open'],
        [5, 'gpt-4o', 'open', 'half-open'],
        [6, 'gpt-4o-mini', 'open', 'half-open'],
      ],
    );
    assert.deepEqual(
      transitionsAfter(m, 3).map((t) => t.seq),
      [4, 5, 6],
    );
    assert.deepEqual(
      all.map((t) => t.trips),
      [1, 1, 1, 1, 1, 1],
    );
  });

  test('reset forgets the models and the cool-down, and makes a probe due', () => {
    const m = initialState('t1', T0);
    send(m, T0, { models: { 'gpt-4o': model(5, 5) }, coolDownUntil: T0 + 2_000 });
    m.probeDue = false;
    step(m, { kind: 'override', action: 'reset' }, T0 + 1, PROBED);
    assert.deepEqual([m.models, m.coolDownUntil, m.probeDue], [{}, undefined, true]);
  });
});
