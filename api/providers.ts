/** `GET /v1/providers` (every target's live state) and the operator's breaker override. */
import { Router } from 'express';
import type { Client } from '@temporalio/client';
import type { GatewayConfig } from '../config/schema';
import { breakerSettingsFor } from '../config/schema';
import { ErrorCode } from '../contracts/errors';
import type { BreakerAction } from '../contracts/breaker';
import type { RoutingState } from '../worker/routing-state';
import { breakerIdFor, overrideBreaker } from '../worker/breakers';
import { ApiError } from './errors';

export interface ProvidersDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  routing: RoutingState;
}

const ACTIONS: readonly BreakerAction[] = ['open', 'close', 'reset'];

/** One target as the operator sees it. */
export function providerView(deps: ProvidersDeps, targetId: string) {
  const t = deps.config.targets.find((x) => x.id === targetId)!;
  const { view, latencyMs, coolDownUntil, quota } = deps.routing.describe(targetId);
  const settings = breakerSettingsFor(deps.config, targetId);
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
    health: { healthy: view?.probe.healthy ?? true, lastProbeAt: view?.probe.lastAt ? new Date(view.probe.lastAt).toISOString() : undefined, lastError: view?.probe.lastError },
    quota: { ...quota, limits: t.limits, share: deps.config.routing.quotaShare, coolDownUntil: coolDownUntil ? new Date(coolDownUntil).toISOString() : undefined },
  };
}

export function providersRouter(deps: ProvidersDeps): Router {
  const router = Router();
  const known = (id: string) => {
    if (!deps.config.targets.some((t) => t.id === id)) throw new ApiError(404, ErrorCode.NotFound, `no target "${id}"; known: ${deps.config.targets.map((t) => t.id).join(', ')}`);
  };

  router.get('/', (_req, res) => {
    res.json({ data: deps.config.targets.map((t) => providerView(deps, t.id)), refreshedAt: new Date(deps.routing.view.refreshedAt).toISOString() });
  });

  router.get('/:id', (req, res) => {
    known(req.params.id);
    res.json(providerView(deps, req.params.id));
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
