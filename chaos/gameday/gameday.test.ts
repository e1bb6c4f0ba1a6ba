/**
 * The game-day runner end to end: the hard-down and stream-cut scenarios of the library, each on a
 * fresh stack (its own Temporal dev server, real toxiproxy, worker and API processes, real HTTP),
 * judged by the report's verdicts and figures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runScenario } from './run';
import { loadScenario } from './schema';

const SCENARIOS = resolve(__dirname, '..', 'scenarios');
const TARGETS = ['openai-us-east-1', 'anthropic-eu-west-1', 'selfhosted-onprem'];
const outDir = mkdtempSync(join(tmpdir(), 'stormproof-gameday-test-'));
const quiet = () => undefined;
// The promises. The steady-state hypothesis (p99 <= 5 s before the fault) says whether the
// machine could serve the healthy load at all; it is reported (diagnostic), not asserted here.
const failed = (verdicts: Array<{ key: string; pass: boolean; detail: string }>) =>
  verdicts.filter((v) => !v.pass && v.key !== 'steadyState').map((v) => `${v.key}: ${v.detail}`);
const steady = (verdicts: Array<{ key: string; pass: boolean; detail: string }>) =>
  verdicts.filter((v) => v.key === 'steadyState').map((v) => `steady state ${v.pass ? 'held' : 'NOT held'}: ${v.detail}`)[0] ?? '';

test('hard down: every request is answered, by the secondary once the primary is gone; the report is written', async (t) => {
  const run = await runScenario(loadScenario(join(SCENARIOS, 'hard-down.yaml'), TARGETS), { outDir, log: quiet });
  t.diagnostic(steady(run.verdicts));
  assert.deepEqual(failed(run.verdicts), [], 'every verdict passes');
  assert.equal(run.m.errors, 0);
  assert.equal(run.m.finished, run.m.sent);
  assert.ok(run.m.sent >= 290, `open loop at 10 req/s for 30 s sent ${run.m.sent}`);
  assert.ok((run.m.byTarget['anthropic-eu-west-1'] ?? 0) > 0, `answers per target: ${JSON.stringify(run.m.byTarget)}`);
  assert.ok(run.m.breakerTransitions.length >= 3, 'the breakers were sampled');
  // The proxy really was down: no call reached the primary's provider between proxy-down and proxy-up.
  const [down, up] = run.actions.filter((a) => a.phase === 'method');
  const through = run.m.providerCalls['openai-us-east-1'];
  assert.ok(through && through.calls > 0, 'the primary served before the fault');
  const duringDown = run.calls.filter((c) => c.target === 'openai-us-east-1' && c.at > down.doneAt && c.at < up.at).length;
  assert.equal(duringDown, 0, 'no provider call got through a disabled proxy');
  assert.deepEqual(
    run.actions.filter((a) => a.phase === 'method').map((a) => [a.action, a.ok]),
    [
      ['proxy-down', true],
      ['proxy-up', true],
    ],
  );
  for (const f of [run.files.json, run.files.md, run.files.svg]) assert.ok(existsSync(f), `${f} exists`);
  const json = JSON.parse(readFileSync(run.files.json, 'utf8'));
  assert.equal(json.pass, run.pass);
  assert.equal(json.verdicts.length, run.verdicts.length);
  assert.equal(json.m.sent, run.m.sent);
  assert.match(readFileSync(run.files.svg, 'utf8'), /^<svg[^>]*>/);
  assert.match(readFileSync(run.files.md, 'utf8'), /\| maxClientErrors \| 0 \| 0 \| pass \|/);
});

test('stream cut mid-answer: every stream complete, none truncated, the cut streams failed over', async (t) => {
  const run = await runScenario(loadScenario(join(SCENARIOS, 'stream-cut.yaml'), TARGETS), { outDir, log: quiet });
  t.diagnostic(steady(run.verdicts));
  assert.deepEqual(failed(run.verdicts), [], 'every verdict passes');
  assert.equal(run.m.truncated, 0);
  assert.equal(run.m.unendedStreams, 0);
  const streams = run.requests.filter((r) => r.kind === 'stream');
  assert.equal(streams.length, run.m.sent);
  assert.ok(
    streams.every((r) => r.complete && r.sawDone),
    'every stream ended with its last word and [DONE]',
  );
  const hit = streams.filter(
    (r) => r.startedAt >= 10_000 && r.startedAt < 25_000 && (r.target !== 'openai-us-east-1' || (r.failovers ?? 0) > 0),
  );
  assert.ok(hit.length > 0, 'the cut took effect: answers during the fault came from a failover');
});

test('brownout (shortened): the primary answers after 30 s; 0 errors, p99 back within 1.5x steady ≤ 10 s after the fault', async (t) => {
  const run = await runScenario(loadScenario(join(SCENARIOS, 'brownout-short.yaml'), TARGETS), { outDir, log: quiet });
  t.diagnostic(steady(run.verdicts));
  assert.deepEqual(failed(run.verdicts), [], 'every verdict passes');
  assert.equal(run.m.errors, 0);
  const recovery = run.verdicts.find((v) => v.key === 'recoveryWithinS');
  assert.ok(recovery?.pass, recovery?.detail);
  const opened = run.m.breakerTransitions.find((x) => x.target === 'openai-us-east-1' && x.to === 'open');
  assert.ok(
    opened && opened.at > 10_000 && opened.at < 20_000,
    `the primary's breaker opened during the fault: ${JSON.stringify(run.m.breakerTransitions)}`,
  );
});

test('worker SIGKILLed under chat, stream and job load: no accepted job lost, every stream ends explicitly', async (t) => {
  const run = await runScenario(loadScenario(join(SCENARIOS, 'worker-kill.yaml'), TARGETS), { outDir, log: quiet });
  t.diagnostic(steady(run.verdicts));
  assert.deepEqual(failed(run.verdicts), [], 'every verdict passes');
  assert.equal(run.m.jobs.lost, 0);
  assert.equal(run.m.unendedStreams, 0);
  assert.ok(run.m.jobs.accepted > 0, 'jobs were accepted');
  assert.deepEqual(
    run.actions.filter((a) => a.phase === 'method').map((a) => [a.action, a.ok]),
    [
      ['kill-worker', true],
      ['start-worker', true],
    ],
  );
});
