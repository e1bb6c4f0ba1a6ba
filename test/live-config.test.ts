/**
 * Centralised configuration without a restart (issue 14): an API process and a worker process
 * (each its own composition root) against a Temporal server of their own. A change sent to
 * `PUT /v1/admin/config` reaches the worker (its routing snapshot and breaker settings) and the
 * API; a bad config or a restart-only change is refused with the key named, and the running
 * config keeps serving. A SIGHUP makes a worker re-read the config file.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { startProcessStack, type ProcessStack } from './support/process-stack';
import { chat } from './support/stack';
import { waitFor } from './support/wait';

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';

let stack: ProcessStack;

before(async () => {
  // The test polls the API for recorded state: keep it clear of the per-key rate limit.
  stack = await startProcessStack({ workers: 1, edit: (raw) => (raw.auth = { ...raw.auth, rateLimitPerMinute: 100_000 }) });
});
after(async () => {
  await stack?.stop();
});

async function api(
  path: string,
  init: { method?: string; json?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
    ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
  });
  const body = await res.json();
  assert.ok(res.status !== 429 && res.status < 500, `${init.method ?? 'GET'} ${path}: ${res.status} ${JSON.stringify(body)}`);
  return { status: res.status, body };
}

/** The config in force (GET /v1/admin/config), as plain JSON to edit. */
async function current(): Promise<{ version: number; config: any }> {
  const res = await api('/v1/admin/config');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

/** Runs a tier request as a job and answers the target of its first attempt (recorded in the job). */
async function firstTarget(): Promise<string> {
  const sub = await api('/v1/jobs', { method: 'POST', json: { request: chat('smart', 'who serves me?') } });
  assert.equal(sub.status, 202, JSON.stringify(sub.body));
  let job: any;
  await waitFor(
    async () => {
      job = (await api(`/v1/jobs/${sub.body.id}`)).body;
      return job.status !== 'queued' && job.status !== 'running';
    },
    `job ${sub.body.id} to end`,
    60_000,
    100,
  );
  assert.equal(job.status, 'completed', JSON.stringify(job));
  last = job;
  return job.attempts[0].target;
}

let last: any;
/** The job `firstTarget` ran. */
async function lastJob(run: Promise<string>): Promise<any> {
  await run;
  return last;
}

/** Waits until the worker process logged that it applied `version` (its own record of the reload). */
async function workerApplied(version: number): Promise<void> {
  const log = () => readFileSync(join(stack.logDir, 'worker-0.log'), 'utf8');
  await waitFor(
    () => log().includes(`live config version ${version} applied`),
    `the worker to apply live config version ${version}`,
    30_000,
    100,
  );
}

const target = (config: any, id: string) => config.targets.find((t: any) => t.id === id);

test('a bad config is refused with the key named; a restart-only change names its key; the running config keeps serving', async () => {
  const { version, config } = await current();
  assert.equal(version, 0);
  const bad = structuredClone(config);
  bad.timeouts.callMs = -5;
  const refused = await api('/v1/admin/config', { method: 'PUT', json: bad });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error.code, 'STORMPROOF_ERR_CONFIG_INVALID');
  assert.match(refused.body.error.message, /timeouts\.callMs/);

  const moved = structuredClone(config);
  moved.api.port = config.api.port + 1;
  moved.temporal.taskQueue = 'elsewhere';
  const restart = await api('/v1/admin/config', { method: 'PUT', json: moved });
  assert.equal(restart.status, 400);
  assert.equal(restart.body.error.code, 'STORMPROOF_ERR_CONFIG_RESTART_REQUIRED');
  assert.deepEqual(restart.body.error.details.keys.sort(), ['api.port', 'temporal.taskQueue']);

  const after = await current();
  assert.equal(after.version, 0, 'nothing was published');
  assert.equal(after.config.timeouts.callMs, config.timeouts.callMs);
  assert.equal(await firstTarget(), PRIMARY, 'the running config still routes');
});

