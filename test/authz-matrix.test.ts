/**
 * The authorization matrix, generated: every registered route × {no key, the owner's key, another
 * tenant's key, an admin key} × path variants (letter case before and inside a mount, trailing
 * slash, percent-encoding, a doubled slash, an encoded slash in a parameter, HEAD for GET), each
 * with the exact status expected. Refused breaker overrides leave the breaker untouched (no
 * override signal reaches it); other tenants' jobs, batches, events and collections are 404s.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ACCESS_TABLE, registeredRoutes, type RegisteredRoute } from '../api/access';
import { PUBLIC_PATHS } from '../api/auth';
import { createApp } from '../api/app';
import { OVERRIDE_SIGNAL } from '../contracts/breaker';
import { breakerIdFor } from '../shared/breakers';
import { createMetrics } from '../shared/telemetry';
import { chat, startTestStack, type TestStack } from './support/stack';

const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const KEYS = { alice: 'alice-key-0123456789abcdef', bob: 'bob-key-0123456789abcdef', ops: 'ops-key-0123456789abcdef' };
type Who = 'none' | 'owner' | 'other' | 'admin';
const WHO: Record<Who, Record<string, string>> = {
  none: {},
  owner: { authorization: `Bearer ${KEYS.alice}` },
  other: { authorization: `Bearer ${KEYS.bob}` },
  admin: { authorization: `Bearer ${KEYS.ops}` },
};
const TARGET = 'openai-us-east-1';

let s: TestStack;
let routes: RegisteredRoute[];
const ids = { job: '', batch: '', collection: 'alice-docs' };

before(async () => {
  s = await startTestStack({
    edit: (raw) => {
      raw.auth = {
        rateLimitPerMinute: 100_000,
        keys: [
          { id: 'alice', sha256: sha(KEYS.alice) },
          { id: 'bob', sha256: sha(KEYS.bob) },
          { id: 'ops', sha256: sha(KEYS.ops), admin: true },
        ],
      };
    },
  });
  const app = createApp({
    client: s.gateway.client,
    config: s.config,
    taskQueue: s.gateway.taskQueue,
    eagerStart: false,
    metrics: createMetrics(),
    routing: s.gateway.routing,
    log: { error() {} },
  });
  routes = registeredRoutes(app);
  // Alice's resources, finished (so DELETE is a 409 for whoever may see them, and nothing changes).
  const job = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'alice only') }, headers: WHO.owner });
  assert.equal(job.status, 202, JSON.stringify(job.body));
  ids.job = job.body.id;
  const batch = await s.api('/v1/batches', { method: 'POST', json: { requests: [chat('gpt-4o', 'alice batch')] }, headers: WHO.owner });
  assert.equal(batch.status, 202, JSON.stringify(batch.body));
  ids.batch = batch.body.id;
  const docs = await s.api(`/v1/collections/${ids.collection}/documents`, {
    method: 'POST',
    json: { documents: [{ id: 'd', source: 'd.md', text: 'alice private notes' }] },
    headers: WHO.owner,
  });
  assert.equal(docs.status, 200, JSON.stringify(docs.body));
  for (const path of [`/v1/jobs/${ids.job}`, `/v1/batches/${ids.batch}`]) {
    for (let i = 0; (await s.api(path, { headers: WHO.owner })).body.status === 'running' || i === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
  }
  await s.waitForJob(ids.job).catch(() => undefined);
});
after(async () => {
  await s?.close();
});

/** A concrete path for a route pattern. */
function fill(pattern: string): string {
  return pattern
    .replace('/v1/jobs/:id', `/v1/jobs/${ids.job}`)
    .replace('/v1/batches/:id', `/v1/batches/${ids.batch}`)
    .replace(':name', ids.collection)
    .replace('/v1/providers/:id', `/v1/providers/${TARGET}`)
    .replace('/v1/models/:id', '/v1/models/gpt-4o')
    .replace(':jobId', 'job-nobody')
    .replace(':asset', 'warroom.js');
}

