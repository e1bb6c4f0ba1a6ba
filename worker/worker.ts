/**
 * Builds the Temporal worker: workflows from workflows/, activities wired to real dependencies,
 * the live routing state (breaker decisions, quotas) and the metrics sink.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type InjectedSinks, type WorkerOptions } from '@temporalio/worker';
import type { GatewayConfig } from '../config/schema';
import { createActivities, type ActivityDeps, type CallOutcome } from '../activities';
import type { GatewaySinks } from '../workflows/sinks';
import { RoutingState } from './routing-state';
import { createMetrics, type GatewayMetrics } from '../shared/telemetry';
import { activityMetrics } from './activity-metrics';
import type { Tracing } from '../shared/tracing';
import { logger } from '../shared/log';
import { dataConverterFor } from '../shared/codec';
import { LiveConfig } from '../config/live';
import { LiveConfigWatcher } from '../shared/live-config';

export interface GatewayWorkerOptions {
  connection: NativeConnection;
  config: GatewayConfig;
  taskQueue?: string;
  /** A pre-built workflow bundle (tests build one per run), else workflows/ is bundled. */
  workflowBundlePath?: string;
  /** 0 turns the workflow cache off, so every workflow task replays from history. */
  maxCachedWorkflows?: number;
  identity?: string;
  metrics?: GatewayMetrics;
  activityDeps?: Omit<ActivityDeps, 'config' | 'routingState' | 'onOutcome' | 'hooks'>;
  /** Called for every provider call outcome, after the built-in handling. */
  onOutcome?: (o: CallOutcome) => void;
  workerOptions?: Partial<WorkerOptions>;
  /** OpenTelemetry tracing (the workflow code is then bundled with Temporal's tracing interceptors). */
  tracing?: Tracing;
  /** How often the live config is read from Temporal (shared/live-config.ts). */
  liveConfigPollMs?: number;
}

export interface GatewayWorker {
  worker: Worker;
  routing: RoutingState;
  metrics: GatewayMetrics;
  client: Client;
  /** The config in force: the start-up one with the last live reload applied (config/live.ts). */
  live: LiveConfig;
  /** Runs the worker until shutdown, flushing outcome batches at the end. */
  run(): Promise<void>;
}

/** Creates (but does not run) the gateway worker and its routing state. */
export async function createGatewayWorker(opts: GatewayWorkerOptions): Promise<GatewayWorker> {
  const { config } = opts;
  const taskQueue = opts.taskQueue ?? config.temporal.taskQueue;
  const metrics = opts.metrics ?? createMetrics();
  metrics.useConfig(config);
  const { tracing } = opts;
  // Payloads sealed with the codec keys when configured (prompts and answers unreadable at rest).
  const dataConverter = dataConverterFor(config);
  const client = new Client({
    connection: opts.connection,
    namespace: config.temporal.namespace,
    dataConverter,
    ...(tracing ? { interceptors: { workflow: [tracing.clientInterceptor()] } } : {}),
  });
  const identity = opts.identity ?? `${process.pid}@${hostname()}`;
  const routing = new RoutingState({
    client,
    config,
    taskQueue,
    workerId: `${identity}/${randomUUID().slice(0, 8)}`,
    identity,
    // The view only sets the state gauge: it polls, so it can miss a quick open → half-open → open.
    // Transitions are counted from what the breaker workflow itself emits (the sink below).
    onTransition: (target, _from, to) => metrics.recordBreakerState(target, to),
    onBatchSent: (target) => metrics.breakerSignals.inc({ target }),
    onError: (err) => logger.warn({ err }, 'routing state: Temporal call failed'),
    onStale: (target, ageMs, why) => {
      metrics.breakerViewStale.inc({ target });
      logger.warn({ target, ageMs, why }, "breaker view unknown: routing on this worker's own outcomes until it moves again");
    },
  });
  const sinks: InjectedSinks<GatewaySinks> = {
    gateway: {
      requestFinished: { fn: (_info, ev) => metrics.recordFinished(ev) },
      // Sinks are not called on replay: each transition is counted once, by the worker that decided it.
      breakerTransition: {
        fn: (_info, ev) => {
          metrics.recordBreakerTransition(ev);
          logger.warn({ target: ev.target, from: ev.from, to: ev.to, reason: ev.reason, trips: ev.trips }, 'breaker transition');
        },
      },
    },
  };
  // A pre-built bundle lacks the tracing interceptors: a tracing worker bundles its own.
  const workflowSource = tracing ? undefined : (opts.workflowBundlePath ?? process.env.STORMPROOF_WORKFLOW_BUNDLE);
  const live = new LiveConfig(config);
  live.onChange((next) => routing.applyConfig(next));
  const watcher = new LiveConfigWatcher({
    client,
    live,
    taskQueue,
    intervalMs: opts.liveConfigPollMs,
    onApplied: (version, state) => logger.info({ version, by: state.by }, `live config version ${version} applied`),
    onError: (err) => logger.warn({ err }, 'live config: not read or not applied; the running config stays'),
  });
  // The published version is in force before the first task (a failed read leaves the start-up config).
  await watcher.poll();
  const worker = await Worker.create({
    connection: opts.connection,
    namespace: config.temporal.namespace,
    taskQueue,
    ...(workflowSource ? { workflowBundle: { codePath: workflowSource } } : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities({
      config,
      ...opts.activityDeps,
      liveConfig: () => live.current,
      routingState: routing,
      routingFresh: () => routing.view.fresh(),
      onOutcome: (o) => {
        routing.record(o);
        metrics.recordOutcome(o);
        opts.onOutcome?.(o);
      },
      hooks: routing.hooks,
    }),
    interceptors: {
      activity: [...(tracing?.activityInterceptors ?? []), activityMetrics(metrics)],
      ...(tracing ? { workflowModules: tracing.workflowModules } : {}),
    },
    sinks: tracing ? { ...sinks, ...tracing.workflowSinks } : sinks,
    dataConverter,
    identity,
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
    // Local activities extend the workflow task; keep a dead worker's task from holding a job for long.
    stickyQueueScheduleToStartTimeout: '3s',
    // On shutdown, in-flight activities get a moment, then are cancelled; a long-running breaker's
    // probe must not hold a restart hostage.
    shutdownGraceTime: '2s',
    shutdownForceTime: '10s',
    ...opts.workerOptions,
  });
  return {
    worker,
    routing,
    metrics,
    client,
    live,
    async run() {
      // The worker polls at once (a stop right after start must find it running); routing state
      // starts beside it and reads as "all closed" until the first refresh.
      const running = worker.run();
      const routingStarted = routing
        .start()
        .catch((err) => logger.warn({ err }, 'routing state did not start; breakers will be created on first use'));
      const watching = watcher.start();
      try {
        await running;
      } finally {
        watcher.stop();
        await watching;
        await routingStarted;
        await routing.stop();
      }
    },
  };
}
