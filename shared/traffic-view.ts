/**
 * What an API process may read of a worker's live routing state, when it hosts one: the read-only
 * traffic view `GET /v1/providers` shows. The worker's RoutingState implements it; the API sees
 * only this interface, so `api/` never imports `worker/` (the process boundary, eslint.config.mjs).
 */
import type { RoutingStateSource } from '../activities/routing';
import type { BreakerPublished } from '../contracts/breaker';

/** One target as this process's worker observed it. */
export interface TargetTraffic {
  /** The breaker's published decision, as this worker last read it. */
  view: BreakerPublished | undefined;
  /** Why the view is treated as unknown (shared/breaker-view.ts), if it is. */
  stale: { ageMs: number; why: string } | undefined;
  latencyMs: number | undefined;
  coolDownUntil: number | undefined;
  /** What is left of this worker's share of the target's limits. */
  quota: { requests?: number; tokens?: number };
  /** This worker's share of each limit now (routing.quotaShare, or derived from the live workers). */
  quotaShare?: number;
}

/**
 * The read-only view of a worker's routing state: what `/v1/providers` shows, and the overlay an
 * API hosting the worker puts into a request's routing snapshot (activities/routing.ts).
 */
export interface TrafficView extends RoutingStateSource {
  describe(target: string): TargetTraffic;
  readonly view: {
    staleness(target: string): { ageMs: number; why: string } | undefined;
    readonly refreshedAt: number;
    /** Re-reads the breakers when the view went quiet (shared/breaker-view.ts). */
    fresh(): Promise<void>;
  };
}
