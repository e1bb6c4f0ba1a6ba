/**
 * The one part of the gateway config a scenario may choose: the routing strategy, so the same
 * drill can be run active-passive (`priority`) and active-active (`weighted`). Everything else
 * (breakers, probes, retries, timeouts, weights) stays at the config the stack runs: a game day
 * proves the default config, it does not tune it.
 */
import { z } from 'zod';
import { StrategySchema } from '../../contracts/request';

/** `gateway:` in a scenario file: only `routing.strategy`, nothing else is overridable. */
export const GatewayOverridesSchema = z.strictObject({
  routing: z.strictObject({
    /** The config's default strategy for this drill (requests may still name their own). */
    strategy: StrategySchema,
  }),
});
/** A validated `gateway:` block. */
export type GatewayOverrides = z.infer<typeof GatewayOverridesSchema>;

/** The hint appended to an unknown key under `gateway`. */
export const NOT_OVERRIDABLE =
  'not overridable: a game day runs at the default config; only gateway.routing.strategy (priority | weighted | latency | cost) may be set';

/** Who chose the routing strategy of a run: the scenario's `gateway:` block, or the config. */
export type StrategySource = 'scenario' | 'config';

/**
 * Merges the overrides into a raw (rewired, not yet parsed) config, in place, and says who chose
 * the strategy. The caller parses the result with `parseConfig`, so the merged config is
 * validated like any other.
 */
export function mergeGatewayOverrides(raw: { routing?: Record<string, unknown> }, overrides: GatewayOverrides | undefined): StrategySource {
  if (!overrides) return 'config';
  raw.routing = { ...raw.routing, strategy: overrides.routing.strategy };
  return 'scenario';
}
