/** The REST server: jobs, health, readiness and metrics. */
import express, { type Express } from 'express';
import type { Client } from '@temporalio/client';
import { ErrorCode } from '../contracts/errors';
import type { GatewayConfig } from '../config/schema';
import type { GatewayMetrics } from '../worker/telemetry';
import { errorHandler, sendError } from './errors';
import { jobsRouter } from './jobs';
import { readiness } from './readiness';

export interface AppDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  eagerStart: boolean;
  metrics: GatewayMetrics;
  log: { error(obj: unknown, msg?: string): void };
}

/** Builds the express app (not listening). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('cache-control', 'no-store');
    const end = deps.metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      end({ method: req.method, route });
      deps.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  });
  app.use(express.json({ limit: deps.config.api.bodyLimit }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const r = await readiness(deps.client, deps.config.temporal.namespace, deps.taskQueue);
    res.status(r.ready ? 200 : 503).json(r);
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  app.use(
    '/v1/jobs',
    jobsRouter({
      client: deps.client,
      config: deps.config,
      taskQueue: deps.taskQueue,
      eagerStart: deps.eagerStart,
      onSubmitted: (outcome) => deps.metrics.jobsSubmitted.inc({ outcome }),
    }),
  );
  app.use((req, res) => sendError(res, 404, ErrorCode.NotFound, `no route ${req.method} ${req.path}`));
  app.use(errorHandler((err) => deps.log.error({ err }, 'unhandled API error')));
  return app;
}
