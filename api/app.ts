/** The REST server: jobs, health, readiness and metrics. */
import express, { type Express } from 'express';
import type { Client } from '@temporalio/client';
import { ErrorCode } from '../contracts/errors';
import type { GatewayConfig } from '../config/schema';
import { jobsInFlightFromVisibility, type GatewayMetrics } from '../shared/telemetry';
import { metricsText } from '../shared/metrics-server';
import { httpTracing, type Tracing } from '../shared/tracing';
import { warroomRouter } from './warroom';
import { errorHandler, sendError } from './errors';
import { jobsRouter } from './jobs';
import { assertSafeOpenMode, authMiddleware, loadKeys, openHosts, type ApiKey } from './auth';
import { enforceAccess } from './access';
import { admission, depthGuard } from './limits';
import { Owners } from './owners';
import { guardTemporal } from './temporal-policy';
import { codecRouter } from './codec-endpoint';
import { codecFromConfig } from '../shared/codec';
import { sharedRagService } from '../activities/retrieval';
import { openApiDocument } from './openapi';
import { batchesRouter } from './batches';
import { jobEventsRouter } from './job-events';
import { jobListRouter } from './job-list';
import { chatRouter } from './chat';
import { messagesRouter } from './messages';
import { internalStreamsRouter } from './internal-streams';
import { modelsRouter } from './models';
import { StreamHub } from './stream-hub';
import { readiness } from './readiness';
import { providersRouter } from './providers';
import { collectionsRouter } from './collections';
import type { TrafficView } from '../shared/traffic-view';
import { createSnapshotReader } from '../activities/routing';
import { LiveConfig } from '../config/live';
import { adminConfigRouter } from './admin-config';

export interface AppDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  eagerStart: boolean;
  metrics: GatewayMetrics;
  /** Live routing state (present when this process hosts a worker; else /v1/providers reads Temporal). */
  routing?: TrafficView;
  /** Told when this API cancels a job (its client left), so the job's local calls abort at once. */
  onCancel?: (jobId: string) => void;
  log: { error(obj: unknown, msg?: string): void; warn?(obj: unknown, msg?: string): void };
  /** API keys by hash (default: from the config and its keys environment variable). */
  apiKeys?: Map<string, ApiKey>;
  /** Streamed chunks for this process's clients (the embedded worker publishes into it). */
  hub?: StreamHub;
  /** This API's base URL for workers in other processes; undefined turns the relay off. */
  streamTo?: () => string | undefined;
  /** Token of the internal stream relay route (from the environment); none: the route refuses all. */
  internalToken?: string;
  /** OpenTelemetry tracing: one server span per request, the parent of the workflow it starts. */
  tracing?: Tracing;
  /** The config in force (live reloads applied); default: one over `config`, updated by this API's own PUTs. */
  live?: LiveConfig;
}

/** Builds the express app (not listening). */
export function createApp(deps: AppDeps): Express {
  const app = express();
  // Before the first route: `/V1/jobs` is not `/v1/jobs` (one route, one metrics label).
  app.set('case sensitive routing', true);
  app.disable('x-powered-by');
  app.set('etag', false);
  if (deps.tracing) app.use(httpTracing(deps.tracing.tracer));
  app.use((req, res, next) => {
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('cache-control', 'no-store');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
    res.setHeader('cross-origin-resource-policy', 'same-origin');
    const end = deps.metrics.httpDuration.startTimer();
    res.on('finish', () => {
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      end({ method: req.method, route });
      deps.metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  });
  const keys = deps.apiKeys ?? loadKeys(deps.config);
  if (assertSafeOpenMode(deps.config, keys)) {
    deps.log.warn?.(
      { host: deps.config.api.host },
      `no API keys configured: the API is OPEN (loopback only); set auth.keys or ${deps.config.auth.keysEnv} to require keys`,
    );
  }
  // The API's own Temporal calls fail fast (503) when Temporal is down; see temporal-policy.ts.
  const client = guardTemporal(deps.client, deps.config.limits.temporal).client;
  deps = { ...deps, client };
  // Public like /metrics (the same numbers): a browser opens it without an API key.
  app.use('/warroom', warroomRouter({ config: deps.config, metrics: deps.metrics }));
  // Before any body is read: unauthenticated requests are refused cheaply.
  const auth = authMiddleware(keys, { hosts: openHosts(deps.config) });
  app.use(auth);
  const hub = deps.hub ?? new StreamHub();
  // Before the JSON parser: relay bodies are NDJSON streams read line by line.
  app.use('/internal/streams', internalStreamsRouter(hub, deps.internalToken));
  app.use(express.json({ limit: deps.config.api.bodyLimit, verify: depthGuard(deps.config.limits.jsonDepth) }));

  const openapi = openApiDocument();
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const r = await readiness(deps.client, deps.config.temporal.namespace, deps.taskQueue);
    res.status(r.ready ? 200 : 503).json(r);
  });
  deps.metrics.setJobsInFlightSource(jobsInFlightFromVisibility(deps.client, deps.taskQueue));
  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await metricsText(deps.metrics);
    res.type(contentType).send(body);
  });
  app.use('/v1/jobs', jobListRouter({ client: deps.client, taskQueue: deps.taskQueue }));
  app.use('/v1/jobs', jobEventsRouter({ client: deps.client, pollMs: deps.config.api.eventsPollMs }));
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
  // With a worker in this process, its routing state goes into the workflow's input (no snapshot read in the workflow).
  const routing = deps.routing;
  const live = deps.live ?? new LiveConfig(deps.config);
  const current = () => live.current;
  const snapshot =
    routing && deps.eagerStart
      ? createSnapshotReader({ config: deps.config, live: current, state: routing, fresh: () => routing.view.fresh() })
      : undefined;
  const start = {
    client: deps.client,
    config: deps.config,
    taskQueue: deps.taskQueue,
    eagerStart: deps.eagerStart,
    ...(snapshot ? { snapshot } : {}),
  };
  const chat = {
    ...start,
    hub,
    streamTo: deps.streamTo ?? (() => undefined),
    ...(deps.onCancel ? { onCancel: deps.onCancel } : {}),
    onSubmitted: (outcome: 'new' | 'existing') => deps.metrics.jobsSubmitted.inc({ outcome }),
  };
  app.use('/v1/chat', chatRouter(chat));
  app.use('/v1/messages', messagesRouter(chat));
  app.use('/v1/models', modelsRouter(deps.config));
  app.use('/v1/batches', batchesRouter({ client: deps.client, config: deps.config, taskQueue: deps.taskQueue }));
  app.use('/v1/collections', collectionsRouter({ config: deps.config, client: deps.client, taskQueue: deps.taskQueue }));
  app.use('/v1/codec', codecRouter(codecFromConfig(deps.config), deps.config.codec.corsOrigins));
  app.use(
    '/v1/providers',
    providersRouter({ client: deps.client, config: deps.config, live: current, taskQueue: deps.taskQueue, routing: deps.routing }),
  );
  app.use('/v1/admin/config', adminConfigRouter({ client: deps.client, live, taskQueue: deps.taskQueue }));
  // After every route: who may call what (api/access.ts); a route without a rule stops start-up.
  const owners = new Owners(client, () => sharedRagService(deps.config));
  enforceAccess(app, { owners, admit: admission({ client, config: deps.config, taskQueue: deps.taskQueue, owners, charge: auth.charge }) });
  app.use((req, res) => sendError(res, 404, ErrorCode.NotFound, `no route ${req.method} ${req.path.slice(0, 200)}`));
  app.use(errorHandler((err) => deps.log.error({ err }, 'unhandled API error')));
  return app;
}
