/**
 * Gateway metrics (prom-client). Names start with `stormproof_`. The worker records provider
 * call outcomes; the API records HTTP traffic and jobs. In the embedded stack both share one
 * registry, served at the API's /metrics.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallOutcome } from '../activities';

export interface GatewayMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  jobsSubmitted: Counter<'outcome'>;
  providerCalls: Counter<'target' | 'model' | 'outcome' | 'mode'>;
  providerDuration: Histogram<'target' | 'outcome'>;
  recordOutcome(o: CallOutcome): void;
}

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
    recordOutcome(o) {
      m.providerCalls.inc({ target: o.target, model: o.model, outcome: o.outcome, mode: o.streaming ? 'stream' : 'buffered' });
      m.providerDuration.observe({ target: o.target, outcome: o.outcome === 'ok' ? 'ok' : 'error' }, o.durationMs / 1000);
    },
  };
  return m;
}
