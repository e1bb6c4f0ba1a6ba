/**
 * The routing snapshot as one request's decision uses it, pure: only the targets and models it
 * may reach (the requested model, its equivalents, its degradation chain), the tiers and chain
 * that name them, and retrieval settings only when it retrieves. The plan made from the trimmed
 * snapshot is the plan made from the whole one (workflows/snapshot.test.ts); what goes into
 * history is what the decision used.
 */
import type { AiRequest } from '../contracts/request';
import type { RoutingSnapshot } from '../contracts/routing';
import { chainFor, degradationAllowed } from './degrade';
import { equivalentModels, tierOf } from './selector';

/** The request fields the plan depends on (the messages only for needs, not for the trim). */
type Routed = Pick<AiRequest, 'model' | 'routing' | 'rag'>;

/** Every model the request may be answered by, and the tier and chain entries that say so. */
function reach(request: Routed, s: RoutingSnapshot): { models: Set<string>; tiers: Set<string>; chainKey?: string } {
  const models = new Set(equivalentModels(request.model, s.tiers, request.routing?.pinModel));
  const tiers = new Set<string>();
  const own = s.tiers[request.model] ? request.model : tierOf(request.model, s.tiers);
  if (own) tiers.add(own);
  let chainKey: string | undefined;
  if (degradationAllowed(request as AiRequest, s)) {
    const chains = s.degradation?.chains ?? {};
    chainKey = chains[request.model] ? request.model : own && chains[own] ? own : undefined;
    for (const m of chainFor(request.model, s)) {
      // A step pins its model; a step naming a tier is served by the tier's models.
      if (s.tiers[m]) tiers.add(m);
      for (const x of equivalentModels(m, s.tiers, true)) models.add(x);
    }
  }
  return { models, tiers, ...(chainKey ? { chainKey } : {}) };
}

/** `s` without what `request`'s plan cannot use. */
export function trimSnapshot(s: RoutingSnapshot, request: Routed): RoutingSnapshot {
  const { models, tiers, chainKey } = reach(request, s);
  const targets = s.targets.map((t) => ({ ...t, models: t.models.filter((m) => models.has(m.id)) })).filter((t) => t.models.length > 0);
  const { rag, degradation, ...rest } = s;
  return {
    ...rest,
    targets,
    tiers: Object.fromEntries(Object.entries(s.tiers).filter(([name]) => tiers.has(name))),
    ...(degradation ? { degradation: { chains: chainKey ? { [chainKey]: degradation.chains[chainKey] } : {} } } : {}),
    ...(rag && request.rag ? { rag } : {}),
  };
}
