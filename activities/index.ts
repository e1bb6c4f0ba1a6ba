/** Every activity the worker registers, built from its dependencies. */
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
  /** Retrieval's indexes and embedder (default: the process's shared service over `rag.dataDir`, opened on first use). */
  rag?: RagService;
  /** DNS resolution of callback hosts (default: the system's; tests inject a rebinding one). */
  callbackLookup?: LookupAll;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createProviderActivities(deps),
    ...createRoutingActivities({ config: deps.config, state: deps.routingState, fresh: deps.routingFresh }),
    ...createProbeActivities({ config: deps.config, env: deps.env }),
    ...createCallbackActivities({ config: deps.config, env: deps.env, lookup: deps.callbackLookup }),
    ...createRetrievalActivities({ rag: deps.rag ?? (() => sharedRagService(deps.config, deps.env)) }),
  };
}

export type { StreamSink, CallOutcome, CallHooks } from './provider-call';
