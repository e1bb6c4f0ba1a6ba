/**
 * Every process's view of the breakers' decisions: it reads each breaker workflow's memo
 * (a describe call, answered by the server without any worker) every refresh interval, so a
 * decision reaches every router within about refresh interval + one workflow task.
 *
 * A view can go stale two ways: this process cannot read it (describe fails), or the breaker
 * stopped publishing (stuck or wedged: its memo's `seq` stops moving although a breaker on the
 * current rules republishes every `publishIntervalMs`). Rule: a view is **unknown** once this
 * process has not read it for STALE_REFRESHES × refreshIntervalMs, or its `seq` has not moved for
 * publishIntervalMs + STALE_REFRESHES × refreshIntervalMs (both measured on this process's clock,
 * so no clock skew enters). `get` then returns nothing and `onStale` fires once per episode.
 */
import type { Client } from '@temporalio/client';
import { breakerSettingsFor, type GatewayConfig } from '../config/schema';
import { BREAKER_MEMO_KEY, type BreakerPublished } from '../contracts/breaker';
import type { BreakerState } from '../contracts/routing';
import { breakerIdFor } from './breakers';

/** Refresh intervals without news after which a view is unknown. */
export const STALE_REFRESHES = 10;

export interface BreakerViewEvents {
  onTransition?: (target: string, from: BreakerState | undefined, to: BreakerState, view: BreakerPublished) => void;
  onMissing?: (target: string) => void;
  onError?: (err: unknown) => void;
  /** A view turned unknown (`ageMs`: since it was last read, or since its seq last moved). */
  onStale?: (target: string, ageMs: number, why: string) => void;
  /** Every successful read (e.g. to compare the breaker's settings hash with this process's). */
  onRead?: (target: string, view: BreakerPublished) => void;
}

interface Entry {
  view: BreakerPublished;
  /** Local time of the last successful read. */
  readAt: number;
  /** Local time the memo's seq was last seen to change (undefined: the breaker publishes none). */
  movedAt?: number;
  stale?: boolean;
}

/**
 * Why: a process that routes nothing needs no view re-read every interval. After QUIET_AFTER_MS
 * without a request asking for a fresh view, reads slow to every QUIET_REFRESH_INTERVALS
 * intervals (the describe calls were most of an idle stack's CPU): one interval short of the
 * STALE_REFRESHES that make a view unknown, so a quiet process never shows its breakers as
 * unknown; the next request re-reads first (`fresh()`), so no request routes on a view older
 * than two intervals plus one read.
 */
export const QUIET_REFRESH_INTERVALS = STALE_REFRESHES - 1;
const QUIET_AFTER_MS = 10_000;
/** A request waits at most this long for that re-read, then routes on what it has. */
const FRESH_WAIT_MS = 250;

export class BreakerView {
  private entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private intervalMs = 500;
  /** When a request last asked for a fresh view (`fresh()`). */
  private usedAt = 0;
  private refreshing: Promise<void> | undefined;
  /** Epoch ms of the last completed refresh. */
  refreshedAt = 0;

  constructor(
    private readonly client: Client,
    private config: GatewayConfig,
    private readonly events: BreakerViewEvents = {},
    private readonly now: () => number = Date.now,
  ) {}

  /** The config in force after a live reload (publish intervals are breaker settings). */
  setConfig(config: GatewayConfig): void {
    this.config = config;
  }

  /** Why the view of `target` is unknown right now, or undefined when it is fresh. */
  staleness(target: string): { ageMs: number; why: string } | undefined {
    const e = this.entries.get(target);
    if (!e) return undefined;
    const refresh = this.config.routing.refreshIntervalMs;
    const now = this.now();
    const unread = now - e.readAt;
    if (unread > STALE_REFRESHES * refresh) return { ageMs: unread, why: `not read for ${unread} ms` };
    if (e.movedAt !== undefined) {
      const still = now - e.movedAt;
      const bound = (breakerSettingsFor(this.config, target).publishIntervalMs ?? 0) + STALE_REFRESHES * refresh;
      if (still > bound) return { ageMs: still, why: `its memo has not moved for ${still} ms (the breaker stopped publishing)` };
    }
    return undefined;
  }

  /** The breaker's published decision, or undefined when none was read or the view is stale. */
  get(target: string): BreakerPublished | undefined {
    const e = this.entries.get(target);
    if (!e) return undefined;
    const stale = this.staleness(target);
    if (stale && !e.stale) this.events.onStale?.(target, stale.ageMs, stale.why);
    e.stale = stale !== undefined;
    return stale ? undefined : e.view;
  }

  /** The last view read, fresh or not (for the operator's eyes). */
  last(target: string): BreakerPublished | undefined {
    return this.entries.get(target)?.view;
  }

  all(): Map<string, BreakerPublished> {
    return new Map([...this.entries].map(([t, e]) => [t, e.view]));
  }

  private async readOne(target: string): Promise<void> {
    try {
      const desc = await this.client.workflow.getHandle(breakerIdFor(this.config, target)).describe();
      const view = desc.memo?.[BREAKER_MEMO_KEY] as BreakerPublished | undefined;
      if (desc.status.name !== 'RUNNING') this.events.onMissing?.(target);
      if (!view) return;
      const now = this.now();
      const prev = this.entries.get(target);
      const movedAt = view.seq === undefined ? undefined : prev?.view.seq === view.seq ? (prev.movedAt ?? now) : now;
      this.entries.set(target, { view, readAt: now, movedAt, stale: prev?.stale });
      if (prev?.view.state !== view.state) this.events.onTransition?.(target, prev?.view.state, view.state, view);
      this.events.onRead?.(target, view);
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') this.events.onMissing?.(target);
      else this.events.onError?.(err);
    }
  }

  /** Reads every breaker once. */
  refresh(): Promise<void> {
    this.refreshing ??= Promise.all(this.config.targets.map((t) => this.readOne(t.id)))
      .then(() => {
        this.refreshedAt = this.now();
        // Staleness is noticed on the clock, not only when a request asks.
        for (const t of this.config.targets) this.get(t.id);
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** For a request about to route: re-reads the view first if it is older than two intervals. */
  async fresh(): Promise<void> {
    this.usedAt = Date.now();
    if (this.now() - this.refreshedAt <= 2 * this.intervalMs) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.refresh(), new Promise((r) => (timer = setTimeout(r, FRESH_WAIT_MS)))]);
    clearTimeout(timer);
  }

  start(intervalMs: number): void {
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => {
      const now = Date.now();
      const quiet = now - this.usedAt > QUIET_AFTER_MS;
      if (quiet && this.now() - this.refreshedAt < (QUIET_REFRESH_INTERVALS - 0.5) * intervalMs) return;
      void this.refresh();
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
