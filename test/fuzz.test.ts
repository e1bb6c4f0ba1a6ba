/**
 * Property-based fuzzing of every endpoint (fast-check): the committed seed corpus
 * (test/fixtures/fuzz/seeds.json), then FUZZ_RUNS (default 10,000) generated requests: bodies
 * mutated from valid ones (wrong types, numeric edges, deep nesting, odd strings, unknown keys),
 * raw bytes and encodings, headers (content types, keys, Idempotency-Keys) and query strings.
 * Invariants: no 5xx, every error in the stable shape with a known code, no crash (no uncaught
 * exception or unhandled rejection), bounded memory and event-loop delay, and every request the
 * gateway accepted reaches a terminal state. Reproduce a run with FUZZ_SEED=<printed seed>.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ErrorCode } from '../contracts/errors';
import { AiRequestSchema } from '../contracts/request';
import { startTestStack, type TestStack } from './support/stack';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
const CONCURRENCY = 16;
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const KEYS = { tenant: 'fuzz-tenant-key-0123456789', admin: 'fuzz-admin-key-0123456789' };
const CODES = new Set<string>(Object.values(ErrorCode));

/** One request as sent (method, raw path, headers, body bytes). */
interface Req {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

let s: TestStack;
let port: number;
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

before(async () => {
  s = await startTestStack({
    edit: (raw) => {
      raw.auth = {
        rateLimitPerMinute: 1_000_000,
        keys: [
          { id: 'tenant', sha256: sha(KEYS.tenant) },
          { id: 'admin', sha256: sha(KEYS.admin), admin: true },
        ],
      };
      raw.limits = { eventStreamMaxMs: 2_000 };
    },
  });
  port = Number(new URL(s.gateway.apiUrl).port);
  const docs = await s.api('/v1/collections/fuzz/documents', {
    method: 'POST',
    json: { documents: [{ id: 'f', source: 'f.md', text: 'alpha beta gamma delta' }] },
    headers: { authorization: `Bearer ${KEYS.tenant}` },
  });
  assert.equal(docs.status, 200);
});
after(async () => {
  agent.destroy();
  await s?.close();
});

function send(r: Req): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: r.method,
        path: r.path,
        headers: { ...r.headers, ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
        agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          if (size < 65_536) chunks.push(d);
          size += d.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(120_000, () => req.destroy(new Error('no answer within 120 s')));
    req.on('error', reject);
    req.end(r.body);
  });
}

// ---- the seed corpus -------------------------------------------------------------------------

interface Seed {
  label: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  bodyBase64?: string;
  build?: Array<{ prefix: string; unit: string; count: number; suffix?: string; gzip?: boolean }>;
}

function seedRequest(seed: Seed): Req {
  const { 'x-fuzz-key': who, 'x-fuzz-host': host, ...headers } = seed.headers ?? {};
  let body: Buffer | undefined;
  if (seed.body !== undefined) body = Buffer.from(seed.body);
  if (seed.bodyBase64 !== undefined) body = Buffer.from(seed.bodyBase64, 'base64');
  if (seed.build) {
    const parts = seed.build.map((b) => {
      const text = Buffer.from(b.prefix + b.unit.repeat(b.count) + (b.suffix ?? ''));
      return b.gzip ? gzipSync(text) : text;
    });
    body = Buffer.concat(parts);
  }
  return {
    label: `seed: ${seed.label}`,
    method: seed.method,
    path: seed.path,
    headers: { authorization: `Bearer ${who === 'admin' ? KEYS.admin : KEYS.tenant}`, ...(host ? { host } : {}), ...headers },
    body,
  };
}

// ---- generators ------------------------------------------------------------------------------

const odd = fc.constantFrom(
  '',
  '\u0000',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u202e',
  '__proto__',
  'constructor',
  'prototype',
  '../..',
  '%00',
  'a'.repeat(5_000),
  '😀',
  'null',
  '{"a":1}',
  '<script>',
);
const str = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 2, arbitrary: odd },
);
const num = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(-0, 0, 1, -1, 2 ** 53 + 1, -(2 ** 53) - 1, 1e308, -1e308, 8.64e15 + 1, 2 ** 31, 4097),
);
const deepValue = fc.integer({ min: 1, max: 3_000 }).map((d) => JSON.parse('{"a":'.repeat(d) + '1' + '}'.repeat(d)) as unknown);
const anyJson = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: deepValue },
  { weight: 2, arbitrary: str },
  { weight: 2, arbitrary: num },
);
const sometimes = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: anyJson });

