/**
 * Candidate ranking: request + snapshot → ordered (target, model) pairs. Pure and deterministic,
 * so it runs inside the workflow. The dynamic strategies plug in here.
 */
import type { AiRequest } from '../contracts/request';
import type { Candidate, RoutingSnapshot, TargetInfo } from '../contracts/routing';

/** The tier a model belongs to, or undefined. */
export function tierOf(model: string, tiers: Record<string, string[]>): string | undefined {
  return Object.keys(tiers).find((tier) => tiers[tier].includes(model));
}

/** Models that may answer a request for `requested`, best first. */
export function equivalentModels(requested: string, tiers: Record<string, string[]>, pinModel = false): string[] {
  if (tiers[requested]) return [...tiers[requested]];
  if (pinModel) return [requested];
  const tier = tierOf(requested, tiers);
  return tier ? [requested, ...tiers[tier].filter((m) => m !== requested)] : [requested];
}

function byPriority(a: TargetInfo, b: TargetInfo): number {
  return a.priority - b.priority;
}

/**
 * Candidates in order: targets serving the requested model (by priority), then targets serving an
 * equivalent of its tier. A logical tier name expands to its members in tier order.
 */
export function rankCandidates(request: AiRequest, snapshot: RoutingSnapshot): Candidate[] {
  const models = equivalentModels(request.model, snapshot.tiers, request.routing?.pinModel);
  const targets = [...snapshot.targets].sort(byPriority);
  const out: Candidate[] = [];
  models.forEach((model, index) => {
    for (const t of targets) {
      if (t.models.some((m) => m.id === model)) {
        out.push({ target: t.id, model, reason: index === 0 && model === request.model ? 'requested' : 'equivalent' });
      }
    }
  });
  return out;
}
