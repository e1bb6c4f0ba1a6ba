/**
 * Gateway metrics (prom-client), named the Prometheus way: `stormproof_` prefix, base units
 * (`_seconds`, `_usd`), `_total` on counters, and only bounded labels (targets, regions and tiers
 * come from the config; outcomes are failure types). The worker records requests, provider calls
 * and breakers; the API records HTTP traffic and jobs. The README's Monitoring section lists them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BreakerTransitionEvent, RequestFinished } from '../workflows/sinks';
import type { BreakerState } from '../contracts/routing';
import { REQUEST_FAULTS } from '../contracts/failures';
import type { GatewayConfig } from '../config/schema';
import type { CallOutcome } from '../activities';
import type { Client } from '@temporalio/client';
import { REQUEST_WORKFLOW } from '../contracts/workflow-api';
import { JOB_WORKFLOW } from '../contracts/callbacks';

/** Token counts of one answer (the provider's `usage`). */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

export interface GatewayMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  jobsSubmitted: Counter<'outcome'>;
  jobsInFlight: Gauge;
  providerCalls: Counter<'target' | 'region' | 'model' | 'tier' | 'outcome' | 'mode'>;
  providerDuration: Histogram<'target' | 'region' | 'outcome'>;
  timeToFirstToken: Histogram<'target' | 'region' | 'tier'>;
  providerTokens: Counter<'target' | 'model' | 'direction'>;
  providerCost: Counter<'target' | 'model'>;
  requests: Counter<'status' | 'tier' | 'region'>;
  requestDuration: Histogram<'status' | 'tier'>;
  failovers: Counter<'from' | 'to' | 'reason' | 'tier'>;
  degradations: Counter<'kind' | 'tier'>;
  breakerState: Gauge<'target' | 'region' | 'state'>;
  targetInfo: Gauge<'target' | 'region' | 'kind' | 'tier'>;
  breakerTransitions: Counter<'target' | 'from' | 'to'>;
  breakerModelTransitions: Counter<'target' | 'model' | 'from' | 'to'>;
  breakerTrips: Counter<'target'>;
  breakerSignals: Counter<'target'>;
  breakerViewStale: Counter<'target'>;
  callbackDeliveries: Counter<'outcome'>;
  /** Learns target regions, model tiers and prices (label values and cost). */
  useConfig(config: GatewayConfig): void;
  /** Where `stormproof_jobs_in_flight` is read from at scrape time (e.g. a visibility count). */
  setJobsInFlightSource(read: () => Promise<number>): void;
  recordOutcome(o: CallOutcome): void;
  recordFinished(ev: RequestFinished): void;
  /** The state a process's breaker view sees now (a gauge; transitions come from the breaker). */
  recordBreakerState(target: string, to: BreakerState): void;
  recordBreakerTransition(ev: BreakerTransitionEvent): void;
  recordUsage(target: string, model: string, usage: Usage): void;
}

const BREAKER_STATES: BreakerState[] = ['closed', 'half-open', 'open'];
/** Latency buckets in seconds: from a cached answer to a long generation. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Any label value outside this shape is reported as "other", so no label can grow unbounded. */
const LABEL = /^[A-Za-z0-9_.:-]{1,64}$/;

function bounded(v: string | undefined, none = 'none'): string {
  if (v === undefined || v === '') return none;
  return LABEL.test(v) ? v : 'other';
}

