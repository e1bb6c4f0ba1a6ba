/** Every activity the worker registers, built from its dependencies. */
import type { GatewayConfig } from '../config/schema';
import { createProviderActivities, type ProviderActivityDeps } from './provider-call';
import { createRoutingActivities, type RoutingStateSource } from './routing';
import { createProbeActivities } from './probe';
import { createCallbackActivities } from './callback';
import type { LookupAll } from './outbound-guard';
import { createRetrievalActivities, sharedRagService, type RagService } from './retrieval';

export interface ActivityDeps extends ProviderActivityDeps {
  routingState?: RoutingStateSource;
  /** Makes the routing state's breaker views fresh enough to route on. */
  routingFresh?: () => Promise<void>;
  /** The config in force now (a live reload changes it); the routing snapshot reads it per request. */
  liveConfig?: () => GatewayConfig;
  /** Retrieval's indexes and embedder (default: the process's shared service over `rag.dataDir`, opened on first use). */
  rag?: RagService;
  /** DNS resolution of callback hosts (default: the system's; tests inject a rebinding one). */
  callbackLookup?: LookupAll;
}

export function createActivities(deps: ActivityDeps) {
  const base = deps.config;
  const live = deps.liveConfig;
  // Provider calls read timeouts and retry settings per call; a reload changes only live keys (config/live.ts).
  const provider: ProviderActivityDeps = live ? Object.defineProperty({ ...deps }, 'config', { get: live, enumerable: true }) : deps;
  return {
    ...createProviderActivities(provider),
    ...createRoutingActivities({ config: deps.config, live: deps.liveConfig, state: deps.routingState, fresh: deps.routingFresh }),
    ...createProbeActivities({ config: deps.config, env: deps.env }),
    ...createCallbackActivities({ config: deps.config, env: deps.env, lookup: deps.callbackLookup }),
    ...createRetrievalActivities({ rag: deps.rag ?? (() => sharedRagService(base, deps.env)) }),
  };
}

export type { StreamSink, CallOutcome, CallHooks } from './provider-call';
