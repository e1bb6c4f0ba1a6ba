/**
 * Gateway metrics (prom-client). Names start with `stormproof_`. The worker records provider
 * call outcomes; the API records HTTP traffic and jobs. In the embedded stack both share one
 * registry, served at the API's /metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestFinished } from '../workflows/sinks';
import type { BreakerState } from '../contracts/routing';
import type { CallOutcome } from '../activities';

export interface GatewayMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  jobsSubmitted: Counter<'outcome'>;
  providerCalls: Counter<'target' | 'model' | 'outcome' | 'mode'>;
  providerDuration: Histogram<'target' | 'outcome'>;
  requests: Counter<'status'>;
  requestDuration: Histogram<'status'>;
  failovers: Counter<'from' | 'to' | 'reason'>;
  degradations: Counter<'kind'>;
  breakerState: Gauge<'target' | 'state'>;
  breakerTransitions: Counter<'target' | 'from' | 'to'>;
  breakerSignals: Counter<'target'>;
  recordOutcome(o: CallOutcome): void;
  recordFinished(ev: RequestFinished): void;
  recordBreaker(target: string, from: BreakerState | undefined, to: BreakerState): void;
}

const BREAKER_STATES: BreakerState[] = ['closed', 'half-open', 'open'];

/** Creates a registry with every gateway metric (one per process). */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}): GatewayMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'stormproof_process_' });
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const m: GatewayMetrics = {
    registry,
    httpRequests: new Counter({ name: 'stormproof_http_requests_total', help: 'HTTP requests served by the API', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    httpDuration: new Histogram({ name: 'stormproof_http_request_duration_seconds', help: 'API response time', labelNames: ['method', 'route'], buckets, registers: [registry] }),
    jobsSubmitted: new Counter({ name: 'stormproof_jobs_submitted_total', help: 'Jobs accepted (new) or attached to (existing)', labelNames: ['outcome'], registers: [registry] }),
    providerCalls: new Counter({ name: 'stormproof_provider_calls_total', help: 'Provider calls by outcome ("ok" or the failure type)', labelNames: ['target', 'model', 'outcome', 'mode'], registers: [registry] }),
    providerDuration: new Histogram({ name: 'stormproof_provider_call_duration_seconds', help: 'Provider call latency', labelNames: ['target', 'outcome'], buckets, registers: [registry] }),
    requests: new Counter({ name: 'stormproof_requests_total', help: 'AI requests finished, by status (the availability SLI)', labelNames: ['status'], registers: [registry] }),
    requestDuration: new Histogram({ name: 'stormproof_request_duration_seconds', help: 'End-to-end request latency in the workflow', labelNames: ['status'], buckets, registers: [registry] }),
    failovers: new Counter({ name: 'stormproof_failovers_total', help: 'Provider switches, by from/to target and reason', labelNames: ['from', 'to', 'reason'], registers: [registry] }),
    degradations: new Counter({ name: 'stormproof_degradations_total', help: 'Degraded answers, by kind (model, mode, data)', labelNames: ['kind'], registers: [registry] }),
    breakerState: new Gauge({ name: 'stormproof_breaker_state', help: '1 for the state each target breaker is in (closed, half-open, open)', labelNames: ['target', 'state'], registers: [registry] }),
    breakerTransitions: new Counter({ name: 'stormproof_breaker_transitions_total', help: 'Breaker transitions seen by this process', labelNames: ['target', 'from', 'to'], registers: [registry] }),
    breakerSignals: new Counter({ name: 'stormproof_breaker_signals_total', help: 'Outcome batches sent to breaker workflows', labelNames: ['target'], registers: [registry] }),
    recordFinished(ev) {
      m.requests.inc({ status: ev.status });
      m.requestDuration.observe({ status: ev.status }, ev.durationMs / 1000);
      for (const kind of ev.degradations) m.degradations.inc({ kind });
    },
    recordBreaker(target, from, to) {
      for (const st of BREAKER_STATES) m.breakerState.set({ target, state: st }, st === to ? 1 : 0);
      if (from !== undefined) m.breakerTransitions.inc({ target, from, to });
    },
    recordOutcome(o) {
      if (o.inFlight) return;
      m.providerCalls.inc({ target: o.target, model: o.model, outcome: o.outcome, mode: o.streaming ? 'stream' : 'buffered' });
      m.providerDuration.observe({ target: o.target, outcome: o.outcome === 'ok' ? 'ok' : 'error' }, o.durationMs / 1000);
    },
  };
  return m;
}
