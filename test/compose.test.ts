/**
 * docker-compose.yml and the Dockerfile: valid against the Compose Specification's JSON schema
 * (vendored), and consistent with what the local cluster (scripts/cluster.ts, run by
 * test/cluster.test.ts) and the rest of the project pin, so the file the tests prove is the file
 * users run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { COMPOSE_FILE, ComposeError, interpolate, loadCompose } from '../scripts/cluster-compose';
import { GO_TOOLCHAIN, TEMPORAL_SERVER_VERSION } from '../scripts/ensure-temporal-server';
import { TOXIPROXY_VERSION } from '../scripts/ensure-toxiproxy';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../config/load';

const ROOT = resolve(__dirname, '..');
const VARS = { STORMPROOF_API_KEYS: 'ops:k:admin', STORMPROOF_INTERNAL_TOKEN: 't' };
const schema = JSON.parse(readFileSync(join(ROOT, 'vendor', 'compose-spec', 'compose-spec.json'), 'utf8'));
// The schema names draft-07 by an https URL Ajv does not know; draft-07 is Ajv's own default.
const { $schema: _draft, ...draft07 } = schema;
const validate = new Ajv({ allErrors: true, strict: false }).compile(draft07);

test('docker-compose.yml is valid against the Compose Specification schema', () => {
  const { document } = loadCompose(VARS);
  const ok = validate(document);
  assert.ok(ok, JSON.stringify(validate.errors, null, 2));
  // The validator is not a rubber stamp: a typo'd key and an unknown condition are refused.
  const typo = structuredClone(document) as any;
  typo.services.api.comand = typo.services.api.command;
  assert.equal(validate(typo), false);
  const badCondition = structuredClone(document) as any;
  badCondition.services.api.depends_on['temporal-setup'].condition = 'service_ready';
  assert.equal(validate(badCondition), false);
});

test('secrets are required from the environment, never defaulted in the file', () => {
  assert.throws(
    () => loadCompose({ STORMPROOF_INTERNAL_TOKEN: 't' }),
    (e) => e instanceof ComposeError && /STORMPROOF_API_KEYS: set STORMPROOF_API_KEYS/.test(e.message),
  );
  assert.throws(() => loadCompose({ STORMPROOF_API_KEYS: 'a:b' }), /STORMPROOF_INTERNAL_TOKEN/);
  assert.equal(interpolate('${A:-x} ${B-y} $$C ${D}', { A: '', B: '' }), 'x  $C ');
});

test('the topology: Temporal on PostgreSQL, its Web UI, the API, two workers, toxiproxy, mocks (profile), Prometheus, Grafana', () => {
  const { services } = loadCompose(VARS);
  assert.equal(services.postgresql.image, 'postgres:15');
  assert.deepEqual(services.temporal.command, ['temporal-server', 'start']);
  assert.equal(services.temporal.environment.DB, 'postgres12');
  assert.equal(services.temporal.dependsOn['temporal-schema'], 'service_completed_successfully');
  assert.match(services['temporal-ui'].image ?? '', /^temporalio\/ui:/);
  assert.deepEqual(services.api.command, ['node', '--import', 'tsx', 'api/main.ts']);
  assert.deepEqual(services.worker.command, ['node', '--import', 'tsx', 'worker/main.ts']);
  assert.equal(services.worker.replicas, 2);
  assert.equal(services.api.environment.STORMPROOF_INTERNAL_TOKEN, services.worker.environment.STORMPROOF_INTERNAL_TOKEN);
  assert.equal(services.toxiproxy.image, `ghcr.io/shopify/toxiproxy:${TOXIPROXY_VERSION}`);
  for (const m of ['mock-openai', 'mock-anthropic', 'mock-selfhosted']) assert.deepEqual(services[m].profiles, ['mocks']);
  assert.ok(services.prometheus.mounts.some((m) => m.source.endsWith('monitoring/prometheus/prometheus-compose.yml')));
  assert.ok(services.prometheus.mounts.some((m) => m.source.endsWith('monitoring/prometheus/rules')));
  assert.ok(services.grafana.mounts.some((m) => m.source.endsWith('monitoring/grafana')));
  // Every script a service runs and every file it mounts from the repository exists.
  for (const s of Object.values(services)) {
    for (const arg of s.command ?? []) if (/\.ts$/.test(arg)) assert.ok(existsSync(join(ROOT, arg)), `${s.name}: ${arg}`);
    for (const m of s.mounts) if (m.kind === 'config') assert.ok(existsSync(m.source), `${s.name}: ${m.source}`);
  }
});

test('container ports are unique across services, so the local cluster can map each one unambiguously', () => {
  const owners = new Map<number, string>();
  for (const s of Object.values(loadCompose(VARS).services)) {
    for (const p of s.ports) {
      assert.ok(!owners.has(p), `port ${p} is used by ${owners.get(p)} and ${s.name}`);
      owners.set(p, s.name);
    }
  }
});

test('the compose gateway config is the default config with only its addresses changed', () => {
  const strip = (raw: any) => {
    const c = structuredClone(raw);
    delete c.api.host;
    delete c.worker.metricsHost;
    delete c.temporal.address;
    delete c.temporal.embedded;
    delete c.temporal.uiPort;
    delete c.temporal.dataDir;
    delete c.rag.dataDir;
    delete c.rag.sample.enabled;
    for (const t of c.targets) delete t.baseUrl;
    return c;
  };
  const compose = parse(readFileSync(join(ROOT, 'deploy', 'compose', 'gateway.yaml'), 'utf8'));
  parseConfig(compose, 'deploy/compose/gateway.yaml');
  assert.deepEqual(strip(compose), strip(parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'))));
  const proxies = JSON.parse(readFileSync(join(ROOT, 'deploy', 'compose', 'toxiproxy.json'), 'utf8')) as Array<{
    name: string;
    listen: string;
  }>;
  for (const t of compose.targets) {
    const proxy = proxies.find((p) => p.name === t.id);
    assert.ok(proxy, `toxiproxy has a proxy named ${t.id}`);
    assert.equal(new URL(t.baseUrl).port, proxy.listen.split(':')[1], `${t.id} goes through its proxy`);
  }
});

test('the Dockerfile builds the Temporal server with the same pins as scripts/ensure-temporal-server.ts', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  assert.match(dockerfile, new RegExp(`GOTOOLCHAIN=${GO_TOOLCHAIN}\\b`));
  assert.match(dockerfile, new RegExp(`go.temporal.io/server/cmd/server@v${TEMPORAL_SERVER_VERSION.replace(/\./g, '\\.')}\\b`));
  assert.match(dockerfile, new RegExp(`go.temporal.io/server/cmd/tools/sql@v${TEMPORAL_SERVER_VERSION.replace(/\./g, '\\.')}\\b`));
  const { services } = loadCompose(VARS);
  assert.equal(services.temporal.image, `stormproof/temporal:${TEMPORAL_SERVER_VERSION}`);
  for (const s of Object.values(services))
    if (s.buildTarget) assert.match(dockerfile, new RegExp(`AS ${s.buildTarget}\\b`), `${s.name}: Dockerfile target ${s.buildTarget}`);
  assert.ok(existsSync(COMPOSE_FILE));
});
