/** The committed dashboard is what dashboard.ts generates, and it only asks for series that exist. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { createMetrics } from '../../shared/telemetry';
import { DATASOURCE } from './dashboard';
import { dashboardJson, DASHBOARD_PATH, panelQueries } from './dashboard-file';

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: Array<{ expr: string; datasource?: { uid: string } }>;
}

test('the committed dashboard JSON is current (run `npm run dashboard` after changing monitoring/grafana/dashboard.ts)', () => {
  assert.equal(readFileSync(DASHBOARD_PATH, 'utf8'), dashboardJson());
});

test('the dashboard covers the war room: SLOs and budget, traffic by target and region, latency and TTFT, failovers, breakers, degradations, tokens and cost', () => {
  const titles = panelQueries().map((p) => p.title);
  for (const want of [
    'Availability against the SLO',
    'Availability error budget left (30 d)',
    'Provider calls by target',
    'Traffic by region',
    'End-to-end latency',
    'Time to first token',
    'Failover rate',
    'Breaker state timeline',
    'Degradations by kind',
    'Tokens per second',
    'Cost per hour',
  ]) {
    assert.ok(titles.includes(want), `missing panel "${want}"`);
  }
});

test('every panel queries the provisioned data source, and only gateway series or recording rules that exist', async () => {
  const provisioned = parse(readFileSync(resolve(__dirname, 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')).datasources[0];
  assert.equal(provisioned.uid, DATASOURCE.uid);
  const known = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
  const recorded = new Set<string>(
    parse(readFileSync(resolve(__dirname, '..', 'prometheus', 'rules', 'recording.yml'), 'utf8')).groups.flatMap(
      (g: { rules: Array<{ record: string }> }) => g.rules.map((r) => r.record),
    ),
  );
  const panels = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8')).panels as Panel[];
  for (const p of panels.filter((x) => x.type !== 'row')) {
    assert.equal(p.datasource?.uid, DATASOURCE.uid, p.title);
    assert.ok(p.targets?.length, `${p.title} has no query`);
    for (const t of p.targets!) {
      for (const name of t.expr.match(/\b(?:[a-z_]+:)?stormproof_[a-z0-9_]+(?::[a-z0-9_]+)?/g) ?? []) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        assert.ok(known.has(base) || recorded.has(name), `${p.title}: ${name} is neither a gateway metric nor a recording rule`);
      }
    }
  }
});

test('compose wiring: Grafana finds the provisioning and the dashboard where compose mounts them; Prometheus scrapes its services', () => {
  const root = resolve(__dirname, '..', '..');
  const compose = parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')).services;
  const mount = (compose.grafana.volumes as string[]).find((v) => v.startsWith('./monitoring/grafana:'))!.split(':')[1];
  assert.equal(compose.grafana.environment.GF_PATHS_PROVISIONING, `${mount}/provisioning`);
  const provider = parse(readFileSync(resolve(__dirname, 'provisioning', 'dashboards', 'stormproof.yml'), 'utf8')).providers[0];
  assert.equal(provider.options.path, `${mount}/dashboards`);
  const prom = parse(readFileSync(resolve(__dirname, '..', 'prometheus', 'prometheus-compose.yml'), 'utf8'));
  const api = prom.scrape_configs.find((s: { job_name: string }) => s.job_name === 'stormproof-api');
  const worker = prom.scrape_configs.find((s: { job_name: string }) => s.job_name === 'stormproof-worker');
  assert.deepEqual(api.static_configs[0].targets, ['api:8080']);
  assert.ok(compose.api.ports.some((p: string) => p.endsWith(':8080')));
  assert.deepEqual([worker.dns_sd_configs[0].names, worker.dns_sd_configs[0].port], [['worker'], 9464]);
  assert.equal(compose.worker.environment.STORMPROOF_WORKER_METRICS_PORT, '9464');
});