test("a target's weight change reaches the worker process: the next request is routed by it, and the API shows it", async () => {
  assert.equal(await firstTarget(), PRIMARY);
  const { version, config } = await current();
  const next = structuredClone(config);
  // Weighted routing puts a target of weight 0 last, whatever the random draw.
  next.routing.strategy = 'weighted';
  target(next, PRIMARY).weight = 0;
  const res = await api('/v1/admin/config', { method: 'PUT', json: next, headers: { 'if-match': `"${version}"` } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.version, version + 1);
  assert.deepEqual(res.body.changed.sort(), ['routing.strategy', `targets.${PRIMARY}.weight`]);
  // A writer that read an older version is refused (the config workflow's update validator).
  const stale = await api('/v1/admin/config', { method: 'PUT', json: next, headers: { 'if-match': `"${version}"` } });
  assert.equal(stale.status, 409);
  assert.equal(stale.body.error.code, 'STORMPROOF_ERR_CONFIG_CONFLICT');

  await workerApplied(version + 1);
  assert.equal(await firstTarget(), SECONDARY, 'the worker routes by the new weight');
  const providers = (await api('/v1/providers')).body.data;
  assert.equal(providers.find((p: any) => p.id === PRIMARY).weight, 0);
});

test('a breaker setting change reaches the running breaker, and the breaker decides by it', async () => {
  const { version, config } = await current();
  const next = structuredClone(config);
  next.routing.strategy = 'priority';
  target(next, PRIMARY).weight = 2;
  // The test stack runs with breakers that never trip (100 000 failures); two now open one.
  next.breaker.consecutiveFailures = 2;
  const before = (await api(`/v1/providers/${PRIMARY}`)).body.breaker;
  const res = await api('/v1/admin/config', { method: 'PUT', json: next });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(res.body.changed.includes('breaker.consecutiveFailures'), JSON.stringify(res.body.changed));
  await workerApplied(version + 1);
  let view: any;
  await waitFor(
    async () => {
      view = (await api(`/v1/providers/${PRIMARY}`)).body.breaker;
      return view.settingsHash === view.configuredSettingsHash;
    },
    'the breaker to publish the new settings',
    30_000,
    200,
  );
  assert.notEqual(view.settingsHash, before.settingsHash, 'the breaker runs other settings than before');
  assert.ok(!before.recentTransitions.some((t: any) => t.to === 'open'));

  stack.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 500 });
  try {
    // Each job's attempt on the primary is one failure for its breaker; two in a row now trip it.
    const jobs: any[] = [];
    for (let i = 0; i < 3; i++) jobs.push(await lastJob(firstTarget()));
    assert.equal(jobs[0].attempts[0].target, PRIMARY, 'the first attempt goes to the primary');
    await waitFor(
      async () => {
        view = (await api(`/v1/providers/${PRIMARY}`)).body.breaker;
        // A server error is scoped to the model (workflows/breaker-models.ts): gpt-4o's breaker trips.
        const transitions = [...view.recentTransitions, ...(view.models?.['gpt-4o']?.transitions ?? [])];
        return transitions.some((t: any) => t.from === 'closed' && t.to === 'open' && /failures in a row/.test(t.reason));
      },
      'the breaker to record closed → open under the new threshold',
      30_000,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(view)} jobs ${JSON.stringify(jobs.map((j) => j.attempts))} logs ${stack.logDir}`);
    });
  } finally {
    stack.mocks[PRIMARY].clearFaults();
    await api(`/v1/providers/${PRIMARY}/breaker`, { method: 'POST', json: { action: 'reset' } });
  }
});

test('SIGHUP: a worker re-reads the config file and publishes its live keys; a bad file is refused and logged', async () => {
  const { version } = await current();
  const raw = parse(readFileSync(stack.configPath, 'utf8'));
  const original = structuredClone(raw);
  try {
    raw.targets.find((t: any) => t.id === SECONDARY).weight = 9;
    raw.timeouts.callMs = -1;
    writeFileSync(stack.configPath, stringify(raw));
    stack.signalWorker(0, 'SIGHUP');
    const log = () => readFileSync(join(stack.logDir, 'worker-0.log'), 'utf8');
    await waitFor(() => log().includes('config reload refused'), 'the worker to refuse the bad file', 30_000, 100);
    assert.match(log(), /timeouts\.callMs/);
    assert.equal((await current()).version, version);

    raw.timeouts.callMs = original.timeouts?.callMs ?? 30_000;
    writeFileSync(stack.configPath, stringify(raw));
    stack.signalWorker(0, 'SIGHUP');
    await waitFor(() => log().includes(`config reload published as version ${version + 1}`), 'the worker to publish the file', 30_000, 100);
    // The API process picks it up from the config workflow (it was not signalled).
    await waitFor(
      async () => (await api('/v1/providers')).body.data.find((p: any) => p.id === SECONDARY).weight === 9,
      'the API to show the new weight',
      30_000,
      200,
    );
  } finally {
    writeFileSync(stack.configPath, stringify(original));
  }
});
