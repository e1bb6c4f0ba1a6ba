/**
 * The breaker's sliding window: bucket placement, expiry as time moves, rates, serialisation.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SlidingWindow, wilsonLowerBound } from './breaker-window';

const WINDOW = 10_000;
const BUCKET = 1_000;
const T0 = 1_700_000_000_000; // a multiple of 1000

const counts = (calls: number, failures = 0, slow = 0, totalMs = 0) => ({ calls, failures, slow, totalMs });

describe('SlidingWindow', () => {
  test('an empty window has zero totals and zero rates (no NaN)', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    assert.deepEqual(w.totals(T0), { calls: 0, failures: 0, slow: 0, errorRate: 0, slowRate: 0, meanMs: 0 });
    assert.deepEqual(w.toJSON(), []);
  });

  test('counts land in the bucket that starts at the bucket boundary at or before `at`', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    w.add(T0 + 1_500, counts(1), T0 + 2_000);
    w.add(T0 + 1_999, counts(2), T0 + 2_000);
    w.add(T0 + 1_000, counts(4), T0 + 2_000);
    assert.deepEqual(w.toJSON(), [{ start: T0 + 1_000, calls: 7, failures: 0, slow: 0, totalMs: 0 }]);
  });

  test('separate buckets stay sorted by start whatever the arrival order', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    const now = T0 + 5_000;
    w.add(T0 + 3_200, counts(1), now);
    w.add(T0 + 1_100, counts(2), now);
    w.add(T0 + 2_900, counts(3), now);
    assert.deepEqual(
      w.toJSON().map((b) => [b.start - T0, b.calls]),
      [
        [1_000, 2],
        [2_000, 3],
        [3_000, 1],
      ],
    );
  });

  test('all four counters add up per bucket', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    w.add(T0, counts(3, 1, 1, 300), T0);
    w.add(T0 + 10, counts(2, 2, 0, 700), T0 + 10);
    assert.deepEqual(w.toJSON(), [{ start: T0, calls: 5, failures: 3, slow: 1, totalMs: 1_000 }]);
  });

  test('rates and meanMs over the whole window', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    const now = T0 + 5_000;
    w.add(T0 + 1_000, counts(4, 1, 2, 400), now);
    w.add(T0 + 4_000, counts(6, 2, 1, 1_600), now);
    const t = w.totals(now);
    assert.equal(t.calls, 10);
    assert.equal(t.failures, 3);
    assert.equal(t.slow, 3);
    assert.equal(t.errorRate, 0.3);
    assert.equal(t.slowRate, 0.3);
    assert.equal(t.meanMs, 200);
  });

  test('a bucket fully older than the window drops out as time moves; a partially overlapping one stays', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    w.add(T0, counts(1), T0); // bucket [T0, T0+1000)
    w.add(T0 + 1_000, counts(10), T0 + 1_000); // bucket [T0+1000, T0+2000)

    // Window (T0+500, T0+10500]: the first bucket still overlaps it.
    assert.equal(w.totals(T0 + 10_500).calls, 11);
    // Window starts exactly where the first bucket ends: it no longer overlaps.
    assert.equal(w.totals(T0 + 11_000).calls, 10);
    assert.deepEqual(
      w.toJSON().map((b) => b.start),
      [T0 + 1_000],
    );
    // Partially overlapping second bucket stays until it ends before the window.
    assert.equal(w.totals(T0 + 11_999).calls, 10);
    assert.equal(w.totals(T0 + 12_000).calls, 0);
    assert.deepEqual(w.toJSON(), []);
  });

  test('expiry happens on add too', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    w.add(T0, counts(1), T0);
    w.add(T0 + 20_000, counts(2), T0 + 20_000);
    assert.deepEqual(
      w.toJSON().map((b) => [b.start, b.calls]),
      [[T0 + 20_000, 2]],
    );
  });

  test('counts observed at or before the window start are ignored', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    const now = T0 + 20_000;
    w.add(now - WINDOW, counts(5, 5), now); // exactly at the edge: outside
    w.add(now - WINDOW - 1_234, counts(5, 5), now);
    assert.deepEqual(w.toJSON(), []);
    w.add(now - WINDOW + 1, counts(1), now); // just inside
    assert.equal(w.totals(now).calls, 1);
  });

  test('clear empties the window', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    w.add(T0, counts(3, 3), T0);
    w.clear();
    assert.equal(w.totals(T0).calls, 0);
    assert.deepEqual(w.toJSON(), []);
  });

  test('toJSON round trip: a window rebuilt from its buckets gives the same totals', () => {
    const w = new SlidingWindow(WINDOW, BUCKET);
    const now = T0 + 3_000;
    w.add(T0 + 100, counts(2, 1, 0, 50), now);
    w.add(T0 + 2_100, counts(3, 0, 3, 900), now);
    const json = JSON.parse(JSON.stringify(w.toJSON()));
    const back = new SlidingWindow(WINDOW, BUCKET, json);
    assert.deepEqual(back.toJSON(), w.toJSON());
    assert.deepEqual(back.totals(now), w.totals(now));
    assert.deepEqual(back.totals(T0 + 11_500), w.totals(T0 + 11_500));
  });

  test('toJSON and the constructor copy: neither side shares bucket objects', () => {
    const input = [{ start: T0, calls: 1, failures: 0, slow: 0, totalMs: 0 }];
    const w = new SlidingWindow(WINDOW, BUCKET, input);
    w.add(T0, counts(1), T0);
    assert.equal(input[0].calls, 1, 'constructor input untouched');
    const out = w.toJSON();
    out[0].calls = 999;
    assert.equal(w.totals(T0).calls, 2, 'toJSON output is a copy');
  });
});

describe('wilsonLowerBound', () => {
  test('known values at z = 2.58 (99%)', () => {
    const z = 2.58;
    // All of n: n / (n + z²).
    assert.ok(Math.abs(wilsonLowerBound(10, 10, z) - 10 / (10 + z * z)) < 1e-12);
    assert.ok(Math.abs(wilsonLowerBound(160, 400, z) - 0.3389) < 1e-3);
    assert.ok(Math.abs(wilsonLowerBound(8, 20, z) - 0.1786) < 1e-3);
    assert.equal(wilsonLowerBound(0, 50, z), 0);
  });

  test('no calls: 0, never NaN', () => {
    assert.equal(wilsonLowerBound(0, 0, 2.58), 0);
  });

  test('below the observed share, and closer to it as the sample grows', () => {
    const bounds = [10, 100, 1_000, 10_000].map((n) => wilsonLowerBound(0.4 * n, n, 2.58));
    for (const b of bounds) assert.ok(b < 0.4);
    for (let i = 1; i < bounds.length; i++) assert.ok(bounds[i] > bounds[i - 1], bounds.join(', '));
    assert.ok(0.4 - bounds.at(-1)! < 0.02);
  });
});