/** Sampling interval of the event-loop-lag histogram (`stormproof_nodejs_eventloop_lag_*`). */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Creates a registry with every gateway metric (one per process). */
export function createMetrics(opts: { defaultMetrics?: boolean; config?: GatewayConfig } = {}): GatewayMetrics {
  const registry = new Registry();
  // Why 100 ms: the event-loop-lag histogram samples with a timer at this resolution, and at
  // prom-client's default of 10 ms that timer alone took 0.45 % of a core in an idle process
  // (100 wake-ups a second); at 100 ms it takes 0.06 %, and a stall is still measured in full.
  if (opts.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'stormproof_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const regions = new Map<string, string>();
  const tiers = new Map<string, string>();
  const prices = new Map<string, { input: number; output: number }>();
  let readInFlight: (() => Promise<number>) | undefined;
  const registers = [registry];
  const region = (target: string) => regions.get(target) ?? 'unknown';
  const tierOf = (model: string) => tiers.get(model) ?? 'none';
  const m: GatewayMetrics = {
    registry,
    httpRequests: new Counter({
      name: 'stormproof_http_requests_total',
      help: 'HTTP requests served by the API',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    httpDuration: new Histogram({
      name: 'stormproof_http_request_duration_seconds',
      help: 'API response time',
      labelNames: ['method', 'route'],
      buckets: BUCKETS,
      registers,
    }),
    jobsSubmitted: new Counter({
      name: 'stormproof_jobs_submitted_total',
      help: 'Jobs accepted (new) or attached to (existing)',
      labelNames: ['outcome'],
      registers,
    }),
    jobsInFlight: new Gauge({
      name: 'stormproof_jobs_in_flight',
      help: 'Request workflows running on this gateway task queue (a visibility count at scrape time)',
      registers,
      async collect() {
        const n = await readInFlight?.().catch(() => undefined);
        if (n !== undefined) this.set(n);
      },
    }),
    providerCalls: new Counter({
      name: 'stormproof_provider_calls_total',
      help: 'Provider calls by outcome ("ok" or the failure type)',
      labelNames: ['target', 'region', 'model', 'tier', 'outcome', 'mode'],
      registers,
    }),
    providerDuration: new Histogram({
      name: 'stormproof_provider_call_duration_seconds',
      help: 'Provider call latency',
      labelNames: ['target', 'region', 'outcome'],
      buckets: BUCKETS,
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: 'stormproof_time_to_first_token_seconds',
      help: 'Streams: time from the call to its first token',
      labelNames: ['target', 'region', 'tier'],
      buckets: BUCKETS,
      registers,
    }),
    providerTokens: new Counter({
      name: 'stormproof_provider_tokens_total',
      help: 'Tokens of answered provider calls, by direction (input, output)',
      labelNames: ['target', 'model', 'direction'],
      registers,
    }),
    providerCost: new Counter({
      name: 'stormproof_provider_cost_usd_total',
      help: 'What answered provider calls cost, at the configured prices',
      labelNames: ['target', 'model'],
      registers,
    }),
    requests: new Counter({
      name: 'stormproof_requests_total',
      help: "AI requests finished, by status (the availability SLI: completed vs failed; rejected is the client's fault)",
      labelNames: ['status', 'tier', 'region'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'stormproof_request_duration_seconds',
      help: 'End-to-end request latency in the workflow (the latency SLI)',
      labelNames: ['status', 'tier'],
      buckets: BUCKETS,
      registers,
    }),
    failovers: new Counter({
      name: 'stormproof_failovers_total',
      help: 'Provider switches, once per switch, by from/to target and reason',
      labelNames: ['from', 'to', 'reason', 'tier'],
      registers,
    }),
    degradations: new Counter({
      name: 'stormproof_degradations_total',
      help: 'Degradations of answered or failed requests, by kind (model, mode, data)',
      labelNames: ['kind', 'tier'],
      registers,
    }),
    targetInfo: new Gauge({
      name: 'stormproof_target_info',
      help: 'Configured targets: 1 per target and tier it serves (for joins, e.g. "every smart target")',
      labelNames: ['target', 'region', 'kind', 'tier'],
      registers,
    }),
    breakerState: new Gauge({
      name: 'stormproof_breaker_state',
      help: '1 for the state each target breaker is in (closed, half-open, open)',
      labelNames: ['target', 'region', 'state'],
      registers,
    }),
    breakerTransitions: new Counter({
      name: 'stormproof_breaker_transitions_total',
      help: 'Breaker transitions, counted once by the worker that ran the breaker',
      labelNames: ['target', 'from', 'to'],
      registers,
    }),
    breakerModelTransitions: new Counter({
      name: 'stormproof_breaker_model_transitions_total',
      help: 'Transitions of the per-model cells of a target breaker (one model out while the target serves others)',
      labelNames: ['target', 'model', 'from', 'to'],
      registers,
    }),
    breakerTrips: new Counter({
      name: 'stormproof_breaker_trips_total',
      help: 'Breaker trips (transitions to open)',
      labelNames: ['target'],
      registers,
    }),
    breakerSignals: new Counter({
      name: 'stormproof_breaker_signals_total',
      help: 'Outcome batches sent to breaker workflows',
      labelNames: ['target'],
      registers,
    }),
    breakerViewStale: new Counter({
      name: 'stormproof_breaker_view_stale_total',
      help: "Times this process stopped trusting a breaker's published view (not read, or not moving): it routes on its own outcomes until the view moves again",
      labelNames: ['target'],
      registers,
    }),
    callbackDeliveries: new Counter({
      name: 'stormproof_callback_deliveries_total',
      help: 'Callback POST attempts: delivered, or the failure type',
      labelNames: ['outcome'],
      registers,
    }),
    useConfig(config) {
      for (const t of config.targets) {
        regions.set(t.id, bounded(t.region, 'unknown'));
        for (const model of t.models) prices.set(`${t.id}/${model.id}`, model.pricePerMTok);
      }
      for (const [tier, models] of Object.entries(config.tiers))
        for (const model of models) if (!tiers.has(model)) tiers.set(model, bounded(tier));
      for (const t of config.targets) {
        for (const tier of new Set(t.models.map((x) => tierOf(x.id))))
          m.targetInfo.set({ target: t.id, region: region(t.id), kind: t.kind, tier }, 1);
      }
    },
    setJobsInFlightSource(read) {
      readInFlight = read;
    },
    recordFinished(ev) {
      const tier = bounded(ev.tier);
      const status = ev.status === 'failed' && ev.errorType && REQUEST_FAULTS.includes(ev.errorType) ? 'rejected' : ev.status;
      m.requests.inc({ status, tier, region: ev.target ? region(ev.target) : 'none' });
      m.requestDuration.observe({ status, tier }, ev.durationMs / 1000);
      for (const kind of ev.degradations) m.degradations.inc({ kind: bounded(kind), tier });
      for (const s of ev.switches ?? []) m.failovers.inc({ from: bounded(s.from), to: bounded(s.to), reason: bounded(s.reason), tier });
    },
    recordBreakerState(target, to) {
      for (const st of BREAKER_STATES) m.breakerState.set({ target, region: region(target), state: st }, st === to ? 1 : 0);
    },
    recordBreakerTransition(ev) {
      if (ev.model !== undefined) {
        m.breakerModelTransitions.inc({ target: bounded(ev.target), model: bounded(ev.model), from: ev.from, to: ev.to });
        return;
      }
      m.breakerTransitions.inc({ target: bounded(ev.target), from: ev.from, to: ev.to });
      if (ev.to === 'open' && ev.from !== 'open') m.breakerTrips.inc({ target: bounded(ev.target) });
    },
    recordOutcome(o) {
      if (o.inFlight) return;
      const where = { target: o.target, region: region(o.target) };
      m.providerCalls.inc({
        ...where,
        model: o.model,
        tier: tierOf(o.model),
        outcome: bounded(o.outcome),
        mode: o.streaming ? 'stream' : 'buffered',
      });
      m.providerDuration.observe({ ...where, outcome: o.outcome === 'ok' ? 'ok' : 'error' }, o.durationMs / 1000);
      if (o.streaming && o.outcome === 'ok' && o.firstTokenMs !== undefined)
        m.timeToFirstToken.observe({ ...where, tier: tierOf(o.model) }, o.firstTokenMs / 1000);
    },
    recordUsage(target, model, usage) {
      m.providerTokens.inc({ target, model, direction: 'input' }, usage.prompt_tokens);
      m.providerTokens.inc({ target, model, direction: 'output' }, usage.completion_tokens);
      const price = prices.get(`${target}/${model}`);
      if (price) m.providerCost.inc({ target, model }, (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1e6);
    },
  };
  if (opts.config) m.useConfig(opts.config);
  return m;
}

/**
 * Reads the request and job workflows running on `taskQueue` from Temporal's visibility store, at
 * most once a second however many scrapes and war-room pages ask.
 */
export function jobsInFlightFromVisibility(client: Client, taskQueue: string, maxAgeMs = 1_000): () => Promise<number> {
  const query = `WorkflowType IN ('${REQUEST_WORKFLOW}', '${JOB_WORKFLOW}') AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue.replace(/'/g, "\\'")}'`;
  let last: { at: number; count: Promise<number> } | undefined;
  return () => {
    if (!last || Date.now() - last.at >= maxAgeMs) {
      const count = client.workflow.count(query).then((r) => r.count);
      last = { at: Date.now(), count };
      count.catch(() => {
        if (last?.count === count) last = undefined;
      });
    }
    return last.count;
  };
}
