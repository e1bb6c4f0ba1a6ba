/**
 * Time limits of one try, pure: what is left of the request's budget, when to hedge a slow
 * buffered call, and how long a stream may take to its first token before the request moves on.
 */
import type { RoutingSnapshot } from '../contracts/routing';

/** Below this much budget no new try starts. */
export const MIN_ATTEMPT_MS = 100;

type Hedge = NonNullable<RoutingSnapshot['policy']['hedge']>;

// #region guide:try-timeout
/** The time limit of the next try, or undefined when the request's budget is spent. */
export function tryTimeout(snapshot: RoutingSnapshot, deadline: number | undefined, now: number): { timeoutMs?: number } | undefined {
  if (deadline === undefined) return {};
  const left = deadline - now;
  if (left < MIN_ATTEMPT_MS) return undefined;
  return { timeoutMs: Math.min(snapshot.policy.callMs, left) };
}
// #endregion guide:try-timeout

/** The hedge rule: the fixed delay, else `latencyMultiple` × what was observed, within minMs..max. */
function hedgeWait(h: Hedge, observedMs: number | undefined, maxMs: number): number | undefined {
  if (h.afterMs !== undefined) return h.afterMs;
  return observedMs === undefined ? undefined : Math.min(maxMs, Math.max(h.minMs, Math.round(observedMs * h.latencyMultiple)));
}

/**
 * How long to wait for a buffered call to `target` before hedging with the next candidate (0: do
 * not hedge): fixed, or a multiple of the target's observed latency, clamped; unknown latency
 * waits the maximum. Never at or beyond the try's own time limit.
 */
export function hedgeDelay(snapshot: RoutingSnapshot, target: string, timeoutMs: number | undefined): number {
  const h = snapshot.policy.hedge;
  if (!h) return 0;
  const t = snapshot.targets.find((x) => x.id === target);
  const delay = hedgeWait(h, t?.callLatencyMs ?? t?.latencyMs, h.maxMs) ?? h.maxMs;
  return delay > 0 && (timeoutMs === undefined || delay < timeoutMs) ? delay : 0;
}

/**
 * Streams: how long to wait for the first token before moving on, when another candidate is left.
 * Before the first token nothing reached the client, so giving up is free; the wait is the hedge
 * rule applied to the target's observed time to first token, never above streamIdleMs.
 */
export function firstTokenLimit(snapshot: RoutingSnapshot, target: string): number | undefined {
  const h = snapshot.policy.hedge;
  if (!h || h.afterMs === 0) return undefined;
  const limit = hedgeWait(h, snapshot.targets.find((x) => x.id === target)?.ttftMs, Infinity);
  return limit === undefined || limit >= snapshot.policy.streamIdleMs ? undefined : limit;
}
