/** Unit tests of the game-day measurements and of the scenario schema. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  measure,
  percentile,
  recoveryTime,
  transitionsOf,
  windowsOf,
  type BreakerSample,
  type ProviderCall,
  type RequestRecord,
} from './measure';
import { BASE_THRESHOLDS, parseScenario, ScenarioError, type Thresholds } from './schema';
import { collectTransitions, sampleOf, type RecordedTransition } from './breaker-sample';
import { markdownOf, type RunResult } from './report';
import type { BreakerPublished, ModelPublished } from '../../contracts/breaker';

const TARGETS = ['openai-us-east-1', 'anthropic-eu-west-1', 'selfhosted-onprem'];
let seq = 0;
function req(startedAt: number, latency: number, extra: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: seq++,
    kind: 'chat',
    nonce: `n${seq}`,
    startedAt,
    endedAt: startedAt + latency,
    ok: true,
    complete: true,
    truncated: false,
    target: 'openai-us-east-1',
    ...extra,
  };
}
const T = (o: Partial<Thresholds> = {}): Thresholds => ({ ...BASE_THRESHOLDS, ...o });

test('percentile is nearest-rank', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([], 50), undefined);
});

test('windows group by start time and count errors and targets', () => {
  const rs = [
    req(100, 50),
    req(4_900, 500),
    req(5_100, 10, { ok: false, target: undefined, error: { message: 'x', explicit: true } }),
    req(12_000, 5, { target: 'b' }),
  ];
  const w = windowsOf(rs, 15_000);
  assert.equal(w.length, 3);
  assert.deepEqual([w[0].requests, w[0].p99, w[0].byTarget], [2, 500, { 'openai-us-east-1': 2 }]);
  assert.deepEqual([w[1].errors, w[1].errorRate], [1, 1]);
  assert.deepEqual(w[2].byTarget, { b: 1 });
});

test('recovery is the first window from which every window stays within 1.5x steady p99', () => {
  const mk = (p99s: Array<number | undefined>) =>
    p99s.map((p99, i) => ({ start: i * 5000, end: (i + 1) * 5000, requests: 1, ok: 1, errors: 0, errorRate: 0, p99, byTarget: {} }));
  // steady p99 100 ms: limit 150. Fault from 10 s to 40 s.
  const w = mk([100, 100, 900, 160, 140, 200, 150, 120]);
  assert.equal(recoveryTime(w, 10_000, 40_000, 100), 20_000, 'from the window at 30 s (150 <= 150) on');
  assert.equal(recoveryTime(mk([100, 100, 100, 100]), 10_000, 20_000, 100), 0);
  assert.equal(recoveryTime(mk([100, 100, 900, 900]), 10_000, 20_000, 100), null);
});

test('breaker transitions and calls made while a breaker was open (after the grace)', () => {
  const samples = [0, 250, 500, 3000, 6000].map((at, i) => ({ at, states: { a: i >= 1 && i < 4 ? 'open' : 'closed', b: 'closed' } }));
  assert.deepEqual(
    transitionsOf(samples).map((t) => `${t.target}:${t.to}@${t.at}`),
    ['a:closed@0', 'b:closed@0', 'a:open@250', 'a:closed@6000'],
  );
  const call = (at: number, probe = false): ProviderCall => ({
    target: 'a',
    at,
    route: 'POST /v1/chat/completions',
    probe,
    completed: false,
  });
  const { m } = measure({
    requests: [req(0, 1)],
    calls: [call(300), call(2000), call(2500, true), { ...call(2600), route: 'POST /v1/embeddings' }, call(5000), call(7000)],
    breakers: samples,
    faults: [],
    steadyStateMs: 1000,
    loadMs: 10_000,
    thresholds: T(),
  });
  assert.deepEqual(m.callsAfterBreakerOpen, { a: 2 });
});

test('calls inside a Retry-After are violations; probes are counted apart', () => {
  const c = (at: number, extra: Partial<ProviderCall> = {}): ProviderCall => ({
    target: 'p',
    at,
    endedAt: at + 5,
    route: 'POST /v1/chat/completions',
    probe: false,
    completed: false,
    ...extra,
  });
  const calls = [
    c(1000, { status: 429, retryAfterS: 10 }),
    c(1100),
    c(3000),
    c(4000, { probe: true }),
    c(12_000),
    c(12_100, { status: 200, completed: true }),
  ];
  const { m, verdicts } = measure({
    requests: [req(0, 1)],
    calls,
    breakers: [],
    faults: [],
    steadyStateMs: 1000,
    loadMs: 20_000,
    thresholds: T({ respectRetryAfter: true }),
  });
  assert.equal(m.retryAfterViolations.calls, 1, 'the call at 1.1 s was already on its way (grace); 3 s is a violation; 12 s is after');
  assert.equal(m.retryAfterViolations.probes, 1);
  const v = verdicts.find((x) => x.key === 'respectRetryAfter')!;
  assert.equal(v.pass, false);
});

test('a full run: availability, failover, truncation, lost jobs and verdicts', () => {
  const rs: RequestRecord[] = [];
  for (let t = 0; t < 10_000; t += 100) rs.push(req(t, 100));
  for (let t = 10_000; t < 20_000; t += 100)
    rs.push(req(t, t < 12_000 ? 2_000 : 120, { target: t < 11_000 ? 'openai-us-east-1' : 'anthropic-eu-west-1' }));
  rs.push(req(15_000, 50, { kind: 'stream', truncated: true, complete: false, sawDone: true }));
  rs.push(req(15_000, 50, { kind: 'stream', ok: false, error: { message: 'terminated', explicit: false } }));
  rs.push(req(15_000, 50, { kind: 'job', job: { accepted: true, lost: true } }));
  rs.push({ ...req(19_000, 0), endedAt: undefined });
  // A request without a trace answered completely twice: one duplicate.
  rs.push(req(16_000, 50, { nonce: 'dup' }));
  const calls: ProviderCall[] = [
    { target: 'x', at: 1, route: 'r', nonce: 'dup', probe: false, completed: true },
    { target: 'y', at: 2, route: 'r', nonce: 'dup', probe: false, completed: true },
  ];
  const { m, verdicts } = measure({
    requests: rs,
    calls,
    breakers: [],
    faults: [{ start: 10_000, end: 20_000, label: 'down' }],
    steadyStateMs: 10_000,
    loadMs: 20_000,
    thresholds: T({ recoveryWithinS: 10 }),
  });
  assert.equal(m.steadyTarget, 'openai-us-east-1');
  assert.equal(m.failoverTimeMs, 12_000 + 120 - 10_000, 'the first answer from the secondary to reach its client');
  assert.equal(m.steadyP99, 100);
  assert.equal(m.recoveryMs, 5_000);
  assert.equal(m.truncated, 1);
  assert.equal(m.unendedStreams, 1);
  assert.equal(m.jobs.lost, 1);
  assert.equal(m.duplicateProviderCalls, 1);
  const byKey = Object.fromEntries(verdicts.map((v) => [v.key, v]));
  assert.equal(byKey.maxClientErrors.actual, 2, 'one error and one request that never ended');
  assert.equal(byKey.maxClientErrors.pass, false);
  assert.equal(byKey.maxTruncated.pass, false);
  assert.equal(byKey.maxLostJobs.pass, false);
  assert.equal(byKey.recoveryWithinS.pass, true);
  assert.equal(byKey.respectRetryAfter, undefined, 'not promised in this run');
  assert.equal(byKey.steadyState.pass, true, 'no error in the first 10 s');
  const slowSteady = measure({
    requests: [req(0, 6_000), req(20_000, 10)],
    calls: [],
    breakers: [],
    faults: [],
    steadyStateMs: 10_000,
    loadMs: 30_000,
    thresholds: T(),
  });
  assert.equal(slowSteady.verdicts.find((v) => v.key === 'steadyState')?.pass, false, 'a steady p99 above 5 s breaks the hypothesis');
});

const base = { title: 't', load: { rate: 1, seconds: 30 }, method: [{ at: 10, action: 'proxy-down', target: 'openai-us-east-1' }] };
function issues(raw: unknown): string[] {
  try {
    parseScenario(raw, { targets: TARGETS, name: 't' });
  } catch (e) {
    if (e instanceof ScenarioError) return e.issues;
    throw e;
  }
  return [];
}

test('scenario errors name the key', () => {
  assert.deepEqual(issues(base), []);
  const unknownTarget = issues({ ...base, method: [{ at: 10, action: 'proxy-down', target: 'x' }] });
  assert.match(unknownTarget[0], /^method\[0\]\.target: unknown target "x"/);
  assert.match(
    issues({ ...base, method: [{ at: 10, action: 'mock-faults', target: 'openai-us-east-1', faults: { errorRate: 2 } }] })[0],
    /^method\[0\]\.faults\.errorRate:/,
  );
  assert.match(issues({ ...base, method: [{ at: 10, action: 'explode' }] })[0], /^method\[0\]\.action:/);
  assert.match(
    issues({ ...base, method: [{ at: 5, action: 'proxy-down', target: 'openai-us-east-1' }] })[0],
    /^method\[0\]\.at: 5 s is inside the steady state/,
  );
  assert.match(issues({ ...base, load: { rate: 1 } })[0], /^load\.seconds:/);
  assert.match(
    issues({ ...base, method: [{ at: 10, action: 'kill-worker', index: 1 }] })[0],
    /^method\[0\]\.index: worker 1 does not exist/,
  );
});

test('thresholds default from the method and may only be made stricter', () => {
  const brownout = {
    ...base,
    method: [{ at: 10, action: 'toxic', target: 'openai-us-east-1', type: 'latency', attributes: { latency: 30000 } }],
  };
  const s = parseScenario(brownout, { targets: TARGETS, name: 'b' });
  assert.equal(s.thresholds.recoveryWithinS, 10);
  assert.equal(s.thresholds.maxClientErrors, 0);
  assert.match(
    issues({ ...brownout, thresholds: { recoveryWithinS: 20 } })[0],
    /^thresholds\.recoveryWithinS: 20 is looser than the default 10/,
  );
  assert.equal(
    parseScenario({ ...brownout, thresholds: { recoveryWithinS: 5 } }, { targets: TARGETS, name: 'b' }).thresholds.recoveryWithinS,
    5,
  );
  assert.match(issues({ ...base, thresholds: { maxClientErrors: 3 } })[0], /^thresholds\.maxClientErrors: 3 is looser than the default 0/);
  assert.match(issues({ ...base, thresholds: { maxTruncated: null } })[0], /^thresholds\.maxTruncated: null is looser/);
  const r429 = {
    ...base,
    method: [{ at: 10, action: 'mock-faults', target: 'openai-us-east-1', faults: { errorRate: 1, errorStatus: 429, retryAfterS: 10 } }],
  };
  assert.equal(parseScenario(r429, { targets: TARGETS, name: 'r' }).thresholds.respectRetryAfter, true);
  assert.match(issues({ ...r429, thresholds: { respectRetryAfter: false } })[0], /^thresholds\.respectRetryAfter: false is looser/);
  const kill = { ...base, stack: { workers: 2 }, method: [{ at: 10, action: 'kill-worker', index: 1 }] };
  const k = parseScenario(kill, { targets: TARGETS, name: 'k' });
  assert.equal(k.thresholds.maxClientErrors, null, 'kills promise explicit errors, not zero errors');
  assert.equal(k.thresholds.maxLostJobs, 0);
  assert.equal(
    parseScenario({ ...kill, thresholds: { maxClientErrors: 2 } }, { targets: TARGETS, name: 'k' }).thresholds.maxClientErrors,
    2,
  );
});

const chatCall = (nonce: string, extra: Partial<ProviderCall> = {}): ProviderCall => ({
  target: 'openai-us-east-1',
  at: 1,
  route: 'POST /v1/chat/completions',
  nonce,
  probe: false,
  completed: true,
  ...extra,
});
const run = (requests: RequestRecord[], calls: ProviderCall[], o: Partial<Parameters<typeof measure>[0]> = {}) =>
  measure({ requests, calls, breakers: [], faults: [], steadyStateMs: 1000, loadMs: 10_000, thresholds: T(), ...o });

test('duplicate provider calls: calls beyond what the trace explains (retries, failovers, hedges), never embeddings or probes', () => {
  const attempt = (outcome: string, retries?: number) => ({ target: 'openai-us-east-1', model: 'gpt-4o', outcome, retries });
  const explained = req(0, 10, { nonce: 'a', attempts: [attempt('ProviderUnavailable', 2), attempt('ok')] });
  const repeated = req(0, 10, { nonce: 'b', attempts: [attempt('ok')] });
  const calls = [
    ...Array.from({ length: 4 }, () => chatCall('a', { completed: false })),
    chatCall('b'),
    chatCall('b'),
    chatCall('b', { route: 'POST /v1/embeddings' }),
    chatCall('b', { probe: true }),
  ];
  const { m } = run([explained, repeated], calls);
  assert.equal(m.duplicates.calls, 1, '3 tries + 1 failover explain 4 calls of a; b has one call too many');
  assert.equal(m.duplicates.requests, 1);
  assert.match(m.duplicates.detail[0], /trace explains 1/);
  assert.equal(m.providerCalls['openai-us-east-1'].embeddings, 1);
  const promised = run([explained, repeated], calls, { thresholds: T({ maxDuplicateProviderCalls: 0 }) });
  assert.equal(promised.verdicts.find((v) => v.key === 'maxDuplicateProviderCalls')?.pass, false);
  assert.equal(
    run([explained, repeated], calls).verdicts.find((v) => v.key === 'maxDuplicateProviderCalls'),
    undefined,
    'reported, not promised, by default',
  );
});

test('hidden degradations: a lower tier without a model record, keyword retrieval after a failed embedding without a data record', () => {
  const tiers: Record<string, string> = { smart: 'smart', 'gpt-4o': 'smart', 'claude-sonnet-4-20250514': 'smart', 'gpt-4o-mini': 'fast' };
  const tierOf = (model: string) => tiers[model];
  const rs = [
    req(0, 10, { model: 'gpt-4o-mini', degraded: 'model' }),
    req(0, 10, { model: 'gpt-4o-mini', degraded: '' }),
    req(0, 10, { model: 'claude-sonnet-4-20250514' }),
    req(0, 10, { kind: 'rag', nonce: 'r1', model: 'gpt-4o', degraded: 'data' }),
    req(0, 10, { kind: 'rag', nonce: 'r2', model: 'gpt-4o', degraded: '' }),
    req(0, 10, { kind: 'rag', nonce: 'r3', model: 'gpt-4o', degraded: '' }),
  ];
  const emb = (nonce: string, completed: boolean) => chatCall(nonce, { route: 'POST /v1/embeddings', completed });
  const { m, verdicts } = run(rs, [emb('r1', false), emb('r2', false), emb('r3', true)], { requestedModel: 'gpt-4o', tierOf });
  assert.equal(m.undeclared.model, 1, 'gpt-4o-mini without a record; claude-sonnet-4 is the same tier');
  assert.equal(m.undeclared.data, 1, 'r2: the embedding failed and the answer did not say so');
  const v = verdicts.find((x) => x.key === 'maxUndeclaredDegradations')!;
  assert.deepEqual([v.threshold, v.actual, v.pass], [0, 2, false]);
});

test('idempotency: a key that got two jobs is a duplicate job', () => {
  const rs = [
    req(0, 10, { kind: 'job', idempotency: { key: 'k1', sends: 3, jobIds: ['job-a', 'job-a'] } }),
    req(0, 10, { kind: 'job', idempotency: { key: 'k2', sends: 2, jobIds: ['job-b', 'job-c'] } }),
    req(0, 10, { kind: 'chat', idempotency: { key: 'k3', sends: 1, jobIds: ['job-d'] } }),
  ];
  const { m, verdicts } = run(rs, []);
  assert.deepEqual([m.idempotency.keys, m.idempotency.resent, m.idempotency.duplicateJobs], [3, 2, 1]);
  assert.equal(verdicts.find((v) => v.key === 'maxDuplicateJobs')?.pass, false);
});

test('time to failover per request kind, and breaker openings with their close', () => {
  const rs: RequestRecord[] = [];
  for (let t = 0; t < 10_000; t += 500) rs.push(req(t, 100), req(t, 100, { kind: 'stream' }), req(t, 2_000, { kind: 'job' }));
  rs.push(req(10_000, 300, { target: 'anthropic-eu-west-1' }));
  rs.push(req(10_000, 900, { kind: 'stream', target: 'anthropic-eu-west-1' }));
  rs.push(req(10_500, 2_000, { kind: 'job', target: 'anthropic-eu-west-1' }));
  const states = (a: string) => ({ 'openai-us-east-1': a });
  const breakers = [
    { at: 0, states: states('closed') },
    { at: 10_800, states: states('open') },
    { at: 20_000, states: states('half-open') },
    { at: 20_500, states: states('open') },
    { at: 25_000, states: states('half-open') },
    { at: 25_500, states: states('closed') },
  ];
  const { m } = run(rs, [], { breakers, faults: [{ start: 10_000, end: 25_000, label: 'down' }], steadyStateMs: 10_000, loadMs: 30_000 });
  assert.deepEqual(m.failoverByKind, { chat: 300, stream: 900, job: 2_500 });
  assert.equal(m.failoverTimeMs, 300);
  assert.deepEqual(m.breakerOpenings, [{ target: 'openai-us-east-1', openedAt: 10_800, closedAt: 25_500 }]);
  assert.equal(m.byKind.stream?.sent, 21);
});

test('the steady-state hypothesis checks each tolerance given', () => {
  const rs = Array.from({ length: 100 }, (_, i) => req(i * 10, i < 50 ? 100 : 900));
  const ok = run(rs, [], { steadyMax: { p99: 1000 } });
  assert.equal(ok.verdicts[0].pass, true);
  const tight = run(rs, [], { steadyMax: { p99: 1000, p50: 500 } });
  assert.equal(tight.verdicts[0].key, 'steadyState');
  assert.equal(tight.verdicts[0].pass, true, 'p50 is 100 ms');
  const tighter = run(rs, [], { steadyMax: { p99: 1000, p95: 800 } });
  assert.equal(tighter.verdicts[0].pass, false, 'p95 is 900 ms');
  assert.match(tighter.verdicts[0].detail, /steady p95 900 ms \(at most 800 ms\)/);
});

test('scenario schema: the load mix, RAG and Idempotency-Key options, steady-state tolerances and abort conditions name their key', () => {
  const s = parseScenario(
    {
      ...base,
      load: { rate: 1, seconds: 30, mix: { chat: 1, tool: 1, rag: 2, job: 1 }, idempotency: { kinds: ['job'] } },
      steadyState: { seconds: 10, maxP99S: 2, maxP50S: 0.5 },
      abort: { p99AboveS: 30 },
    },
    { targets: TARGETS, name: 's' },
  );
  assert.deepEqual(s.load.mix, { chat: 1, stream: 0, job: 1, tool: 1, rag: 2 });
  assert.deepEqual(s.load.rag, { collection: 'sample', question: 'When does a circuit breaker open?' });
  assert.deepEqual(s.load.idempotency, { kinds: ['job'], maxSends: 6, backoffMs: 500, resendAnswered: 0 });
  assert.deepEqual(s.abort, { errorRateAbove: 0.5, p99AboveS: 30, forS: 10 });
  assert.match(issues({ ...base, load: { rate: 1, seconds: 30, mix: { video: 1 } } })[0], /^load\.mix: Unrecognized key/);
  assert.match(
    issues({ ...base, load: { rate: 1, seconds: 30, mix: { chat: 1 }, idempotency: { kinds: ['job'] } } })[0],
    /^load\.idempotency\.kinds\[0\]: "job" has no weight in load\.mix/,
  );
  assert.match(
    issues({ ...base, load: { rate: 1, seconds: 30, idempotency: { kinds: ['stream'] } } })[0],
    /^load\.idempotency\.kinds\[0\]:/,
  );
  assert.match(
    issues({ ...base, load: { rate: 1, seconds: 30, idempotency: { kinds: ['chat'], resendAnswered: 2 } } })[0],
    /^load\.idempotency\.resendAnswered:/,
  );
  assert.match(issues({ ...base, steadyState: { maxP99S: 1, maxP95S: 2 } })[0], /^steadyState\.maxP95S: 2 s is above steadyState\.maxP99S/);
  assert.match(issues({ ...base, steadyState: { maxP99S: 6 } })[0], /^steadyState\.maxP99S: may only be stricter/);
  assert.match(issues({ ...base, abort: { p99AboveS: 0 } })[0], /^abort\.p99AboveS:/);
  assert.match(issues({ ...base, load: { rate: 1, seconds: 30, rag: { collection: '' } } })[0], /^load\.rag\.collection:/);
});

test('new thresholds: hidden degradations and duplicate jobs promised at 0, duplicate provider calls only reported unless a scenario promises', () => {
  const s = parseScenario(base, { targets: TARGETS, name: 'b' });
  assert.equal(s.thresholds.maxUndeclaredDegradations, 0);
  assert.equal(s.thresholds.maxDuplicateJobs, 0);
  assert.equal(s.thresholds.maxDuplicateProviderCalls, null);
  assert.equal(
    parseScenario({ ...base, thresholds: { maxDuplicateProviderCalls: 0 } }, { targets: TARGETS, name: 'b' }).thresholds
      .maxDuplicateProviderCalls,
    0,
  );
  assert.match(
    issues({ ...base, thresholds: { maxUndeclaredDegradations: 1 } })[0],
    /^thresholds\.maxUndeclaredDegradations: 1 is looser than the default 0/,
  );
  assert.match(issues({ ...base, thresholds: { maxDuplicateJobs: null } })[0], /^thresholds\.maxDuplicateJobs: null is looser/);
  assert.match(issues({ ...base, thresholds: { maxDuplicates: 0 } })[0], /^thresholds: Unrecognized key/);
});

test('every scenario of the library is valid', async () => {
  const { readdirSync } = await import('node:fs');
  const { join, resolve } = await import('node:path');
  const { loadScenario } = await import('./schema');
  const dir = resolve(__dirname, '..', 'scenarios');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 25, `${files.length} scenarios`);
  for (const f of files) assert.doesNotThrow(() => loadScenario(join(dir, f), TARGETS), f);
});

test('a model outage fails over on the same target: the route is target and model', () => {
  const rs: RequestRecord[] = [];
  for (let t = 0; t < 10_000; t += 500) rs.push(req(t, 100, { model: 'gpt-4o' }));
  rs.push(req(10_000, 2_000, { model: 'gpt-4o-mini', degraded: 'model' }));
  const { m } = run(rs, [], { faults: [{ start: 10_000, end: 20_000, label: 'gpt-4o 503' }], steadyStateMs: 10_000, loadMs: 20_000 });
  assert.equal(m.steadyTarget, 'openai-us-east-1 (gpt-4o)');
  assert.equal(m.failoverTimeMs, 2_000);
  assert.equal(m.failoverByKind.chat, 2_000);
});

test('a real upstream (not a mock in the config) takes toxics and proxy actions, never mock faults', () => {
  const opts = { targets: TARGETS, name: 'r', realTargets: ['openai-us-east-1'] };
  assert.doesNotThrow(() => parseScenario(base, opts));
  const mockFault = { ...base, method: [{ at: 10, action: 'mock-faults', target: 'openai-us-east-1', faults: { down: true } }] };
  assert.throws(
    () => parseScenario(mockFault, opts),
    (e: ScenarioError) => /^method\[0\]\.target: "openai-us-east-1" is a real upstream/.test(e.issues[0]),
  );
  assert.throws(
    () => parseScenario({ ...base, rollbacks: [{ action: 'mock-clear', target: 'openai-us-east-1' }] }, opts),
    (e: ScenarioError) => /^rollbacks\[0\]\.target: "openai-us-east-1" is a real upstream/.test(e.issues[0]),
  );
});

// Model-scoped breakers (workflows/breaker-models.ts): a one-model outage opens the model, not the target.
const PRIMARY = 'openai-us-east-1';
const modelView = (state: ModelPublished['state'], transitions: ModelPublished['transitions'] = []): ModelPublished => ({
  state,
  since: 0,
  trips: state === 'closed' ? 0 : 1,
  healthy: state === 'closed',
  consecutiveFailures: 0,
  transitions,
});
const targetView = (models?: Record<string, ModelPublished>, transitions: BreakerPublished['transitions'] = []) =>
  ({ target: PRIMARY, state: 'closed', since: 0, trips: 0, transitions, ...(models ? { models } : {}) }) as BreakerPublished;

test("the sampler records each model's breaker beside its target's; a model the breaker forgot reads closed", () => {
  const seen = new Set<string>();
  const views: Array<Record<string, BreakerPublished | undefined>> = [
    { [PRIMARY]: targetView() },
    { [PRIMARY]: targetView({ 'gpt-4o': modelView('open') }) },
    { [PRIMARY]: undefined }, // the view is unknown: its models are left out, not taken for closed
    { [PRIMARY]: targetView({ 'gpt-4o': modelView('half-open') }) },
    { [PRIMARY]: targetView() }, // closed and idle: forgotten by the breaker
  ];
  const samples = views.map((v, i) => sampleOf(i * 1000, [PRIMARY], (t) => v[t], seen));
  assert.deepEqual(
    samples.map((x) => x.models),
    [{}, { 'openai-us-east-1/gpt-4o': 'open' }, {}, { 'openai-us-east-1/gpt-4o': 'half-open' }, { 'openai-us-east-1/gpt-4o': 'closed' }],
  );
  assert.deepEqual(samples[2].states, { [PRIMARY]: 'unknown' });
  assert.deepEqual(
    transitionsOf(samples)
      .filter((t) => t.from !== undefined)
      .map((t) => `${t.target} ${t.from}→${t.to}@${t.at}`),
    [
      'openai-us-east-1/gpt-4o closed→open@1000',
      'openai-us-east-1 closed→unknown@2000',
      'openai-us-east-1 unknown→closed@3000',
      'openai-us-east-1/gpt-4o open→half-open@3000',
      'openai-us-east-1/gpt-4o half-open→closed@4000',
    ],
  );
});

test('a call after the breaker recorded leaving open does not count, though the next sample still read open', () => {
  // An operator reset at 25.0 s; the sampler read `closed` only at 25.4 s; calls at 25.2 s are legitimate.
  const samples = [0, 10_300, 25_400].map((at) => ({ at, states: { a: at >= 10_300 && at < 25_400 ? 'open' : 'closed' } }));
  const call = (at: number): ProviderCall => ({ target: 'a', at, route: 'POST /v1/chat/completions', probe: false, completed: true });
  const input = {
    requests: [req(0, 1)],
    calls: [call(12_000), call(25_200), call(25_300)],
    breakers: samples,
    faults: [],
    steadyStateMs: 1000,
    loadMs: 30_000,
    thresholds: T(),
  };
  assert.deepEqual(measure(input).m.callsAfterBreakerOpen, { a: 3 }, 'from the samples alone');
  const recorded = [
    { target: 'a', at: 10_000, from: 'closed', to: 'open' },
    { target: 'a', at: 25_000, from: 'open', to: 'closed' },
  ];
  assert.deepEqual(measure({ ...input, recorded }).m.callsAfterBreakerOpen, { a: 1 });
});

test("model breakers' recorded transitions are kept once each, even after the breaker forgets the model", () => {
  const into = new Map<string, RecordedTransition>();
  const opened = { at: 11_200, from: 'closed' as const, to: 'open' as const, reason: '5 model failures in a row' };
  collectTransitions(into, PRIMARY, targetView({ 'gpt-4o': modelView('open', [opened]) }), 1_000);
  collectTransitions(into, PRIMARY, targetView({ 'gpt-4o': modelView('open', [opened]) }), 1_000);
  collectTransitions(into, PRIMARY, targetView(), 1_000);
  assert.deepEqual(
    [...into.values()],
    [{ target: 'openai-us-east-1/gpt-4o', at: 10_200, from: 'closed', to: 'open', reason: '5 model failures in a row' }],
  );
});

test("a model-scoped fault: the model breaker's opening is measured and reported, and calls to the open model count", () => {
  const key = 'openai-us-east-1/gpt-4o';
  const breakers = [0, 10_000, 11_200, 20_000, 26_000].map((at): BreakerSample => ({
    at,
    states: { [PRIMARY]: 'closed' },
    models: at >= 11_200 && at < 26_000 ? { [key]: 'open' } : at >= 26_000 ? { [key]: 'closed' } : {},
  }));
  const call = (at: number, model: string, extra: Partial<ProviderCall> = {}): ProviderCall => ({
    target: PRIMARY,
    at,
    model,
    route: 'POST /v1/chat/completions',
    probe: false,
    completed: true,
    ...extra,
  });
  const calls = [
    call(11_500, 'gpt-4o'), // inside the grace: already routed
    call(13_000, 'gpt-4o'), // to the open model: counts
    call(13_000, 'gpt-4o-mini'), // another model of the same target: its breaker is closed
    call(14_000, 'gpt-4o', { probe: true }), // the breaker's own known-answer probe
    call(27_000, 'gpt-4o'), // closed again
  ];
  const rs: RequestRecord[] = [];
  for (let t = 0; t < 30_000; t += 1000) rs.push(req(t, 100, t >= 10_000 && t < 25_000 ? { target: 'anthropic-eu-west-1' } : {}));
  const faults = [{ start: 10_000, end: 25_000, label: 'gpt-4o 503' }];
  const { m } = run(rs, calls, { breakers, faults, steadyStateMs: 10_000, loadMs: 30_000, breakerGraceMs: 1_000 });
  assert.deepEqual(m.breakerOpenings, [{ target: key, openedAt: 11_200, closedAt: 26_000 }]);
  assert.deepEqual(m.openedAfterFault, { [key]: 1_200 });
  assert.deepEqual(m.callsAfterBreakerOpen, { [key]: 1 });
  assert.deepEqual(m.split, {
    before: { [PRIMARY]: 10 },
    during: { 'anthropic-eu-west-1': 15 },
    after: { [PRIMARY]: 5 },
  });
  const scenario = parseScenario(
    { ...base, method: [{ at: 10, action: 'mock-faults', target: PRIMARY, faults: { errorRate: 1 } }] },
    { targets: TARGETS, name: 'm' },
  );
  const result = {
    scenario,
    startedAt: '2026-12-06T00:00:00.000Z',
    t0: 0,
    m,
    verdicts: [],
    actions: [],
    faults,
    breakers,
    requests: rs,
    calls,
    stack: { workers: 1, taskQueue: 'q', targets: TARGETS, routing: { strategy: 'priority', from: 'config' as const }, logDir: '/tmp' },
  } satisfies RunResult;
  const md = markdownOf(result);
  assert.match(md, /\| breakers opened after the fault started \(targets and models\) \| openai-us-east-1\/gpt-4o opened after 1\.2 s \|/);
  assert.match(md, /openai-us-east-1\/gpt-4o \+1\.2 s → \+16\.0 s/);
  assert.match(md, /\{"openai-us-east-1\/gpt-4o":1\}/);
  assert.match(
    md,
    /before the fault: openai-us-east-1 100% \(10\); during: anthropic-eu-west-1 100% \(15\); after: openai-us-east-1 100% \(5\)/,
  );
});
