/**
 * `GET /v1/providers` (every target's live state) and the operator's breaker override. Served by
 * every API process: breaker decisions are read from the breaker workflows in Temporal (the same
 * for every process); latency, quota and 429 cool-downs are what THIS process's worker observed,
 * shown only where the process hosts one.
 */
import { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { GatewayConfig } from '../config/schema';
import { breakerSettingsFor } from '../config/schema';
import { ErrorCode } from '../contracts/errors';
import type { BreakerAction, BreakerPublished } from '../contracts/breaker';
import type { TargetTraffic, TrafficView } from '../shared/traffic-view';
import { BreakerView } from '../shared/breaker-view';
import { breakerIdFor, breakerSettings, overrideBreaker, settingsHash } from '../shared/breakers';
import { ApiError } from './errors';

export interface ProvidersDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  /** The config in force now (live reloads applied); default: `config`. */
  live?: () => GatewayConfig;
  /** Live routing state, when this process hosts a worker; else breakers are read from Temporal. */
  routing?: TrafficView;
}

/** Where the breakers' published decisions come from, and what this process observed itself. */
interface ProviderSource {
  breaker(target: string): BreakerPublished | undefined;
  /** Why this process treats the breaker's view as unknown (shared/breaker-view.ts), if it does. */
  stale(target: string): { ageMs: number; why: string } | undefined;
  refreshedAt(): number;
  /** Brings the breaker decisions up to date (at most one Temporal read per refresh interval). */
  fresh(): Promise<void>;
  local?(target: string): TargetTraffic;
}

function sourceOf(deps: ProvidersDeps): ProviderSource {
  const { routing } = deps;
  if (routing) {
    return {
      breaker: (t) => routing.describe(t).view,
      stale: (t) => routing.view.staleness(t),
      refreshedAt: () => routing.view.refreshedAt,
      fresh: async () => undefined,
      local: (t) => routing.describe(t),
    };
  }
  // An API-only process: the breakers' memos, read on demand (an idle API polls nothing).
  const view = new BreakerView(deps.client, deps.config);
  const maxAgeMs = deps.config.routing.refreshIntervalMs;
  return {
    breaker: (t) => view.get(t),
    stale: (t) => view.staleness(t),
    refreshedAt: () => view.refreshedAt,
    fresh: async () => {
      if (Date.now() - view.refreshedAt > maxAgeMs) await view.refresh();
    },
  };
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Per-model breakers as the operator sees them (times as ISO strings, like the target's). */
function modelsView(models: NonNullable<BreakerPublished['models']>) {
  return Object.fromEntries(
    Object.entries(models).map(([id, m]) => [
      id,
      { ...m, since: iso(m.since), retryAt: iso(m.retryAt), transitions: m.transitions.slice(-5).map((x) => ({ ...x, at: iso(x.at) })) },
    ]),
  );
}

/** One target as the operator sees it. */
function providerView(deps: ProvidersDeps, source: ProviderSource, targetId: string) {
  const config = deps.live?.() ?? deps.config;
  const t = config.targets.find((x) => x.id === targetId)!;
  const view = source.breaker(targetId);
  const stale = source.stale(targetId);
  const { latencyMs, coolDownUntil, quota, quotaShare } = source.local?.(targetId) ?? {};
  const settings = breakerSettingsFor(config, targetId);
  return {
    id: t.id,
    kind: t.kind,
    region: t.region,
    priority: t.priority,
    weight: t.weight,
    models: t.models.map((m) => m.id),
    breaker: {
      workflowId: breakerIdFor(deps.config, t.id),
      state: view?.state ?? 'unknown',
      ...(view?.forced ? { forced: view.forced } : {}),
      since: view ? new Date(view.since).toISOString() : undefined,
      retryAt: view?.retryAt ? new Date(view.retryAt).toISOString() : undefined,
      trips: view?.trips ?? 0,
      recentTransitions: (view?.transitions ?? []).slice(-5).map((x) => ({ ...x, at: new Date(x.at).toISOString() })),
      ...(stale ? { unknownBecause: stale.why } : {}),
      /** The settings the breaker runs (its published hash) and those of this process's config in force. */
      settingsHash: view?.settingsHash,
      configuredSettingsHash: settingsHash(breakerSettings(config, t.id)),
      ...(view?.halfOpen ? { halfOpen: view.halfOpen } : {}),
      ...(view?.models ? { models: modelsView(view.models) } : {}),
    },
    window: {
      seconds: settings.windowMs / 1000,
      calls: view?.window.calls ?? 0,
      errorRate: view?.window.errorRate ?? 0,
      slowCallRate: view?.window.slowRate ?? 0,
      consecutiveFailures: view?.consecutiveFailures ?? 0,
    },
    latency: {
      observedEwmaMs: latencyMs !== undefined ? Math.round(latencyMs) : undefined,
      probeEwmaMs: view?.probe.latencyEwmaMs !== undefined ? Math.round(view.probe.latencyEwmaMs) : undefined,
      probeP50Ms: view?.probe.p50Ms !== undefined ? Math.round(view.probe.p50Ms) : undefined,
      probeP95Ms: view?.probe.p95Ms !== undefined ? Math.round(view.probe.p95Ms) : undefined,
    },
    health: {
      healthy: view?.probe.healthy ?? true,
      lastProbeAt: view?.probe.lastAt ? new Date(view.probe.lastAt).toISOString() : undefined,
      lastError: view?.probe.lastError,
    },
    quota: {
      ...quota,
      limits: t.limits,
      share: quotaShare ?? config.routing.quotaShare,
      coolDownUntil: coolDownUntil ? new Date(coolDownUntil).toISOString() : undefined,
    },
    /** Whose latency and quota these are: this process's worker, or none in an API-only process. */
    observedBy: source.local ? 'this-process' : 'none',
  };
}

const ACTIONS: readonly BreakerAction[] = ['open', 'close', 'reset'];

/** The routes; without `routing`, breaker state is read from Temporal. */
export function providersRouter(deps: ProvidersDeps): Router {
  const router = Router();
  const source = sourceOf(deps);
  const known = (id: string) => {
    if (!deps.config.targets.some((t) => t.id === id))
      throw new ApiError(404, ErrorCode.NotFound, `no target "${id}"; known: ${deps.config.targets.map((t) => t.id).join(', ')}`);
  };

  router.get('/', async (_req, res) => {
    await source.fresh();
    res.json({
      data: deps.config.targets.map((t) => providerView(deps, source, t.id)),
      refreshedAt: new Date(source.refreshedAt()).toISOString(),
    });
  });

  router.get('/:id', async (req, res) => {
    known(req.params.id);
    await source.fresh();
    res.json(providerView(deps, source, req.params.id));
  });

  router.post('/:id/breaker', async (req, res) => {
    const id = req.params.id;
    known(id);
    const action = (req.body as { action?: unknown } | undefined)?.action;
    if (typeof action !== 'string' || !ACTIONS.includes(action as BreakerAction)) {
      throw new ApiError(400, ErrorCode.InvalidRequest, `send {"action": "open" | "close" | "reset"}`);
    }
    await overrideBreaker(deps.client, deps.config, deps.taskQueue, id, action as BreakerAction);
    res.status(202).json({ id, action, breakerWorkflowId: breakerIdFor(deps.config, id) });
  });

  return router;
}
