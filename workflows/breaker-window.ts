/**
 * The breaker's sliding time window: outcome counts in fixed buckets, oldest dropped as time
 * moves. Pure and serialisable (it crosses continue-as-new as plain data).
 */

/** One bucket of counts. */
export interface Bucket {
  start: number;
  calls: number;
  failures: number;
  slow: number;
  totalMs: number;
}

export interface WindowTotals {
  calls: number;
  failures: number;
  slow: number;
  errorRate: number;
  slowRate: number;
  meanMs: number;
}

/** A sliding window of `windowMs`, in buckets of `bucketMs`. */
export class SlidingWindow {
  private buckets: Bucket[];

  constructor(
    readonly windowMs: number,
    readonly bucketMs: number,
    buckets: Bucket[] = [],
  ) {
    this.buckets = buckets.map((b) => ({ ...b }));
  }

  /** Adds counts observed at time `at`. Counts older than the window are ignored. */
  add(at: number, counts: { calls: number; failures: number; slow: number; totalMs: number }, now: number): void {
    this.expire(now);
    if (at <= now - this.windowMs) return;
    const start = at - (at % this.bucketMs);
    let bucket = this.buckets.find((b) => b.start === start);
    if (!bucket) {
      bucket = { start, calls: 0, failures: 0, slow: 0, totalMs: 0 };
      this.buckets.push(bucket);
      this.buckets.sort((a, b) => a.start - b.start);
    }
    bucket.calls += counts.calls;
    bucket.failures += counts.failures;
    bucket.slow += counts.slow;
    bucket.totalMs += counts.totalMs;
  }

  /** Drops buckets that ended before the window. */
  expire(now: number): void {
    const oldest = now - this.windowMs;
    this.buckets = this.buckets.filter((b) => b.start + this.bucketMs > oldest);
  }

  /** Totals and rates over the window as of `now`. */
  totals(now: number): WindowTotals {
    this.expire(now);
    const t = this.buckets.reduce(
      (acc, b) => ({
        calls: acc.calls + b.calls,
        failures: acc.failures + b.failures,
        slow: acc.slow + b.slow,
        totalMs: acc.totalMs + b.totalMs,
      }),
      { calls: 0, failures: 0, slow: 0, totalMs: 0 },
    );
    return {
      calls: t.calls,
      failures: t.failures,
      slow: t.slow,
      errorRate: t.calls ? t.failures / t.calls : 0,
      slowRate: t.calls ? t.slow / t.calls : 0,
      meanMs: t.calls ? t.totalMs / t.calls : 0,
    };
  }

  clear(): void {
    this.buckets = [];
  }

  /** Plain data for continue-as-new. */
  toJSON(): Bucket[] {
    return this.buckets.map((b) => ({ ...b }));
  }
}

/**
 * Lower end of the Wilson score interval of a share `k / n` at `z` standard deviations (z = 2.58
 * for 99%): the smallest true rate the sample is still consistent with. 0 for an empty sample.
 */
export function wilsonLowerBound(k: number, n: number, z: number): number {
  if (n <= 0 || k <= 0) return 0;
  const p = k / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return Math.max(0, (centre - spread) / (1 + z2 / n));
}