const part = fc.oneof(
  fc.record({ type: fc.constant('text'), text: str }),
  fc.record({ type: fc.constant('image_url'), image_url: fc.record({ url: str }) }),
  anyJson,
);
const message = sometimes(
  fc.record(
    {
      role: sometimes(fc.constantFrom('user', 'system', 'assistant', 'tool')),
      content: sometimes(fc.oneof(str, fc.constant(null), fc.array(part, { maxLength: 3 }))),
      name: str,
      tool_call_id: str,
    },
    { requiredKeys: ['role', 'content'] },
  ),
);
/** Requests that are (almost always) valid: they reach the workflows, whose end is checked. */
const validRequest = fc
  .record(
    {
      model: fc.constantFrom('gpt-4o', 'gpt-4o-mini', 'smart', 'fast', 'claude-3-5-haiku'),
      messages: fc.array(fc.record({ role: fc.constantFrom('user', 'system'), content: fc.string({ maxLength: 40 }) }), {
        minLength: 1,
        maxLength: 2,
      }),
      max_tokens: fc.integer({ min: 1, max: 512 }),
      temperature: fc.double({ min: 0, max: 2, noNaN: true }),
      rag: fc.record({ collection: fc.constant('fuzz'), topK: fc.integer({ min: 1, max: 5 }) }),
    },
    { requiredKeys: ['model', 'messages'] },
  )
  .map((r) => r as Record<string, unknown>);
const fuzzyRequest = fc
  .record(
    {
      model: fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('gpt-4o', 'gpt-4o-mini', 'smart', 'fast', 'llama-3.1-8b', 'claude-3-5-haiku') },
        { weight: 1, arbitrary: anyJson },
      ),
      messages: sometimes(fc.array(message, { minLength: 1, maxLength: 3 })),
      max_tokens: sometimes(fc.oneof(fc.integer({ min: 1, max: 4_096 }), num)),
      temperature: sometimes(fc.double({ min: 0, max: 2, noNaN: true })),
      tools: sometimes(
        fc.array(
          fc.record({
            type: fc.constant('function'),
            function: fc.record({
              name: fc.oneof(fc.constant('lookup'), str),
              parameters: fc.oneof(fc.dictionary(fc.string({ maxLength: 6 }), anyJson, { maxKeys: 3 }), deepValue),
            }),
          }),
          { maxLength: 2 },
        ),
      ),
      response_format: sometimes(fc.record({ type: fc.constantFrom('text', 'json_object', 'json_schema') })),
      stop: sometimes(fc.oneof(str, fc.array(str, { maxLength: 5 }))),
      rag: sometimes(
        fc.record(
          { collection: fc.oneof(fc.constant('fuzz'), fc.constant('sample'), str), query: str, topK: num },
          { requiredKeys: ['collection'] },
        ),
      ),
      routing: sometimes(
        fc.record({
          strategy: fc.oneof(fc.constantFrom('priority', 'cost', 'latency', 'weighted'), str),
          pinModel: fc.boolean(),
          allowDegradation: fc.boolean(),
          maxCostUsd: num,
          latencySloMs: num,
        }),
      ),
      unknown_field: anyJson,
    },
    { requiredKeys: ['model', 'messages'] },
  )
  .map((r) => r as Record<string, unknown>);
const aiRequest = fc.oneof({ weight: 1, arbitrary: validRequest }, { weight: 3, arbitrary: fuzzyRequest });

const who = fc.oneof(
  { weight: 6, arbitrary: fc.constant<[string, Record<string, string>]>(['tenant', { authorization: `Bearer ${KEYS.tenant}` }]) },
  { weight: 2, arbitrary: fc.constant<[string, Record<string, string>]>(['admin', { authorization: `Bearer ${KEYS.admin}` }]) },
  { weight: 1, arbitrary: fc.constant<[string, Record<string, string>]>(['x-api-key', { 'x-api-key': KEYS.tenant }]) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<[string, Record<string, string>]>(
      ['wrong', { authorization: 'Bearer wrong-key-0000000000000' }],
      ['none', {}],
    ),
  },
);
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'application/JSON',
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      'multipart/form-data; boundary=x',
      '',
    ),
  },
);
const headerValue = fc.string({ maxLength: 40 }).map((v) => v.replace(/[^\x20-\x7e]/g, 'x'));
const extraHeaders = fc.record(
  {
    'idempotency-key': headerValue,
    'last-event-id': headerValue,
    accept: headerValue,
    'content-encoding': fc.constantFrom('identity', 'gzip', 'deflate', 'br', 'x-unknown'),
  },
  { requiredKeys: [] },
);
const segment = fc.oneof(
  fc.constantFrom(
    'job-x',
    'batch-x',
    'job-',
    `job-${'a'.repeat(130)}`,
    'gpt-4o',
    'openai-us-east-1',
    'fuzz',
    'sample',
    '%00',
    '%E0%A4%A',
    '..%2F..',
    '%2e%2e',
  ),
  fc.string({ maxLength: 16 }).map(encodeURIComponent),
);
const queryString = fc
  .dictionary(
    fc.oneof(
      fc.constantFrom('status', 'target', 'model', 'since', 'until', 'limit', 'pageToken', 'offset', 'lastEventId'),
      fc.string({ maxLength: 8 }),
    ),
    fc.oneof(str, num.map(String)),
    { maxKeys: 4 },
  )
  .map((q) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) p.append(k, String(v));
    const text = p.toString();
    return text ? `?${text}` : '';
  });

