/**
 * The war room: `GET /warroom` is a static page (HTML, CSS and plain JS, no build step) that polls
 * `GET /warroom/data.json` every second. The JSON holds this process's cumulative counters, grouped
 * for the page; the page turns successive snapshots into rates, percentiles and timelines.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Router } from 'express';
import type { MetricObjectWithValues, MetricValue, MetricValueWithName } from 'prom-client';
import type { GatewayConfig } from '../config/schema';
import type { GatewayMetrics } from '../shared/telemetry';

const ASSETS: Record<string, string> = {
  '': 'text/html; charset=utf-8',
  'warroom.js': 'text/javascript; charset=utf-8',
  'warroom.css': 'text/css; charset=utf-8',
};
const FILES: Record<string, string> = { '': 'index.html', 'warroom.js': 'warroom.js', 'warroom.css': 'warroom.css' };
/** The page loads only its own script, style and data. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A cumulative histogram summed over its labels: `[le, count]` pairs, ascending. */
export interface Buckets {
  buckets: Array<[number, number]>;
  count: number;
  sum: number;
}

/** One snapshot for the page (all counters cumulative since this process started). */
export interface WarroomData {
  at: number;
  targets: Array<{
    id: string;
    region: string;
    kind: string;
    breaker?: string;
    ok: number;
    errors: number;
    trips: number;
    transitions: number;
  }>;
  requests: Record<string, number>;
  failovers: Array<{ from: string; to: string; reason: string; count: number }>;
  degradations: Record<string, number>;
  latency: Buckets;
  ttft: Buckets;
  jobsInFlight?: number;
}

type Values = Array<MetricValue<string> | MetricValueWithName<string>>;

function sumBuckets(values: Values, keep: (labels: Record<string, unknown>) => boolean = () => true): Buckets {
  const byLe = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const v of values) {
    if (!keep(v.labels)) continue;
    const name = (v as MetricValueWithName<string>).metricName ?? '';
    if (name.endsWith('_bucket')) {
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + v.value);
    } else if (name.endsWith('_count')) count += v.value;
    else if (name.endsWith('_sum')) sum += v.value;
  }
  return { buckets: [...byLe.entries()].filter(([le]) => Number.isFinite(le)).sort((a, b) => a[0] - b[0]), count, sum };
}

/** Builds the page's snapshot from a metrics registry. */
export async function warroomData(config: GatewayConfig, metrics: GatewayMetrics): Promise<WarroomData> {
  const all = (await metrics.registry.getMetricsAsJSON()) as MetricObjectWithValues<MetricValue<string>>[];
  const values = (name: string): Values => all.find((m) => m.name === name)?.values ?? [];
  const total = (name: string, match: Record<string, string>) =>
    values(name)
      .filter((v) => Object.entries(match).every(([k, x]) => v.labels[k] === x))
      .reduce((n, v) => n + v.value, 0);
  const targets = config.targets.map((t) => {
    const state = values('stormproof_breaker_state').find((v) => v.labels.target === t.id && v.value === 1)?.labels.state;
    const calls = values('stormproof_provider_calls_total').filter((v) => v.labels.target === t.id && v.labels.outcome !== 'cancelled');
    const ok = calls.filter((v) => v.labels.outcome === 'ok').reduce((n, v) => n + v.value, 0);
    return {
      id: t.id,
      region: t.region,
      kind: t.kind,
      ...(state ? { breaker: String(state) } : {}),
      ok,
      errors: calls.reduce((n, v) => n + v.value, 0) - ok,
      trips: total('stormproof_breaker_trips_total', { target: t.id }),
      transitions: total('stormproof_breaker_transitions_total', { target: t.id }),
    };
  });
  const requests: Record<string, number> = {};
  for (const v of values('stormproof_requests_total'))
    requests[String(v.labels.status)] = (requests[String(v.labels.status)] ?? 0) + v.value;
  const pairs = new Map<string, { from: string; to: string; reason: string; count: number }>();
  for (const v of values('stormproof_failovers_total')) {
    const key = `${v.labels.from}|${v.labels.to}|${v.labels.reason}`;
    const p = pairs.get(key) ?? { from: String(v.labels.from), to: String(v.labels.to), reason: String(v.labels.reason), count: 0 };
    p.count += v.value;
    pairs.set(key, p);
  }
  const degradations: Record<string, number> = { model: 0, mode: 0, data: 0 };
  for (const v of values('stormproof_degradations_total'))
    degradations[String(v.labels.kind)] = (degradations[String(v.labels.kind)] ?? 0) + v.value;
  const inFlight = values('stormproof_jobs_in_flight')[0]?.value;
  return {
    at: Date.now(),
    targets,
    requests,
    failovers: [...pairs.values()],
    degradations,
    latency: sumBuckets(values('stormproof_request_duration_seconds'), (l) => l.status === 'completed'),
    ttft: sumBuckets(values('stormproof_time_to_first_token_seconds')),
    ...(inFlight !== undefined && Number.isFinite(inFlight) ? { jobsInFlight: inFlight } : {}),
  };
}

/** Routes under /warroom: the page, its two assets and its data. */
export function warroomRouter(deps: { config: GatewayConfig; metrics: GatewayMetrics }): Router {
  const router = Router();
  const dir = join(__dirname, 'warroom');
  const files = new Map(Object.entries(FILES).map(([k, f]) => [k, readFileSync(join(dir, f), 'utf8')]));
  router.get('/data.json', async (_req, res) => {
    res.json(await warroomData(deps.config, deps.metrics));
  });
  router.get(['/', '/:asset'], (req, res, next) => {
    const asset = String(req.params.asset ?? '');
    const body = files.get(asset);
    if (body === undefined) return next();
    res.setHeader('content-security-policy', CSP);
    res.type(ASSETS[asset]).send(body);
  });
  return router;
}
