/**
 * The outcome batcher: per-target aggregation, ignored outcomes, slow calls, one send per target
 * per flush, and failed sends merged into the next flush. A fake sender, no Temporal.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CallOutcome } from '../activities';
import type { OutcomeBatch } from '../contracts/breaker';
import { FailureType } from '../contracts/failures';
import { OutcomeBatcher } from './outcome-batcher';

const T0 = 1_700_000_000_000;
const SLOW_MS: Record<string, number> = { t1: 1_000, t2: 5_000 };

interface FakeSender {
  sent: Array<{ target: string; batch: OutcomeBatch }>;
  /** Targets whose next send fails. */
  failNext: Set<string>;
  errors: unknown[];
  batcher: OutcomeBatcher;
}

function setup(): FakeSender {
  const f: FakeSender = { sent: [], failNext: new Set(), errors: [], batcher: undefined as unknown as OutcomeBatcher };
  f.batcher = new OutcomeBatcher(
    'worker-1',
    (target) => SLOW_MS[target] ?? 1_000,
    async (target, batch) => {
      await Promise.resolve();
      if (f.failNext.delete(target)) throw new Error(`signal to ${target} failed`);
      f.sent.push({ target, batch: structuredClone(batch) });
    },
    (err) => f.errors.push(err),
  );
  return f;
}

function outcome(target: string, result: string, durationMs = 100, over: Partial<CallOutcome> = {}): CallOutcome {
  return { target, model: 'm', outcome: result, durationMs, streaming: false, ...over };
}

const sentTo = (f: FakeSender, target: string) => f.sent.filter((s) => s.target === target).map((s) => s.batch);

