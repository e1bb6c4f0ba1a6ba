/**
 * The trace's one definition of a failover: the request moved to another (target, model) after the
 * one it was on failed, was cut, refused a continuation or lost a hedge. Attempts are fed in the
 * order the request workflow records them (a hedged pair: the other call first, the answer last).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { Trace } from './trace';

const A = { target: 'a', model: 'm1' };
const B = { target: 'b', model: 'm2' };
const C = { target: 'c', model: 'm3' };
const ok = { outcome: 'ok', durationMs: 1 };
const failed = (outcome: string) => ({ outcome, error: outcome, durationMs: 1 });
const moves = (t: Trace) => t.switches.map((s) => `${s.from}>${s.to}:${s.reason}@${s.attempt}`);

describe('Trace: what counts as a failover', () => {
  test('the first candidate answers: none', () => {
    const t = new Trace();
    t.begin(A);
    t.record(A, ok);
    assert.equal(t.failovers, 0);
  });

  test('a failure, then the next candidate: one, with its reason and the attempt it leads to', () => {
    const t = new Trace();
    t.begin(A);
    t.record(A, failed('ProviderUnavailable'));
    const s = t.begin(B);
    assert.deepEqual(s, { from: 'a', fromModel: 'm1', to: 'b', toModel: 'm2', reason: 'ProviderUnavailable', attempt: 1 });
    t.record(B, ok);
    assert.equal(t.failovers, 1);
    assert.deepEqual(moves(t), ['a>b:ProviderUnavailable@1']);
  });

  test('a hedge the second call wins: one (the first lost)', () => {
    const t = new Trace();
    t.begin(A);
    t.record(A, failed('Hedged'));
    t.record(B, ok);
    assert.deepEqual(moves(t), ['a>b:Hedged@1']);
  });

  test('a hedge the first call wins, or whose second call fails: none (the request never left)', () => {
    for (const other of ['Hedged', 'ProviderAuth']) {
      const t = new Trace();
      t.begin(A);
      t.record(B, failed(other));
      t.record(A, ok);
      assert.equal(t.failovers, 0, other);
      assert.equal(t.attempts.length, 2);
    }
  });

  test('a hedged pair failing on both sides, then the next candidate: two', () => {
    const t = new Trace();
    t.begin(A);
    t.record(A, failed('ProviderServerError'));
    t.record(B, failed('ProviderAuth'));
    t.begin(C);
    t.record(C, ok);
    assert.deepEqual(moves(t), ['a>b:ProviderServerError@1', 'b>c:ProviderAuth@2']);
  });

  test('stream → buffered on the same pair, or a retry after an interruption: none', () => {
    const t = new Trace();
    t.begin(A);
    t.record(A, failed('ProviderMalformed'));
    assert.equal(t.begin(A), undefined);
    t.record(A, failed('AttemptInterrupted'));
    t.begin(A);
    t.record(A, ok);
    assert.equal(t.failovers, 0);
  });

  test('a cut stream continued elsewhere is one failover; a refusal on the way is another', () => {
    const continued = new Trace();
    continued.begin(A);
    continued.record(A, failed('ProviderStalled'));
    continued.begin(B);
    continued.record(B, ok);
    assert.deepEqual(moves(continued), ['a>b:ProviderStalled@1']);

    const refused = new Trace();
    refused.begin(A);
    refused.record(A, failed('ProviderStalled'));
    refused.begin(B);
    refused.record(B, failed('ContinuationRefused'));
    refused.begin(C);
    refused.record(C, ok);
    assert.deepEqual(moves(refused), ['a>b:ProviderStalled@1', 'b>c:ContinuationRefused@2']);
  });

  test('the final error carries the whole trace, failovers included', () => {
    const t = new Trace();
    t.begin(A);
    t.record(A, failed('ProviderUnavailable'));
    t.begin(B);
    t.record(B, failed('ProviderUnavailable'));
    t.degrade({ kind: 'model', from: 'm1', to: 'm2', reason: 'x' });
    t.degrade({ kind: 'model', from: 'm1', to: 'm2', reason: 'x' });
    const f = t.fail('AllTargetsFailed', 'nothing answered');
    assert.ok(f instanceof ApplicationFailure);
    assert.equal(f.nonRetryable, true);
    const d = f.details?.[0] as ReturnType<Trace['details']>;
    assert.equal(d.failovers, 1);
    assert.equal(d.attempts.length, 2);
    assert.equal(d.degradations.length, 1, 'the same degradation twice is one');
  });
});