function body(key: string): unknown {
  if (key === 'POST /v1/jobs') return { request: chat('gpt-4o', 'matrix') };
  if (key === 'POST /v1/chat/completions') return chat('gpt-4o', 'matrix');
  if (key === 'POST /v1/messages') return { model: 'claude-sonnet-4', max_tokens: 64, messages: [{ role: 'user', content: 'matrix' }] };
  if (key === 'POST /v1/batches') return { requests: [chat('gpt-4o', 'matrix')] };
  if (key.endsWith('/documents')) return { documents: [{ id: 'm', source: 'm.md', text: 'matrix' }] };
  if (key.endsWith('/query')) return { query: 'notes' };
  if (key.endsWith('/breaker')) return { action: 'reset' };
  // The config in force, unchanged: a live reload that changes nothing.
  if (key === 'PUT /v1/admin/config') return s.config;
  if (key.startsWith('POST /v1/codec/')) return { payloads: [] };
  return undefined;
}

/**
 * Who may call each route: the promise, written down here independently of api/access.ts (a wrong
 * row there must fail this test). `owned`: tenants, on their own resources only (others: 404).
 */
const SPEC: Record<string, 'public' | 'internal' | 'tenant' | 'owned' | 'admin'> = {
  'GET /openapi.json': 'public',
  'GET /healthz': 'public',
  'GET /readyz': 'public',
  'GET /metrics': 'public',
  'POST /internal/streams/:jobId': 'internal',
  'GET /internal/streams/:jobId': 'internal',
  'GET /warroom': 'public',
  'GET /warroom/:asset': 'public',
  'GET /warroom/data.json': 'public',
  'GET /v1/jobs': 'tenant',
  'POST /v1/jobs': 'tenant',
  'GET /v1/jobs/:id': 'owned',
  'DELETE /v1/jobs/:id': 'owned',
  'GET /v1/jobs/:id/events': 'owned',
  'POST /v1/chat/completions': 'tenant',
  'POST /v1/messages': 'tenant',
  'GET /v1/models': 'tenant',
  'GET /v1/models/:id': 'tenant',
  'POST /v1/batches': 'tenant',
  'GET /v1/batches/:id': 'owned',
  'DELETE /v1/batches/:id': 'owned',
  'GET /v1/collections': 'tenant',
  'POST /v1/collections/:name/documents': 'owned',
  'POST /v1/collections/:name/query': 'owned',
  'GET /v1/providers': 'tenant',
  'GET /v1/providers/:id': 'tenant',
  'POST /v1/providers/:id/breaker': 'admin',
  'GET /v1/admin/config': 'admin',
  'PUT /v1/admin/config': 'admin',
  'POST /v1/codec/encode': 'admin',
  'POST /v1/codec/decode': 'admin',
  'OPTIONS /v1/codec/encode': 'public',
  'OPTIONS /v1/codec/decode': 'public',
};

/** What the canonical path answers `who`. */
function expected(key: string, who: Who): number {
  const role = SPEC[key];
  const [method] = key.split(' ');
  const ok =
    method === 'OPTIONS'
      ? 204
      : key === 'POST /v1/jobs' || key === 'POST /v1/batches'
        ? 202
        : key.endsWith('/breaker')
          ? 202
          : key.startsWith('DELETE ')
            ? 409
            : 200;
  if (role === 'public') return ok;
  if (role === 'internal') return 401; // the relay's own token, which no API key is
  if (who === 'none') return 401;
  if (role === 'admin') return who === 'admin' ? ok : 403;
  if (role === 'owned' && who === 'other') return 404;
  return ok;
}

interface Variant {
  name: string;
  /** The variant of `path` (filled from the route's pattern), or undefined when it has none. */
  path: (path: string, pattern: string) => string | undefined;
  /** true: express still matches the same route (same answers); false: no route at all. */
  same: (r: RegisteredRoute, pattern: string) => boolean;
}

const segments = (p: string) => p.split('/').length - 1;
/** Index (in `path.split('/')`) of the pattern's last static segment. */
const lastStatic = (pattern: string) => {
  const parts = pattern.split('/');
  for (let i = parts.length - 1; i > 0; i--) if (parts[i] !== '' && !parts[i].startsWith(':')) return i;
  return -1;
};
const firstLetter = (p: string, f: (c: string) => string) => p.replace(/^\/([a-z])/, (_, c: string) => `/${f(c)}`);