/** A body: structured JSON (usually), raw text or raw bytes, sometimes gzip of it. */
const bodyOf = (value: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 8, arbitrary: value.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }).map((t) => Buffer.from(t)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  );

/** Callback URLs: refused ones, and `.invalid` hosts that never resolve (no test POSTs to the internet). */
const callbackUrl = fc.oneof(
  fc.constantFrom(
    'http://127.0.0.1:9/cb',
    'http://169.254.169.254/latest',
    'https://user:pw@hooks.invalid/',
    'http://[::ffff:7f00:1]/',
    'https://hooks.invalid/cb',
  ),
  fc.webPath().map((p) => `https://hooks.invalid${p}`),
);

type Endpoint = [string, string, fc.Arbitrary<Buffer | undefined>];
const none = fc.constant(undefined);
const ENDPOINTS: Endpoint[] = [
  [
    'POST',
    '/v1/jobs',
    bodyOf(fc.record({ request: sometimes(aiRequest), callbackUrl: fc.oneof(str, callbackUrl) }, { requiredKeys: ['request'] })),
  ],
  ['POST', '/v1/chat/completions', bodyOf(aiRequest)],
  [
    'POST',
    '/v1/batches',
    bodyOf(fc.record({ requests: sometimes(fc.array(aiRequest, { maxLength: 3 })), concurrency: num }, { requiredKeys: ['requests'] })),
  ],
  [
    'POST',
    '/v1/collections/{s}/documents',
    bodyOf(fc.record({ documents: sometimes(fc.array(fc.record({ id: str, source: str, text: str }), { maxLength: 2 })) })),
  ],
  ['POST', '/v1/collections/{s}/query', bodyOf(fc.record({ query: str, topK: num }, { requiredKeys: [] }))],
  ['POST', '/v1/providers/{s}/breaker', bodyOf(fc.record({ action: fc.oneof(fc.constantFrom('reset', 'close'), str) }))],
  [
    'POST',
    '/v1/codec/decode',
    bodyOf(fc.record({ payloads: sometimes(fc.array(fc.record({ metadata: fc.dictionary(str, str), data: str }), { maxLength: 3 })) })),
  ],
  ['GET', '/v1/jobs{q}', none],
  ['GET', '/v1/jobs/{s}', none],
  ['DELETE', '/v1/jobs/{s}', none],
  ['GET', '/v1/jobs/{s}/events', none],
  ['GET', '/v1/batches/{s}{q}', none],
  ['DELETE', '/v1/batches/{s}', none],
  ['GET', '/v1/models/{s}', none],
  ['GET', '/v1/providers/{s}', none],
  ['GET', '/v1/collections', none],
  ['GET', '/{s}', none],
];

const generated: fc.Arbitrary<Req> = fc
  .tuple(fc.integer({ min: 0, max: ENDPOINTS.length - 1 }), segment, queryString, who, contentType, extraHeaders, fc.boolean())
  .chain(([i, seg, q, [whoName, auth], ct, extra, gzip]) => {
    const [method, template, body] = ENDPOINTS[i];
    return body.map((b): Req => {
      const encoding = gzip && b ? 'gzip' : extra['content-encoding'] === 'gzip' ? 'identity' : extra['content-encoding'];
      return {
        label: `${method} ${template} as ${whoName}`,
        method,
        path: template.replace('{s}', seg).replace('{q}', q),
        headers: { ...auth, ...extra, ...(b ? { 'content-type': ct } : {}), ...(encoding ? { 'content-encoding': encoding } : {}) },
        body: b && gzip ? gzipSync(b) : b,
      };
    });
  });

// ---- the run ---------------------------------------------------------------------------------