describe('OutcomeBatcher', () => {
  test('aggregates outcomes per target into one batch each', async () => {
    const f = setup();
    const b = f.batcher;
    b.record(outcome('t1', 'ok', 100), T0);
    b.record(outcome('t2', 'ok', 200), T0 + 5);
    b.record(outcome('t1', FailureType.ServerError, 300), T0 + 10);
    b.record(outcome('t1', FailureType.Timeout, 1_500), T0 + 20);
    b.record(outcome('t1', FailureType.ServerError, 50), T0 + 30);
    await b.flush();
    assert.equal(f.sent.length, 2);
    assert.equal(b.sent, 2);
    assert.deepEqual(sentTo(f, 't1'), [
      {
        worker: 'worker-1',
        from: T0,
        to: T0 + 30,
        calls: 4,
        failures: 3,
        slow: 1,
        trailingFailures: 3,
        leadingFailures: 0,
        maxFailureRun: 3,
        byType: { ProviderServerError: 2, ProviderTimeout: 1 },
        totalMs: 1_950,
        successes: 1,
        // The timeout is the target's; the two 5xx are the model's (a success, a 5xx, a 5xx after the timeout).
        targetRuns: { failures: 1, successes: 1, trailingFailures: 1, leadingFailures: 0, maxFailureRun: 1 },
        byModel: { m: { calls: 4, ...{ failures: 2, successes: 1, trailingFailures: 2, leadingFailures: 0, maxFailureRun: 2 } } },
      },
    ]);
    const noRuns = { trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 };
    const oneSuccess = { failures: 0, successes: 1, trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 };
    assert.deepEqual(sentTo(f, 't2'), [
      {
        worker: 'worker-1',
        from: T0 + 5,
        to: T0 + 5,
        calls: 1,
        failures: 0,
        slow: 0,
        ...noRuns,
        byType: {},
        totalMs: 200,
        successes: 1,
        targetRuns: oneSuccess,
        byModel: { m: { calls: 1, ...oneSuccess } },
      },
    ]);
  });

  test('outcomes that say nothing about the target are ignored', async () => {
    const f = setup();
    for (const o of ['cancelled', FailureType.BadRequest, FailureType.ContentPolicy]) f.batcher.record(outcome('t1', o, 10_000), T0);
    await f.batcher.flush();
    assert.deepEqual(f.sent, []);
    assert.equal(f.batcher.sent, 0);
  });

  test('an ignored outcome neither breaks nor extends a run of failures', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0);
    f.batcher.record(outcome('t1', FailureType.RateLimited), T0 + 1);
    f.batcher.record(outcome('t1', 'cancelled'), T0 + 2);
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + 3);
    await f.batcher.flush();
    const [batch] = sentTo(f, 't1');
    assert.equal(batch.calls, 2);
    assert.equal(batch.trailingFailures, 2);
    assert.deepEqual(batch.byType, { ProviderUnavailable: 2 });
  });

  test('other failure types count as failures', async () => {
    const f = setup();
    const types = [
      FailureType.Unavailable,
      FailureType.Timeout,
      FailureType.ServerError,
      FailureType.Auth,
      FailureType.NotFound,
      FailureType.Malformed,
      FailureType.Stalled,
    ];
    for (const t of types) f.batcher.record(outcome('t1', t), T0);
    await f.batcher.flush();
    const [batch] = sentTo(f, 't1');
    assert.equal(batch.failures, types.length);
    assert.equal(batch.trailingFailures, types.length);
  });

  test('slow calls are counted by duration against the target’s own bound (strictly above it)', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'ok', 1_000), T0); // at the bound: not slow
    f.batcher.record(outcome('t1', 'ok', 1_001), T0);
    f.batcher.record(outcome('t1', FailureType.Timeout, 30_000), T0);
    f.batcher.record(outcome('t2', 'ok', 4_000), T0); // t2's bound is 5 s
    f.batcher.record(outcome('t2', 'ok', 6_000), T0);
    await f.batcher.flush();
    assert.equal(sentTo(f, 't1')[0].slow, 2);
    assert.equal(sentTo(f, 't2')[0].slow, 1);
  });

  test('a call reported slow while in flight is counted once', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'slow', 1_200, { inFlight: true }), T0);
    f.batcher.record(outcome('t1', 'ok', 4_000, { slowReported: true }), T0 + 2_800);
    await f.batcher.flush();
    const [batch] = sentTo(f, 't1');
    assert.equal(batch.calls, 1);
    assert.equal(batch.slow, 1);
    assert.equal(batch.failures, 0);
    assert.equal(batch.totalMs, 1_200);
    assert.equal(batch.to, T0 + 2_800);
  });

  test('a slow call that then fails: one call, one slow, one failure', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'slow', 1_100, { inFlight: true }), T0);
    f.batcher.record(outcome('t1', FailureType.Timeout, 30_000, { slowReported: true }), T0 + 29_000);
    await f.batcher.flush();
    const [batch] = sentTo(f, 't1');
    assert.deepEqual([batch.calls, batch.slow, batch.failures, batch.trailingFailures], [1, 1, 1, 1]);
  });

  test('an in-flight notice counts even if the call is later cancelled', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'slow', 1_100, { inFlight: true }), T0);
    f.batcher.record(outcome('t1', 'cancelled', 2_000, { slowReported: true }), T0 + 900);
    await f.batcher.flush();
    const [batch] = sentTo(f, 't1');
    assert.deepEqual([batch.calls, batch.slow, batch.failures], [1, 1, 0]);
  });

  test('trailingFailures: failures at the end of the batch, reset by a success', async () => {
    const cases: Array<[string[], number]> = [
      [['ok', 'x', 'x'], 2],
      [['x', 'x', 'ok'], 0],
      [['x', 'ok', 'x'], 1],
      [['x', 'x', 'x'], 3],
      [['ok'], 0],
    ];
    for (const [seq, trailing] of cases) {
      const f = setup();
      seq.forEach((r, i) => f.batcher.record(outcome('t1', r === 'ok' ? 'ok' : FailureType.ServerError), T0 + i));
      await f.batcher.flush();
      assert.equal(sentTo(f, 't1')[0].trailingFailures, trailing, seq.join(','));
    }
  });

  test('maxFailureRun and leadingFailures: the longest run inside the batch, and the run it starts with', async () => {
    // [sequence, trailing, leading, longest run]
    const cases: Array<[string, number, number, number]> = [
      ['oxx', 2, 0, 2],
      ['xxo', 0, 2, 2],
      ['xox', 1, 1, 1],
      ['xxx', 3, 3, 3],
      ['o', 0, 0, 0],
      ['xoxxxxoxx', 2, 1, 4],
      // The batch: alternating failures around a run of 8.
      ['oxoxoxxxxxxxxoxoxoxo', 0, 0, 8],
    ];
    for (const [seq, trailing, leading, run] of cases) {
      const f = setup();
      [...seq].forEach((r, i) => f.batcher.record(outcome('t1', r === 'o' ? 'ok' : FailureType.ServerError), T0 + i));
      await f.batcher.flush();
      const [b] = sentTo(f, 't1');
      assert.deepEqual([b.trailingFailures, b.leadingFailures, b.maxFailureRun], [trailing, leading, run], seq);
    }
  });

  test('ignored outcomes and in-flight notices neither break nor extend the runs', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', FailureType.ServerError), T0);
    f.batcher.record(outcome('t1', 'cancelled'), T0 + 1);
    f.batcher.record(outcome('t1', 'x', 2_000, { inFlight: true }), T0 + 2);
    f.batcher.record(outcome('t1', FailureType.ServerError), T0 + 3);
    f.batcher.record(outcome('t1', 'ok'), T0 + 4);
    await f.batcher.flush();
    const [b] = sentTo(f, 't1');
    assert.deepEqual([b.leadingFailures, b.maxFailureRun, b.trailingFailures], [2, 2, 0]);
  });

  test('a merged-back failed batch joins its trailing run to the leading run of the newer outcomes', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'ok'), T0);
    for (let i = 1; i <= 3; i++) f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + i);
    f.failNext.add('t1');
    await f.batcher.flush();
    for (let i = 0; i < 2; i++) f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + 100 + i);
    f.batcher.record(outcome('t1', 'ok'), T0 + 102);
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + 103);
    await f.batcher.flush();
    const [b] = sentTo(f, 't1');
    // ok, x, x, x | x, x, ok, x
    assert.deepEqual([b.calls, b.failures, b.leadingFailures, b.maxFailureRun, b.trailingFailures], [8, 6, 0, 5, 1]);
  });

  test('a merged-back batch of failures only extends the newer leading run', async () => {
    const f = setup();
    for (let i = 0; i < 2; i++) f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + i);
    f.failNext.add('t1');
    await f.batcher.flush();
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + 100);
    f.batcher.record(outcome('t1', 'ok'), T0 + 101);
    await f.batcher.flush();
    const [b] = sentTo(f, 't1');
    // x, x | x, ok
    assert.deepEqual([b.leadingFailures, b.maxFailureRun, b.trailingFailures], [3, 3, 0]);
  });

  test('one send per target per flush, whatever the traffic', async () => {
    const f = setup();
    for (let i = 0; i < 1_000; i++) f.batcher.record(outcome(i % 2 ? 't1' : 't2', i % 7 ? 'ok' : FailureType.ServerError), T0 + i);
    await f.batcher.flush();
    assert.deepEqual(f.sent.map((s) => s.target).sort(), ['t1', 't2']);
    assert.equal(sentTo(f, 't1')[0].calls + sentTo(f, 't2')[0].calls, 1_000);
    // The next flush starts from nothing.
    f.batcher.record(outcome('t1', 'ok'), T0 + 2_000);
    await f.batcher.flush();
    assert.equal(f.sent.length, 3);
    const noRuns = { trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 };
    const oneSuccess = { failures: 0, successes: 1, trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 };
    assert.deepEqual(f.sent[2], {
      target: 't1',
      batch: {
        worker: 'worker-1',
        from: T0 + 2_000,
        to: T0 + 2_000,
        calls: 1,
        failures: 0,
        slow: 0,
        ...noRuns,
        byType: {},
        totalMs: 100,
        successes: 1,
        targetRuns: oneSuccess,
        byModel: { m: { calls: 1, ...oneSuccess } },
      },
    });
  });

  test('flush with nothing pending sends nothing', async () => {
    const f = setup();
    await f.batcher.flush();
    assert.deepEqual(f.sent, []);
    f.batcher.record(outcome('t1', 'ok'), T0);
    await f.batcher.flush();
    await f.batcher.flush();
    assert.equal(f.sent.length, 1);
  });

  test('a flush while one is running does not send twice', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'ok'), T0);
    await Promise.all([f.batcher.flush(), f.batcher.flush()]);
    assert.equal(f.sent.length, 1);
  });

  test('a failed send is reported and merged back into the next flush', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'ok', 100), T0);
    f.batcher.record(outcome('t1', FailureType.ServerError, 2_000), T0 + 10);
    f.batcher.record(outcome('t2', 'ok', 100), T0 + 10);
    f.failNext.add('t1');
    await f.batcher.flush();
    assert.deepEqual(
      f.sent.map((s) => s.target),
      ['t2'],
    );
    assert.equal(f.batcher.sent, 1);
    assert.equal(f.errors.length, 1);
    assert.match(String(f.errors[0]), /signal to t1 failed/);

    f.batcher.record(outcome('t1', FailureType.Timeout, 400), T0 + 1_000);
    f.batcher.record(outcome('t1', FailureType.Timeout, 600), T0 + 1_010);
    await f.batcher.flush();
    assert.equal(f.sent.length, 2, 't2 is not sent again');
    assert.deepEqual(f.sent[1], {
      target: 't1',
      batch: {
        worker: 'worker-1',
        from: T0,
        to: T0 + 1_010,
        calls: 4,
        failures: 3,
        slow: 1,
        // The merged-back failure precedes the two new ones: one run of 3.
        trailingFailures: 3,
        leadingFailures: 0,
        maxFailureRun: 3,
        byType: { ProviderServerError: 1, ProviderTimeout: 2 },
        totalMs: 3_100,
        successes: 1,
        // The two timeouts are the target's run; the 5xx is the model's, broken by nothing after it.
        targetRuns: { failures: 2, successes: 1, trailingFailures: 2, leadingFailures: 0, maxFailureRun: 2 },
        byModel: { m: { calls: 4, ...{ failures: 1, successes: 1, trailingFailures: 1, leadingFailures: 0, maxFailureRun: 1 } } },
      },
    });
    assert.equal(f.batcher.sent, 2);
  });

  test('a failed send with nothing new since is resent as it was', async () => {
    const f = setup();
    for (let i = 0; i < 5; i++) f.batcher.record(outcome('t1', FailureType.Unavailable, 10), T0 + i);
    f.failNext.add('t1');
    await f.batcher.flush();
    assert.deepEqual(f.sent, []);
    await f.batcher.flush();
    assert.deepEqual(sentTo(f, 't1'), [
      {
        worker: 'worker-1',
        from: T0,
        to: T0 + 4,
        calls: 5,
        failures: 5,
        slow: 0,
        trailingFailures: 5,
        leadingFailures: 5,
        maxFailureRun: 5,
        byType: { ProviderUnavailable: 5 },
        totalMs: 50,
        successes: 0,
        targetRuns: { failures: 5, successes: 0, trailingFailures: 5, leadingFailures: 5, maxFailureRun: 5 },
        byModel: { m: { calls: 5, ...{ failures: 0, successes: 0, trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 } } },
      },
    ]);
  });

  test('a merged-back failed batch does not extend a run broken by a newer success', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0);
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + 1);
    f.failNext.add('t1');
    await f.batcher.flush();
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + 100);
    f.batcher.record(outcome('t1', 'ok'), T0 + 101);
    f.batcher.record(outcome('t1', FailureType.Unavailable), T0 + 102);
    await f.batcher.flush();
    const [batch] = sentTo(f, 't1');
    assert.equal(batch.calls, 5);
    assert.equal(batch.failures, 4);
    assert.equal(batch.trailingFailures, 1);
  });

  test('outcomes recorded while a send is in flight keep the newest `to` when the send fails', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sent: OutcomeBatch[] = [];
    let calls = 0;
    const b = new OutcomeBatcher(
      'w',
      () => 1_000,
      async (_t, batch) => {
        calls += 1;
        if (calls === 1) {
          await gate;
          throw new Error('boom');
        }
        sent.push(structuredClone(batch));
      },
    );
    b.record(outcome('t1', FailureType.ServerError), T0);
    const first = b.flush();
    b.record(outcome('t1', FailureType.ServerError), T0 + 500); // arrives during the send
    release();
    await first;
    await b.flush();
    assert.equal(sent.length, 1);
    assert.equal(sent[0].from, T0);
    assert.equal(sent[0].to, T0 + 500);
    assert.equal(sent[0].calls, 2);
    assert.equal(sent[0].trailingFailures, 2);
  });

  test('stop flushes what is pending', async () => {
    const f = setup();
    f.batcher.start(60_000);
    f.batcher.record(outcome('t1', 'ok'), T0);
    await f.batcher.stop();
    assert.equal(f.sent.length, 1);
  });

  test('a 429 counts for nothing but carries its cool-down, so every worker stays away (5 s without Retry-After)', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', FailureType.RateLimited, 10, { retryAfterS: 30 }), T0);
    f.batcher.record(outcome('t2', FailureType.RateLimited, 10), T0);
    await f.batcher.flush();
    const [t1] = sentTo(f, 't1');
    assert.deepEqual([t1.calls, t1.failures, t1.successes, t1.coolDownUntil], [0, 0, 0, T0 + 30_000]);
    assert.equal(sentTo(f, 't2')[0].coolDownUntil, T0 + 5_000);
  });

  test('model-scoped failures run per model; connection-level ones run for the target', async () => {
    const f = setup();
    const o = (model: string, result: string) => outcome('t1', result, 100, { model });
    f.batcher.record(o('gpt-4o', FailureType.ServerError), T0);
    f.batcher.record(o('gpt-4o-mini', 'ok'), T0 + 1);
    f.batcher.record(o('gpt-4o', FailureType.NotFound), T0 + 2);
    f.batcher.record(o('gpt-4o', FailureType.BadAnswer), T0 + 3);
    f.batcher.record(o('gpt-4o-mini', FailureType.Unavailable), T0 + 4);
    f.batcher.record(o('gpt-4o', FailureType.Unavailable), T0 + 5);
    await f.batcher.flush();
    const [b] = sentTo(f, 't1');
    // gpt-4o: three model failures in a row (the connection failure after them is the target's).
    assert.deepEqual(b.byModel!['gpt-4o'], {
      calls: 4,
      failures: 3,
      successes: 0,
      trailingFailures: 3,
      leadingFailures: 3,
      maxFailureRun: 3,
    });
    assert.deepEqual(b.byModel!['gpt-4o-mini'], {
      calls: 2,
      failures: 0,
      successes: 1,
      trailingFailures: 0,
      leadingFailures: 0,
      maxFailureRun: 0,
    });
    // The target: a success (gpt-4o-mini) first, then two connection failures in a row.
    assert.deepEqual(b.targetRuns, { failures: 2, successes: 1, trailingFailures: 2, leadingFailures: 0, maxFailureRun: 2 });
    assert.equal(b.failures, 5);
  });

  test('an in-flight notice is neither a success nor a failure; a slow success is no trial success', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', 'slow', 1_000, { inFlight: true }), T0);
    await f.batcher.flush();
    assert.deepEqual([sentTo(f, 't1')[0].successes, sentTo(f, 't1')[0].targetRuns!.successes], [0, 0]);
    f.batcher.record(outcome('t1', 'ok', 1_200, { slowReported: true }), T0 + 300);
    await f.batcher.flush();
    const done = sentTo(f, 't1')[1];
    assert.deepEqual([done.calls, done.successes, done.targetRuns!.successes], [0, 0, 1]);
  });

  test('a merged-back batch joins each model’s runs across the seam', async () => {
    const f = setup();
    f.batcher.record(outcome('t1', FailureType.ServerError, 100, { model: 'gpt-4o' }), T0);
    f.failNext.add('t1');
    await f.batcher.flush();
    f.batcher.record(outcome('t1', FailureType.ServerError, 100, { model: 'gpt-4o' }), T0 + 1_000);
    await f.batcher.flush();
    assert.deepEqual(sentTo(f, 't1')[0].byModel!['gpt-4o'], {
      calls: 2,
      failures: 2,
      successes: 0,
      trailingFailures: 2,
      leadingFailures: 2,
      maxFailureRun: 2,
    });
  });
});