const VARIANTS: Variant[] = [
  { name: 'canonical', path: (p) => p, same: () => true },
  { name: 'trailing slash', path: (p) => `${p}/`, same: () => true },
  { name: 'upper-case first segment', path: (p) => firstLetter(p, (c) => c.toUpperCase()), same: () => false },
  {
    name: 'upper-case last static segment',
    path: (p, pattern) => {
      const parts = p.split('/');
      const i = lastStatic(pattern);
      if (i < 1) return undefined;
      parts[i] = parts[i].toUpperCase();
      return parts.join('/');
    },
    // Mount paths match case-sensitively (app setting); routes inside a mounted router in any case.
    same: (r, pattern) => r.mount !== '' && lastStatic(pattern) > segments(r.mount),
  },
  { name: 'percent-encoded letter', path: (p) => firstLetter(p, (c) => `%${c.charCodeAt(0).toString(16)}`), same: () => false },
  { name: 'doubled leading slash', path: (p) => `/${p}`, same: () => false },
  {
    name: 'encoded slash after a parameter',
    path: (p, pattern) => {
      const parts = p.split('/');
      const j = pattern.split('/').findIndex((seg, i, all) => seg.startsWith(':') && i < all.length - 1);
      if (j < 0) return undefined;
      return [...parts.slice(0, j), `${parts[j]}%2F${parts[j + 1]}`, ...parts.slice(j + 2)].join('/');
    },
    same: () => false,
  },
];

/**
 * Paths answered without a key: the exact public paths, the relay (its own token), preflights, and
 * the war room, mounted before authentication (its mount matches case-sensitively).
 */
const keyless = (method: string, path: string) =>
  PUBLIC_PATHS.has(path) || path.startsWith('/internal/') || method === 'OPTIONS' || /^\/warroom(\/|$)/.test(path);

function expectedFor(r: RegisteredRoute, v: Variant, pattern: string, method: string, who: Who, path: string): number {
  if (who === 'none' && !keyless(method, path)) return 401;
  if (!v.same(r, pattern)) return 404;
  return expected(r.key, who);
}

/** Override signals the target's breaker has received in its current run (and which run that is). */
async function overrides(runId?: string): Promise<{ runId: string; count: number; continuedFrom?: string }> {
  const handle = s.gateway.client.workflow.getHandle(breakerIdFor(s.config, TARGET), runId);
  const events = (await handle.fetchHistory()).events ?? [];
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  return {
    runId: runId ?? (await handle.describe()).runId,
    count: events.filter((e) => e.workflowExecutionSignaledEventAttributes?.signalName === OVERRIDE_SIGNAL).length,
    ...(started?.continuedExecutionRunId ? { continuedFrom: started.continuedExecutionRunId } : {}),
  };
}

/**
 * Override signals since `from`, across runs: the breaker continues as new now and then, and a new
 * run's history starts empty, so follow the chain back from the current run to the one counted first.
 */
async function overridesSince(from: { runId: string; count: number }): Promise<number> {
  let total = 0;
  for (let run = await overrides(); ; run = await overrides(run.continuedFrom)) {
    if (run.runId === from.runId) return total + run.count - from.count;
    total += run.count;
    assert.ok(run.continuedFrom, `the breaker's run ${from.runId} is not in its chain`);
  }
}

