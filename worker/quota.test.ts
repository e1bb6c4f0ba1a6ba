/**
 * Per-target quota: token buckets refilled over time (time passed explicitly), this worker's
 * share of the limits, and Retry-After cool-downs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TargetConfigSchema, type TargetConfig } from '../config/schema';
import { QuotaTracker, TokenBucket } from './quota';

const T0 = 1_700_000_000_000;

function targetConfig(id: string, limits: TargetConfig['limits']): TargetConfig {
  return TargetConfigSchema.parse({ id, kind: 'openai', baseUrl: 'http://127.0.0.1:18081/v1', models: [{ id: 'gpt-4o' }], limits });
}

const near = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} ≈ ${expected}`);

describe('TokenBucket', () => {
  test('starts full', () => {
    const b = new TokenBucket(60, T0);
    assert.equal(b.available(T0), 60);
  });

  test('refills continuously at perMinute', () => {
    const b = new TokenBucket(60, T0);
    b.take(60, T0);
    assert.equal(b.available(T0), 0);
    near(b.available(T0 + 1_000), 1);
    near(b.available(T0 + 30_000), 30);
    near(b.available(T0 + 59_000), 59);
  });

  test('holds at most one minute’s worth', () => {
    const b = new TokenBucket(60, T0);
    assert.equal(b.available(T0 + 3_600_000), 60);
    b.take(10, T0 + 3_600_000);
    near(b.available(T0 + 3_600_000 + 5_000), 55);
    assert.equal(b.available(T0 + 7_200_000), 60);
  });

  test('taking more than is left goes negative and must be paid back before use', () => {
    const b = new TokenBucket(600, T0);
    b.take(900, T0);
    near(b.available(T0), -300);
    near(b.available(T0 + 30_000), 0); // 300 back after half a minute
    near(b.available(T0 + 40_000), 100);
  });

  test('take refills first, so time between takes is credited', () => {
    const b = new TokenBucket(60, T0);
    b.take(60, T0);
    b.take(5, T0 + 10_000); // 10 refilled, 5 taken
    near(b.available(T0 + 10_000), 5);
  });
});

describe('QuotaTracker', () => {
  const targets = [
    targetConfig('both', { requestsPerMinute: 100, tokensPerMinute: 10_000 }),
    targetConfig('requests-only', { requestsPerMinute: 60 }),
    targetConfig('unlimited', {}),
  ];

  test('buckets are this worker’s share of each limit', () => {
    const q = new QuotaTracker(targets, 0.5, T0);
    assert.deepEqual(q.left('both', T0), { requests: 50, tokens: 5_000 });
    assert.deepEqual(q.left('requests-only', T0), { requests: 30 });
    const full = new QuotaTracker(targets, 1, T0);
    assert.deepEqual(full.left('both', T0), { requests: 100, tokens: 10_000 });
  });

  test('new limits from a live reload: buckets rescale keeping their fraction, a new limit starts full, a removed one is gone', () => {
    const q = new QuotaTracker(targets, 0.5, T0);
    q.take('both', 5_000, T0);
    q.setTargets(
      [
        targetConfig('both', { requestsPerMinute: 200 }),
        targetConfig('requests-only', {}),
        targetConfig('unlimited', { requestsPerMinute: 10 }),
      ],
      T0,
    );
    assert.deepEqual(q.left('both', T0), { requests: 98 }, '49 of 50 left is 98 of 100; the token limit is gone');
    assert.deepEqual(q.left('requests-only', T0), {});
    assert.deepEqual(q.left('unlimited', T0), { requests: 5 });
    q.setShare(1, T0);
    assert.deepEqual(q.left('unlimited', T0), { requests: 10 }, 'a later share change scales the new limits');
  });

  test('no limits, or an unknown target: nothing to report, taking is a no-op', () => {
    const q = new QuotaTracker(targets, 1, T0);
    assert.deepEqual(q.left('unlimited', T0), {});
    assert.deepEqual(q.left('nope', T0), {});
    q.take('unlimited', 1_000, T0);
    q.take('nope', 1_000, T0);
    assert.deepEqual(q.left('unlimited', T0), {});
  });

  test('take spends one request and the tokens; left floors and refills at the shared rate', () => {
    const q = new QuotaTracker(targets, 0.5, T0);
    q.take('both', 1_234, T0);
    q.take('both', 1_000, T0);
    assert.deepEqual(q.left('both', T0), { requests: 48, tokens: 2_766 });
    // Share 0.5 of 100 req/min = 50/min: in 1.2 s, 1 request comes back; 5000 tok/min → 100 tokens.
    assert.deepEqual(q.left('both', T0 + 1_200), { requests: 49, tokens: 2_866 });
    assert.deepEqual(q.left('both', T0 + 600), { requests: 48, tokens: 2_816 }, 'fractional refill is floored');
  });

  test('requests-only target ignores tokens', () => {
    const q = new QuotaTracker(targets, 1, T0);
    q.take('requests-only', 1_000_000, T0);
    assert.deepEqual(q.left('requests-only', T0), { requests: 59 });
  });

  test('running dry then recovering', () => {
    const q = new QuotaTracker([targetConfig('small', { requestsPerMinute: 2 })], 1, T0);
    q.take('small', 0, T0);
    q.take('small', 0, T0);
    assert.deepEqual(q.left('small', T0), { requests: 0 });
    assert.deepEqual(q.left('small', T0 + 29_999), { requests: 0 });
    assert.deepEqual(q.left('small', T0 + 30_000), { requests: 1 });
    assert.deepEqual(q.left('small', T0 + 600_000), { requests: 2 });
  });

  test('cool-down lasts the Retry-After, then expires', () => {
    const q = new QuotaTracker(targets, 1, T0);
    assert.equal(q.coolDownUntil('both', T0), undefined);
    q.coolDownFor('both', 5, T0);
    assert.equal(q.coolDownUntil('both', T0), T0 + 5_000);
    assert.equal(q.coolDownUntil('both', T0 + 4_999), T0 + 5_000);
    assert.equal(q.coolDownUntil('both', T0 + 5_000), undefined);
    assert.equal(q.coolDownUntil('requests-only', T0), undefined, 'per target');
  });

  test('overlapping cool-downs: the later end wins, a shorter one never shortens it', () => {
    const q = new QuotaTracker(targets, 1, T0);
    q.coolDownFor('both', 10, T0);
    q.coolDownFor('both', 2, T0 + 1_000);
    assert.equal(q.coolDownUntil('both', T0 + 1_000), T0 + 10_000);
    q.coolDownFor('both', 30, T0 + 2_000);
    assert.equal(q.coolDownUntil('both', T0 + 2_000), T0 + 32_000);
    // After expiry a new cool-down starts from its own time.
    q.coolDownFor('both', 1, T0 + 40_000);
    assert.equal(q.coolDownUntil('both', T0 + 40_000), T0 + 41_000);
  });

  test('fractional Retry-After seconds', () => {
    const q = new QuotaTracker(targets, 1, T0);
    q.coolDownFor('unlimited', 0.25, T0);
    assert.equal(q.coolDownUntil('unlimited', T0), T0 + 250);
  });
});

describe('refunds', () => {
  test('tokens reserved and not used go back, never above a full bucket', () => {
    const q = new QuotaTracker([targetConfig('t', { tokensPerMinute: 1_000 })], 1, T0);
    q.take('t', 900, T0);
    assert.equal(q.left('t', T0).tokens, 100);
    q.refund('t', 850, T0);
    assert.equal(q.left('t', T0).tokens, 950);
    q.refund('t', 500, T0);
    assert.equal(q.left('t', T0).tokens, 1_000);
    q.refund('t', -5, T0);
    assert.equal(q.left('t', T0).tokens, 1_000, 'a negative refund (more used than reserved) takes nothing');
  });

  test('a new share rescales every bucket, keeping the fraction left (the live workers changed)', () => {
    const q = new QuotaTracker([targetConfig('t', { requestsPerMinute: 100, tokensPerMinute: 10_000 })], 1, T0);
    q.take('t', 5_000, T0);
    q.setShare(0.5, T0);
    assert.equal(q.share, 0.5);
    assert.deepEqual(q.left('t', T0), { requests: 49, tokens: 2_500 }, 'half the bucket, the same fraction spent');
    assert.deepEqual(q.left('t', T0 + 6_000), { requests: 50, tokens: 3_000 }, 'refilled at the new rate, never above the new bucket');
    q.setShare(1, T0 + 6_000);
    assert.deepEqual(q.left('t', T0 + 6_000), { requests: 100, tokens: 6_000 });
    q.setShare(1, T0 + 6_000);
    assert.equal(q.share, 1);
  });
});
