/**
 * Aggregates provider-call outcomes per target and sends each breaker at most one batch per
 * flush interval, so a breaker's signal rate (and history) grows with time, not with traffic.
 */
import type { CallOutcome } from '../activities';
import type { OutcomeBatch } from '../contracts/breaker';
import { BREAKER_IGNORED } from '../contracts/failures';

/** Outcomes that say nothing about the target's health. */
const IGNORED = new Set<string>(BREAKER_IGNORED);

type Sender = (target: string, batch: OutcomeBatch) => Promise<void>;

export class OutcomeBatcher {
  private pending = new Map<string, OutcomeBatch>();
  /** Pending batches that hold a success (their leading run of failures has ended). */
  private succeeded = new WeakSet<OutcomeBatch>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Batches sent, for the bench and tests. */
  sent = 0;

  constructor(
    private readonly worker: string,
    private readonly slowCallMs: (target: string) => number,
    private readonly send: Sender,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  private batchFor(target: string, now: number): OutcomeBatch {
    let b = this.pending.get(target);
    if (!b) {
      const runs = { trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 };
      b = { worker: this.worker, from: now, to: now, calls: 0, failures: 0, slow: 0, ...runs, byType: {}, totalMs: 0 };
      this.pending.set(target, b);
    }
    b.to = now;
    return b;
  }

  record(o: CallOutcome, now = Date.now()): void {
    if (o.inFlight) {
      const b = this.batchFor(o.target, now);
      b.calls += 1;
      b.slow += 1;
      b.totalMs += o.durationMs;
      return;
    }
    if (IGNORED.has(o.outcome)) return;
    const b = this.batchFor(o.target, now);
    if (!o.slowReported) {
      b.calls += 1;
      b.totalMs += o.durationMs;
      // A stream is judged by its first token: a long, healthy answer is not a slow target.
      if ((o.firstTokenMs ?? o.durationMs) > this.slowCallMs(o.target)) b.slow += 1;
    }
    if (o.outcome === 'ok') {
      b.trailingFailures = 0;
      this.succeeded.add(b);
    } else {
      b.failures += 1;
      b.trailingFailures += 1;
      if (!this.succeeded.has(b)) b.leadingFailures = (b.leadingFailures ?? 0) + 1;
      b.maxFailureRun = Math.max(b.maxFailureRun ?? 0, b.trailingFailures);
      b.byType[o.outcome] = (b.byType[o.outcome] ?? 0) + 1;
    }
  }

  /** Sends what is pending: one signal per target. A failed send is merged back for the next flush. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const batches = [...this.pending.entries()];
    this.pending.clear();
    this.flushing = (async () => {
      await Promise.all(
        batches.map(async ([target, batch]) => {
          try {
            await this.send(target, batch);
            this.sent += 1;
          } catch (err) {
            this.onError(err);
            // The failed batch's outcomes precede any recorded since it was taken.
            const newerTo = this.pending.get(target)?.to;
            const b = this.batchFor(target, batch.to);
            if (newerTo !== undefined) b.to = Math.max(newerTo, batch.to);
            // Runs join across the seam: its trailing run continues into the newer leading one, and its
            // leading run continues through the newer outcomes only if they hold no success.
            const newerSucceeded = this.succeeded.has(b);
            const [older, newer] = [batch.leadingFailures ?? 0, b.leadingFailures ?? 0];
            b.maxFailureRun = Math.max(batch.maxFailureRun ?? 0, b.maxFailureRun ?? 0, batch.trailingFailures + newer);
            b.leadingFailures = this.succeeded.has(batch) ? older : older + newer;
            if (this.succeeded.has(batch)) this.succeeded.add(b);
            if (!newerSucceeded) b.trailingFailures += batch.trailingFailures;
            b.calls += batch.calls;
            b.failures += batch.failures;
            b.slow += batch.slow;
            b.totalMs += batch.totalMs;
            b.from = Math.min(b.from, batch.from);
            for (const [type, n] of Object.entries(batch.byType)) b.byType[type] = (b.byType[type] ?? 0) + n;
          }
        }),
      );
    })().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