describe('authorization matrix', () => {
  test('every registered route has exactly one row in the access table, and every row a route; the spec covers them all', () => {
    const keys = [...new Set(routes.map((r) => r.key))].sort();
    assert.deepEqual(keys, Object.keys(ACCESS_TABLE).sort());
    assert.deepEqual(keys, Object.keys(SPEC).sort(), 'a new route needs a row in SPEC too: who may call it?');
  });

  test('every route × caller × path variant answers exactly as the table says; refused overrides never reach the breaker', async (t) => {
    const before = await overrides();
    let adminOverrides = 0;
    const failures: string[] = [];
    let cases = 0;
    for (const r of routes) {
      const [method, pattern] = r.key.split(' ');
      const canonical = fill(pattern);
      for (const v of VARIANTS) {
        const path = v.path(canonical, pattern);
        if (path === undefined) continue;
        for (const who of Object.keys(WHO) as Who[]) {
          for (const m of method === 'GET' ? ['GET', 'HEAD'] : [method]) {
            const want = expectedFor(r, v, pattern, m, who, path);
            const b = body(r.key);
            const res = await s.api(path, {
              method: m,
              headers: { ...WHO[who], origin: 'http://127.0.0.1:8233' },
              ...(b !== undefined ? { json: b } : {}),
            });
            cases++;
            if (res.status !== want)
              failures.push(
                `${m} ${path} as ${who} (${v.name}): ${res.status}, expected ${want} ${typeof res.body === 'object' ? JSON.stringify(res.body).slice(0, 160) : ''}`,
              );
            if (r.key.endsWith('/breaker') && res.status === 202 && who === 'admin') adminOverrides++;
          }
        }
      }
    }
    t.diagnostic(`${cases} requests`);
    assert.deepEqual(failures, [], `${failures.length} of ${cases} cases`);
    assert.ok(cases >= 400, `the matrix has ${cases} cases`);
    assert.equal(await overridesSince(before), adminOverrides, 'only the admin overrides reached the breaker');
    assert.ok(adminOverrides > 0);
  });
});

describe('tenants', () => {
  test("another tenant's list never shows the owner's jobs; the admin's does", async () => {
    const bob = await s.api('/v1/jobs?limit=200', { headers: WHO.other });
    assert.equal(bob.status, 200);
    assert.ok(!bob.body.data.some((j: { id: string }) => j.id === ids.job));
    const alice = await s.api('/v1/jobs?limit=200', { headers: WHO.owner });
    assert.ok(alice.body.data.some((j: { id: string }) => j.id === ids.job));
    const ops = await s.api('/v1/jobs?limit=200', { headers: WHO.admin });
    assert.ok(ops.body.data.some((j: { id: string }) => j.id === ids.job));
  });

  test("a batch's items belong to its owner", async () => {
    const item = `job-${ids.batch}-0`;
    assert.equal((await s.api(`/v1/jobs/${item}`, { headers: WHO.owner })).status, 200);
    assert.equal((await s.api(`/v1/jobs/${item}`, { headers: WHO.other })).status, 404);
    assert.equal((await s.api(`/v1/jobs/${item}`, { method: 'DELETE', headers: WHO.other })).status, 404);
  });

  test("the same Idempotency-Key from two tenants is two jobs; a 409 never names the other's job", async () => {
    const key = { 'idempotency-key': `shared-${Date.now()}` };
    const a = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'first') }, headers: { ...WHO.owner, ...key } });
    const b = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'second') }, headers: { ...WHO.other, ...key } });
    assert.equal(a.status, 202);
    assert.equal(b.status, 202, 'not a 409: the key is scoped to its tenant');
    assert.notEqual(a.body.id, b.body.id);
    const again = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('gpt-4o', 'different') },
      headers: { ...WHO.other, ...key },
    });
    assert.equal(again.status, 409);
    assert.ok(!JSON.stringify(again.body).includes(a.body.id));
  });

  test("a RAG request on another tenant's collection is a 404; the shared ones stay readable", async () => {
    const res = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('gpt-4o', 'x', { rag: { collection: ids.collection } }) },
      headers: WHO.other,
    });
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'STORMPROOF_ERR_COLLECTION_NOT_FOUND');
    const list = await s.api('/v1/collections', { headers: WHO.other });
    assert.ok(!list.body.data.some((c: { name: string }) => c.name === ids.collection));
    // An admin ingest is shared: every tenant reads it, none may change it.
    assert.equal(
      (
        await s.api('/v1/collections/shared-docs/documents', {
          method: 'POST',
          json: { documents: [{ id: 's', source: 's.md', text: 'shared' }] },
          headers: WHO.admin,
        })
      ).status,
      200,
    );
    assert.equal(
      (await s.api('/v1/collections/shared-docs/query', { method: 'POST', json: { query: 'shared' }, headers: WHO.other })).status,
      200,
    );
    const write = await s.api('/v1/collections/shared-docs/documents', {
      method: 'POST',
      json: { documents: [{ id: 'p', source: 'p.md', text: 'poison' }] },
      headers: WHO.other,
    });
    assert.equal(write.status, 403);
  });
});
