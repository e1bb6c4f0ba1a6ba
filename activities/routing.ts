/** Routing state for the request workflow, read through a local activity. */
import type { GatewayConfig } from '../config/schema';
import type { RoutingSnapshot, TargetInfo } from '../contracts/routing';
import type { RoutingActivities } from './types';

/** The live part of a target in the snapshot. */
export type TargetOverlay = Partial<Pick<TargetInfo, 'breaker' | 'healthy' | 'latencyMs' | 'callLatencyMs' | 'ttftMs' | 'coolDownUntil' | 'quota' | 'modelHealth'>>;

/** Live routing state a worker may know about (filled by breakers and probes). */
export interface RoutingStateSource {
  overlay(targetId: string): TargetOverlay;
}

/** The static part of the snapshot, derived once from the config. */
export function staticTargets(config: GatewayConfig): TargetInfo[] {
  return config.targets.map((t) => ({
    id: t.id,
    kind: t.kind,
    region: t.region,
    priority: t.priority,
    weight: t.weight,
    models: t.models.map((m) => ({ id: m.id, capabilities: { ...m.capabilities }, pricePerMTok: { ...m.pricePerMTok } })),
    breaker: 'closed',
    healthy: true,
  }));
}

export function createRoutingActivities(deps: { config: GatewayConfig; state?: RoutingStateSource; now?: () => number }): RoutingActivities {
  const base = staticTargets(deps.config);
  const { config } = deps;
  const now = deps.now ?? Date.now;
  return {
    async getRoutingSnapshot(): Promise<RoutingSnapshot> {
      return {
        targets: base.map((t) => ({ ...t, ...deps.state?.overlay(t.id) })),
        tiers: config.tiers,
        defaults: { strategy: config.routing.strategy, allowDegradation: config.routing.allowDegradation },
        degradation: { chains: config.degradation.chains },
        rag: { defaultTopK: config.rag.defaultTopK, vectorBudgetMs: config.rag.vectorBudgetMs },
        policy: {
          callMs: config.timeouts.callMs,
          requestMs: config.timeouts.requestMs,
          hedge: {
            ...(config.routing.hedgeAfterMs === 'auto' ? {} : { afterMs: config.routing.hedgeAfterMs }),
            minMs: config.routing.hedgeMinMs,
            maxMs: config.routing.hedgeMaxMs,
            latencyMultiple: config.routing.hedgeLatencyMultiple,
          },
          streamMs: config.timeouts.streamMs,
          streamIdleMs: config.timeouts.streamIdleMs,
          heartbeatMs: config.timeouts.heartbeatMs,
          retry: { ...config.retry },
        },
        takenAt: now(),
      };
    },
  };
}
