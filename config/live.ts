/**
 * What of the config reloads without a restart, and how a reload is applied. The live keys are
 * read where each request or breaker decision is made (the routing snapshot, quotas, breaker
 * settings); everything else (ports, Temporal address and task queue, the set of targets and
 * their endpoints, models, tiers, auth, RAG, codec) is wired at start-up and needs a restart.
 */
import type { LiveOverlay } from '../contracts/live-config';
import { parseConfig } from './load';
import type { GatewayConfig } from './schema';

/** The live keys of each target; every other target key needs a restart. */
export const LIVE_TARGET_KEYS = ['priority', 'weight', 'limits', 'breaker'] as const;
/** Live sections, whole. */
export const LIVE_SECTIONS = ['breaker', 'timeouts', 'retry', 'degradation'] as const;
/** Live keys of `routing` (the others start timers or watchers at start-up). */
export const LIVE_ROUTING_KEYS = [
  'strategy',
  'allowDegradation',
  'hedgeAfterMs',
  'hedgeMinMs',
  'hedgeMaxMs',
  'hedgeLatencyMultiple',
] as const;

const plain = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** A config as plain JSON, to edit before it is validated again. */
type RawConfig = Record<string, unknown> & { targets: Array<Record<string, unknown>>; routing: Record<string, unknown> };

/** The reloadable part of a validated config. */
export function liveOverlay(config: GatewayConfig): LiveOverlay {
  const routing = Object.fromEntries(LIVE_ROUTING_KEYS.map((k) => [k, config.routing[k]]));
  const targets = Object.fromEntries(
    config.targets.map((t) => [
      t.id,
      { priority: t.priority, weight: t.weight, limits: { ...t.limits }, ...(t.breaker ? { breaker: { ...t.breaker } } : {}) },
    ]),
  );
  return plain({
    targets,
    routing,
    breaker: config.breaker,
    timeouts: config.timeouts,
    retry: config.retry,
    degradation: config.degradation,
  });
}

/** The start-up config with an overlay applied, validated by the start-up schema (throws ConfigError). */
export function applyOverlay(base: GatewayConfig, overlay: LiveOverlay, source = 'live config'): GatewayConfig {
  const raw = plain(base) as unknown as RawConfig;
  raw.targets = raw.targets.map((t) => {
    const o = overlay.targets[t.id as string];
    if (!o) return t;
    const { breaker: _old, ...rest } = t;
    return { ...rest, priority: o.priority, weight: o.weight, limits: o.limits, ...(o.breaker ? { breaker: o.breaker } : {}) };
  });
  raw.routing = {
    ...raw.routing,
    ...Object.fromEntries(LIVE_ROUTING_KEYS.filter((k) => k in overlay.routing).map((k) => [k, overlay.routing[k]])),
  };
  for (const k of LIVE_SECTIONS) raw[k] = overlay[k];
  return parseConfig(raw, source);
}

/** A config with every live key blanked: what must be equal for a reload to need no restart. */
function restartPart(config: GatewayConfig): RawConfig {
  const raw = plain(config) as unknown as RawConfig;
  for (const k of LIVE_SECTIONS) delete raw[k];
  for (const k of LIVE_ROUTING_KEYS) delete raw.routing[k];
  for (const t of raw.targets) for (const k of LIVE_TARGET_KEYS) delete t[k];
  return raw;
}

function diffPaths(a: unknown, b: unknown, path: string, out: string[]): void {
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) {
      out.push(path);
      return;
    }
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    const at = (o: object, k: string) => (o as Record<string, unknown>)[k];
    for (const k of keys) diffPaths(at(a, k), at(b, k), Array.isArray(a) ? `${path}[${k}]` : path ? `${path}.${k}` : k, out);
    return;
  }
  if (a !== b) out.push(path || '(root)');
}

/**
 * The keys of `next` that differ from `running` and only take effect after a restart, e.g.
 * `api.port`, `targets[0].baseUrl (target "openai-us-east-1")`; empty when a reload can apply it.
 */
export function restartOnlyChanges(running: GatewayConfig, next: GatewayConfig): string[] {
  const out: string[] = [];
  diffPaths(restartPart(running), restartPart(next), '', out);
  return out.map((p) => {
    const m = /^targets\[(\d+)\]/.exec(p);
    const id = m ? running.targets[Number(m[1])]?.id : undefined;
    return id && p !== 'targets' ? `${p} (target "${id}")` : p;
  });
}

/** The live keys that differ between two configs (what a reload changed). */
export function liveChanges(running: GatewayConfig, next: GatewayConfig): string[] {
  const out: string[] = [];
  diffPaths(liveOverlay(running), liveOverlay(next), '', out);
  return out;
}

/**
 * A process's config as it is now: the start-up config with the last live overlay applied.
 * Readers call `current` where they decide (per request, per breaker read), never keep a copy.
 */
export class LiveConfig {
  private now: GatewayConfig;
  private seen = 0;
  private listeners: Array<(next: GatewayConfig, prev: GatewayConfig) => void> = [];

  constructor(readonly base: GatewayConfig) {
    this.now = base;
  }

  get current(): GatewayConfig {
    return this.now;
  }

  /** The version of the overlay in force (0: the start-up config). */
  get version(): number {
    return this.seen;
  }

  /** Called after each change, with the new and the previous config. */
  onChange(fn: (next: GatewayConfig, prev: GatewayConfig) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  /** Applies a published overlay unless an equal or newer version is in force; throws ConfigError if it does not validate here. */
  apply(overlay: LiveOverlay, version: number): boolean {
    if (version <= this.seen) return false;
    const next = applyOverlay(this.base, overlay, `live config version ${version}`);
    const prev = this.now;
    this.now = next;
    this.seen = version;
    for (const l of this.listeners) l(next, prev);
    return true;
  }
}
