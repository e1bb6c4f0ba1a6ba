/** Active health probe of one target: its health endpoint (if any) plus a tiny synthetic call. */
import { Context } from '@temporalio/activity';
import type { GatewayConfig } from '../config/schema';
import { healthUrlFor } from '../config/schema';
import type { ProbeResult } from '../contracts/breaker';
import { ADAPTERS, type ProviderAdapter } from './providers';
import type { ProbeActivities } from './types';

const PROBE_TIMEOUT_MS = 5_000;

export function createProbeActivities(deps: { config: GatewayConfig; env?: NodeJS.ProcessEnv; now?: () => number }): ProbeActivities {
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const adapters = new Map<string, ProviderAdapter>();
  return {
    async probeTarget(targetId: string): Promise<ProbeResult> {
      const at = now();
      const t0 = performance.now();
      const target = deps.config.targets.find((t) => t.id === targetId);
      if (!target) return { at, ok: false, latencyMs: 0, error: `target ${targetId} is not configured in this worker` };
      const signal = AbortSignal.any([Context.current().cancellationSignal, AbortSignal.timeout(PROBE_TIMEOUT_MS)]);
      try {
        const health = healthUrlFor(target);
        if (health) {
          const res = await fetch(health, { signal });
          await res.arrayBuffer();
          if (!res.ok) return { at, ok: false, latencyMs: performance.now() - t0, error: `health endpoint answered ${res.status}` };
        }
        if (target.syntheticProbe) {
          let adapter = adapters.get(target.id);
          if (!adapter) {
            adapter = ADAPTERS[target.kind](target, (target.apiKeyEnv && env[target.apiKeyEnv]) || 'mock-key');
            adapters.set(target.id, adapter);
          }
          const model = target.models[target.models.length - 1];
          await adapter.complete({ target, model, signal, request: { model: model.id, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 } });
        }
        return { at, ok: true, latencyMs: performance.now() - t0 };
      } catch (err) {
        const e = err as { message?: string; cause?: { message?: string } };
        return { at, ok: false, latencyMs: performance.now() - t0, error: `${e.message ?? String(err)}${e.cause?.message ? ` (${e.cause.message})` : ''}` };
      }
    },
  };
}