test(`fuzzing every endpoint: the seed corpus + ${RUNS} generated requests (seed ${SEED}): no 5xx, no crash, bounded memory and delay, every accepted job ends`, async () => {
  const seeds = (JSON.parse(readFileSync(join(__dirname, 'fixtures', 'fuzz', 'seeds.json'), 'utf8')) as { seeds: Seed[] }).seeds.map(
    seedRequest,
  );
  const requests = [...seeds, ...fc.sample(generated, { seed: SEED, numRuns: RUNS })];
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  const delay = monitorEventLoopDelay({ resolution: 20 });
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  delay.enable();
  const failures: string[] = [];
  const accepted = { jobs: new Set<string>(), batches: new Set<string>() };
  const statuses = new Map<number, number>();
  let sent = 0;
  try {
    let next = 0;
    const lane = async () => {
      while (next < requests.length) {
        const r = requests[next++];
        let a: Answer;
        try {
          a = await send(r);
        } catch (err) {
          failures.push(`${r.label} ${r.method} ${r.path.slice(0, 120)}: no answer (${(err as Error).message})`);
          continue;
        }
        sent++;
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        if (sent % 500 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        if (a.status >= 500)
          failures.push(
            `${r.label} ${r.method} ${r.path.slice(0, 120)}: ${a.status} ${a.text.slice(0, 200)} body=${r.body?.subarray(0, 200).toString()}`,
          );
        const json = a.headers['content-type']?.startsWith('application/json')
          ? (JSON.parse(a.text) as { id?: string; error?: { code?: string } })
          : undefined;
        if (a.status >= 400 && a.status < 500 && a.status !== 431 && !(json?.error?.code && CODES.has(json.error.code)))
          failures.push(`${r.label} ${r.method} ${r.path.slice(0, 120)}: ${a.status} without a stable code: ${a.text.slice(0, 200)}`);
        if (a.status === 202 && json?.id?.startsWith('job-')) accepted.jobs.add(json.id);
        if (a.status === 202 && json?.id?.startsWith('batch-')) accepted.batches.add(json.id);
        const chatJob = a.headers['x-stormproof-job-id'];
        if (typeof chatJob === 'string' && a.status < 300) accepted.jobs.add(chatJob);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  } finally {
    delay.disable();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
  const ends = await everyAcceptedEnds(accepted);
  const summary = `seed ${SEED}: ${sent} answers ${JSON.stringify(Object.fromEntries(statuses))}; accepted ${accepted.jobs.size} jobs, ${accepted.batches.size} batches; delay max ${Math.round(delay.max / 1e6)} ms; rss +${Math.round((rssPeak - rssBefore) / 1e6)} MB`;
  process.stdout.write(`[fuzz] ${summary}\n`);
  assert.deepEqual(failures.slice(0, 20), [], `${failures.length} failures (${summary})`);
  assert.deepEqual(crashes, [], 'no uncaught exception or unhandled rejection');
  assert.ok(sent >= seeds.length + RUNS, `${sent} requests answered`);
  assert.deepEqual(ends, [], 'every accepted job and batch ended');
  assert.ok(accepted.jobs.size >= 20, `the generators reach the workflows (${accepted.jobs.size} jobs accepted)`);
  // Bounds that catch a freeze or a leak (a blocking query held the process for tens of seconds;
  // 10k requests must not keep hundreds of MB), not slowness on a shared machine.
  assert.ok(delay.max / 1e6 < 10_000, `the event loop was blocked for ${Math.round(delay.max / 1e6)} ms`);
  assert.ok(rssPeak - rssBefore < 768e6, `memory grew by ${Math.round((rssPeak - rssBefore) / 1e6)} MB`);
  assert.equal((await s.api('/healthz')).status, 200);
});

/** Waits for every accepted job and batch to reach a terminal state; returns those that did not. */
async function everyAcceptedEnds(accepted: { jobs: Set<string>; batches: Set<string> }): Promise<string[]> {
  const admin = { authorization: `Bearer ${KEYS.admin}` };
  const pending = new Set([...accepted.jobs].map((id) => `/v1/jobs/${id}`).concat([...accepted.batches].map((id) => `/v1/batches/${id}`)));
  const deadline = Date.now() + 180_000;
  while (pending.size && Date.now() < deadline) {
    for (const path of [...pending]) {
      const { status, body } = await s.api(path, { headers: admin });
      if (status === 200 && !['queued', 'running'].includes(body.status)) pending.delete(path);
    }
    if (pending.size) await new Promise((r) => setTimeout(r, 500));
  }
  return [...pending];
}

test('the generators cover every endpoint and both valid and invalid bodies', () => {
  const sample = fc.sample(generated, { seed: 1, numRuns: 2_000 });
  for (const [method, template] of ENDPOINTS)
    assert.ok(
      sample.some((r) => r.label.startsWith(`${method} ${template} `)),
      `${method} ${template}`,
    );
  const valid = fc.sample(aiRequest, { seed: 1, numRuns: 1_000 }).filter((r) => AiRequestSchema.safeParse(r).success);
  assert.ok(
    valid.length > 150 && valid.length < 600,
    `enough requests are valid to reach the workflows, and most are not (${valid.length} of 1000)`,
  );
});
