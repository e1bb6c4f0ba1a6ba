/**
 * Routing strategies: small pure functions, one per strategy, each ordering (target, model)
 * pairs. Randomness is a parameter (the workflow's deterministic random in production).
 */
import type { Strategy } from '../contracts/request';
import type { ModelInfo, TargetInfo } from '../contracts/routing';

/** One routable pair with what the strategies rank on. */
export interface Pair {
  target: TargetInfo;
  model: ModelInfo;
  /** Position of the model in the request's preference list (0 = the model asked for). */
  modelRank: number;
  /** Estimated cost of this request on this pair, USD. */
  costUsd: number;
}

export type StrategyFn = (pairs: Pair[], random: () => number) => Pair[];

const byModelThenPriority = (a: Pair, b: Pair) => a.modelRank - b.modelRank || a.target.priority - b.target.priority;

// #region guide:strategies
/** Active-passive: the preferred model first, then target priority. */
export const priority: StrategyFn = (pairs) => [...pairs].sort(byModelThenPriority);

/** Active-active: a weighted random order (Efraimidis–Spirakis keys), weights from the targets. */
export const weighted: StrategyFn = (pairs, random) =>
  pairs
    .map((p) => ({ p, key: p.target.weight > 0 ? Math.pow(random(), 1 / p.target.weight) : -1 }))
    .sort((a, b) => b.key - a.key || byModelThenPriority(a.p, b.p))
    .map((x) => x.p);

/** Lowest observed latency first; targets never measured come after, by priority. */
export const latency: StrategyFn = (pairs) =>
  [...pairs].sort((a, b) => (a.target.latencyMs ?? Infinity) - (b.target.latencyMs ?? Infinity) || byModelThenPriority(a, b));

/** Cheapest estimated cost first. */
export const cost: StrategyFn = (pairs) => [...pairs].sort((a, b) => a.costUsd - b.costUsd || byModelThenPriority(a, b));
// #endregion guide:strategies

export const STRATEGIES: Record<Strategy, StrategyFn> = { priority, weighted, latency, cost };
