/**
 * Aggregates provider-call outcomes per target and sends each breaker at most one batch per
 * flush interval, so a breaker's signal rate (and history) grows with time, not with traffic.
 */
import type { CallOutcome } from '../activities';
import type { FailureRuns, ModelCounts, OutcomeBatch } from '../contracts/breaker';
import { BREAKER_IGNORED, FailureType, MODEL_SCOPED_FAILURES } from '../contracts/failures';

/** Outcomes that say nothing about the target's health. */
const IGNORED = new Set<string>(BREAKER_IGNORED);
const MODEL_SCOPED = new Set<string>(MODEL_SCOPED_FAILURES);
/** A 429 without Retry-After keeps new requests away this long. */
export const DEFAULT_429_COOLDOWN_S = 5;

type Sender = (target: string, batch: OutcomeBatch) => Promise<void>;

const noRuns = (): FailureRuns => ({ failures: 0, successes: 0, trailingFailures: 0, leadingFailures: 0, maxFailureRun: 0 });

function fail(r: FailureRuns): void {
  r.failures += 1;
  r.trailingFailures += 1;
  if (r.successes === 0) r.leadingFailures += 1;
  r.maxFailureRun = Math.max(r.maxFailureRun, r.trailingFailures);
}

function succeed(r: FailureRuns): void {
  r.successes += 1;
  r.trailingFailures = 0;
}

/** Runs of an older stretch of outcomes followed by a newer one, joined at the seam. */
function joinRuns(older: FailureRuns, newer: FailureRuns): FailureRuns {
  return {
    failures: older.failures + newer.failures,
    successes: older.successes + newer.successes,
    leadingFailures: older.successes > 0 ? older.leadingFailures : older.leadingFailures + newer.leadingFailures,
    trailingFailures: newer.successes > 0 ? newer.trailingFailures : older.trailingFailures + newer.trailingFailures,
    maxFailureRun: Math.max(older.maxFailureRun, newer.maxFailureRun, older.trailingFailures + newer.leadingFailures),
  };
}

/** What is pending for one target. */
interface Pending {
  from: number;
  to: number;
  calls: number;
  failures: number;
  slow: number;
  totalMs: number;
  /** Calls that succeeded within the slow bound (trial successes). */
  quick: number;
  byType: Record<string, number>;
  /** Runs of every counted failure (what breakers on older rules read). */
  all: FailureRuns;
  /** Runs of target-scoped failures. */
  target: FailureRuns;
  models: Record<string, ModelCounts>;
  coolDownUntil?: number;
}

export class OutcomeBatcher {
  private pending = new Map<string, Pending>();
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

  private pendingFor(target: string, now: number): Pending {
    let p = this.pending.get(target);
    if (!p) {
      p = {
        from: now,
        to: now,
        calls: 0,
        failures: 0,
        slow: 0,
        totalMs: 0,
        quick: 0,
        byType: {},
        all: noRuns(),
        target: noRuns(),
        models: {},
      };
      this.pending.set(target, p);
    }
    p.to = now;
    return p;
  }

  record(o: CallOutcome, now = Date.now()): void {
    if (o.inFlight) {
      // Slow so far, neither a success nor a failure yet: runs stay as they are.
      const p = this.pendingFor(o.target, now);
      p.calls += 1;
      p.slow += 1;
      p.totalMs += o.durationMs;
      return;
    }
    if (o.outcome === FailureType.RateLimited) {
      // Not a failure of the target, but every worker should stay away as long as it asked.
      const p = this.pendingFor(o.target, now);
      p.coolDownUntil = Math.max(p.coolDownUntil ?? 0, now + (o.retryAfterS ?? DEFAULT_429_COOLDOWN_S) * 1_000);
      return;
    }
    if (IGNORED.has(o.outcome)) return;
    const p = this.pendingFor(o.target, now);
    const model = (p.models[o.model] ??= { calls: 0, ...noRuns() });
    model.calls += 1;
    // A stream is judged by its first token: a long, healthy answer is not a slow target.
    const slow = o.slowReported || (o.firstTokenMs ?? o.durationMs) > this.slowCallMs(o.target);
    if (!o.slowReported) {
      p.calls += 1;
      p.totalMs += o.durationMs;
      if (slow) p.slow += 1;
    }
    if (o.outcome === 'ok') {
      succeed(p.all);
      succeed(p.target);
      succeed(model);
      if (!slow) p.quick += 1;
    } else {
      p.failures += 1;
      p.byType[o.outcome] = (p.byType[o.outcome] ?? 0) + 1;
      fail(p.all);
      fail(MODEL_SCOPED.has(o.outcome) ? model : p.target);
    }
  }

  private batchOf(p: Pending): OutcomeBatch {
    return {
      worker: this.worker,
      from: p.from,
      to: p.to,
      calls: p.calls,
      failures: p.failures,
      slow: p.slow,
      trailingFailures: p.all.trailingFailures,
      leadingFailures: p.all.leadingFailures,
      maxFailureRun: p.all.maxFailureRun,
      byType: p.byType,
      totalMs: p.totalMs,
      successes: p.quick,
      targetRuns: { ...p.target },
      byModel: structuredClone(p.models),
      ...(p.coolDownUntil !== undefined ? { coolDownUntil: p.coolDownUntil } : {}),
    };
  }

  /** Merges a batch whose send failed back in front of what was recorded since. */
  private mergeBack(target: string, older: Pending): void {
    const newer = this.pending.get(target);
    if (!newer) {
      this.pending.set(target, older);
      return;
    }
    const models: Record<string, ModelCounts> = { ...older.models };
    for (const [id, n] of Object.entries(newer.models)) {
      const o = models[id];
      models[id] = o ? { calls: o.calls + n.calls, ...joinRuns(o, n) } : n;
    }
    const byType = { ...older.byType };
    for (const [type, n] of Object.entries(newer.byType)) byType[type] = (byType[type] ?? 0) + n;
    this.pending.set(target, {
      from: Math.min(older.from, newer.from),
      to: Math.max(older.to, newer.to),
      calls: older.calls + newer.calls,
      failures: older.failures + newer.failures,
      slow: older.slow + newer.slow,
      totalMs: older.totalMs + newer.totalMs,
      quick: older.quick + newer.quick,
      byType,
      all: joinRuns(older.all, newer.all),
      target: joinRuns(older.target, newer.target),
      models,
      ...(older.coolDownUntil !== undefined || newer.coolDownUntil !== undefined
        ? { coolDownUntil: Math.max(older.coolDownUntil ?? 0, newer.coolDownUntil ?? 0) }
        : {}),
    });
  }

  /** Sends what is pending: one signal per target. A failed send is merged back for the next flush. */
  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const batches = [...this.pending.entries()];
    this.pending.clear();
    this.flushing = (async () => {
      await Promise.all(
        batches.map(async ([target, p]) => {
          try {
            await this.send(target, this.batchOf(p));
            this.sent += 1;
          } catch (err) {
            this.onError(err);
            this.mergeBack(target, p);
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
