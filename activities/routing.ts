/**
 * Routing state for the request workflow: read through a local activity, or by the API process
 * that hosts the worker and puts it in the workflow's input (one local activity less per request).
 * Either way it is trimmed to what the request's plan can use (workflows/snapshot.ts).
 */
import type { GatewayConfig } from '../config/schema';
import type { AiRequest } from '../contracts/request';
import type { RoutingSnapshot, TargetInfo } from '../contracts/routing';
import { trimSnapshot } from '../workflows/snapshot';
import type { RoutingActivities } from './types';

/** The live part of a target in the snapshot. */
export type TargetOverlay = Partial<
  Pick<TargetInfo, 'breaker' | 'healthy' | 'latencyMs' | 'callLatencyMs' | 'ttftMs' | 'coolDownUntil' | 'quota' | 'modelHealth'>
>;

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

/**
 * Why: a local activity runs inside its workflow task; one longer than 80% of the task timeout
 * makes the worker heartbeat the task (3 events and a round trip each time), and a worker too
 * loaded to do so in time has the task time out and the provider call made again. Calls known to
 * take longer than this (real LLM answers take seconds) run as regular activities instead.
 */
export const LOCAL_CALL_MAX_MS = 1_000;

/** What reading the routing snapshot needs. */
export interface SnapshotDeps {
  config: GatewayConfig;
  /** The config in force now (config/live.ts), read per snapshot; default: `config`. */
  live?: () => GatewayConfig;
  state?: RoutingStateSource;
  /** Makes the state's breaker views fresh enough to route on (re-read after a quiet spell). */
  fresh?: () => Promise<void>;
  now?: () => number;
}

/** Reads the snapshot; for `request`, trimmed to what its plan can use. */
export function createSnapshotReader(
  deps: SnapshotDeps,
): (request?: Pick<AiRequest, 'model' | 'routing' | 'rag'>) => Promise<RoutingSnapshot> {
  let base = staticTargets(deps.config);
  let derivedFrom = deps.config;
  const now = deps.now ?? Date.now;
  return async (request) => {
    const config = deps.live?.() ?? deps.config;
    if (config !== derivedFrom) {
      base = staticTargets(config);
      derivedFrom = config;
    }
    await deps.fresh?.();
    const full: RoutingSnapshot = {
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
        localCallMaxMs: LOCAL_CALL_MAX_MS,
        retry: { ...config.retry },
      },
      takenAt: now(),
    };
    return request ? trimSnapshot(full, request) : full;
  };
}

export function createRoutingActivities(deps: SnapshotDeps): RoutingActivities {
  const read = createSnapshotReader(deps);
  return {
    async getRoutingSnapshot(request) {
      return read(request);
    },
  };
}
