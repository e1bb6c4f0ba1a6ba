/** Every activity the worker registers, built from its dependencies. */
import { createProviderActivities, type ProviderActivityDeps } from './provider-call';
import { createRoutingActivities, type RoutingStateSource } from './routing';
import { createProbeActivities } from './probe';
import { createCallbackActivities } from './callback';

export interface ActivityDeps extends ProviderActivityDeps {
  routingState?: RoutingStateSource;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createProviderActivities(deps),
    ...createRoutingActivities({ config: deps.config, state: deps.routingState }),
    ...createProbeActivities({ config: deps.config, env: deps.env }),
    ...createCallbackActivities({ config: deps.config, env: deps.env }),
  };
}

export type { StreamSink, CallOutcome, CallHooks } from './provider-call';
