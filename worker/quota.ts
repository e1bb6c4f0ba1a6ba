/** Per-target request and token buckets in this worker, and Retry-After cool-downs. */
import type { TargetConfig } from '../config/schema';

/** A token bucket refilled continuously at `perMinute`, holding at most one minute's worth. */
export class TokenBucket {
  private level: number;
  private at: number;

  constructor(
    public perMinute: number,
    now: number,
  ) {
    this.level = perMinute;
    this.at = now;
  }

  private refill(now: number): void {
    this.level = Math.min(this.perMinute, this.level + ((now - this.at) * this.perMinute) / 60_000);
    this.at = now;
  }

  available(now: number): number {
    this.refill(now);
    return this.level;
  }

  take(n: number, now: number): void {
    this.refill(now);
    this.level -= n;
  }

  /**
   * A new rate (this worker's share changed): the level keeps its fraction of the bucket, so a
   * worker that spent half its old share has half its new one left, and a full bucket stays full.
   */
  rescale(perMinute: number, now: number): void {
    this.refill(now);
    this.level = this.perMinute > 0 ? (this.level * perMinute) / this.perMinute : perMinute;
    this.perMinute = perMinute;
  }

  /** Gives back `n` taken earlier and not used (never above a full bucket). */
  give(n: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.perMinute, this.level + n);
  }
}

export class QuotaTracker {
  private requests = new Map<string, TokenBucket>();
  private tokens = new Map<string, TokenBucket>();
  private coolDown = new Map<string, number>();
  /** When cool-downs were last cleared: shared ones reported before it are forgotten too (worker/routing-state.ts). */
  clearedAt = 0;
  private current: number;

  constructor(
    private targets: readonly TargetConfig[],
    share: number,
    now = Date.now(),
  ) {
    this.current = share;
    for (const t of targets) {
      if (t.limits.requestsPerMinute) this.requests.set(t.id, new TokenBucket(t.limits.requestsPerMinute * share, now));
      if (t.limits.tokensPerMinute) this.tokens.set(t.id, new TokenBucket(t.limits.tokensPerMinute * share, now));
    }
  }

  /** This worker's share of every target's limits. */
  get share(): number {
    return this.current;
  }

  /** Changes this worker's share (worker/quota-share.ts: the live workers changed). */
  setShare(share: number, now = Date.now()): void {
    if (share === this.current) return;
    this.current = share;
    for (const t of this.targets) {
      if (t.limits.requestsPerMinute) this.requests.get(t.id)?.rescale(t.limits.requestsPerMinute * share, now);
      if (t.limits.tokensPerMinute) this.tokens.get(t.id)?.rescale(t.limits.tokensPerMinute * share, now);
    }
  }

  /** New limits (a live config reload): buckets rescale keeping their fraction; a new limit starts full. */
  setTargets(targets: readonly TargetConfig[], now = Date.now()): void {
    this.targets = targets;
    for (const t of targets) {
      const share = this.current;
      const pairs: Array<[Map<string, TokenBucket>, number | undefined]> = [
        [this.requests, t.limits.requestsPerMinute],
        [this.tokens, t.limits.tokensPerMinute],
      ];
      for (const [buckets, limit] of pairs) {
        const bucket = buckets.get(t.id);
        if (!limit) buckets.delete(t.id);
        else if (bucket) bucket.rescale(limit * share, now);
        else buckets.set(t.id, new TokenBucket(limit * share, now));
      }
    }
  }

  take(target: string, tokens: number, now = Date.now()): void {
    this.requests.get(target)?.take(1, now);
    this.tokens.get(target)?.take(tokens, now);
  }

  /**
   * Returns tokens reserved for a call and not used. Why: a call reserves its prompt estimate
   * plus its whole answer budget (`max_tokens`); kept, one tenant's generous budgets would empty
   * the bucket every other request is routed by.
   */
  refund(target: string, tokens: number, now = Date.now()): void {
    if (tokens > 0) this.tokens.get(target)?.give(tokens, now);
  }

  left(target: string, now = Date.now()): { requests?: number; tokens?: number } {
    const r = this.requests.get(target)?.available(now);
    const t = this.tokens.get(target)?.available(now);
    return { ...(r !== undefined ? { requests: Math.floor(r) } : {}), ...(t !== undefined ? { tokens: Math.floor(t) } : {}) };
  }

  /** A 429 asked us to stay away; honoured by steering new requests elsewhere until then. */
  coolDownFor(target: string, seconds: number, now = Date.now()): void {
    this.coolDown.set(target, Math.max(this.coolDown.get(target) ?? 0, now + seconds * 1000));
  }

  /** Forgets every cool-down (operator reset, tests). */
  clearCoolDowns(now = Date.now()): void {
    this.coolDown.clear();
    this.clearedAt = now;
  }

  coolDownUntil(target: string, now = Date.now()): number | undefined {
    const until = this.coolDown.get(target);
    return until !== undefined && until > now ? until : undefined;
  }
}
