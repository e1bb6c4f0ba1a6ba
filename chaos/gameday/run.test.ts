/**
 * The runner's control flow on a fake stack and a fake load (no processes): rollbacks and the full
 * reset always run, whether the load crashes or an abort condition stops it, and an abort skips
 * the rest of the method without waiting for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdownOf, type RunResult } from './report';
import type { RequestRecord } from './records';
import { runScenario, type RunDeps } from './run';
import { parseScenario } from './schema';
import type { GamedayStack } from './stack';

const TARGET = 'openai-us-east-1';

function fakeStack(events: string[]): GamedayStack {
  const stack = {
    config: { targets: [{ id: TARGET }], routing: { refreshIntervalMs: 500 }, temporal: { taskQueue: 'q' } },
    routing: { strategy: 'priority', from: 'config' },
    apiUrl: 'http://127.0.0.1:9',
    breakers: { refresh: async () => undefined, get: () => ({ state: 'closed', transitions: [] }) },
    targets: {
      [TARGET]: {
        recorder: { calls: [] },
        mock: { setFaults: (f: unknown) => events.push(`setFaults ${JSON.stringify(f)}`), clearFaults: () => events.push('clearFaults') },
      },
    },
    workers: [],
    startWorker: async () => undefined,
    resetFaults: async () => void events.push('reset'),
    stop: async () => void events.push('stop'),
    tierOf: () => undefined,
  };
  return stack as unknown as GamedayStack;
}

const scenario = (abort: Record<string, unknown>, at: number) =>
  parseScenario(
    {
      title: 't',
      steadyState: { seconds: 1 },
      load: { rate: 10, seconds: 30 },
      method: [{ at, action: 'mock-faults', target: TARGET, faults: { errorRate: 1 } }],
      rollbacks: [{ action: 'mock-clear', target: TARGET }],
      abort,
    },
    { targets: [TARGET], name: 't' },
  );

function deps(events: string[], load: RunDeps['runLoad'], reports: RunResult[] = []): Partial<RunDeps> {
  let calls = 0;
  return {
    startStack: async () => fakeStack(events),
    // The first call is the warm-up.
    runLoad: async (o) => (calls++ === 0 ? [] : load(o)),
    writeReport: async (r) => {
      reports.push(r);
      return { dir: '', json: '', md: '', svg: '' };
    },
  };
}

test('a load that crashes mid-run still gets its rollbacks, the full reset and a stopped stack', async () => {
  const events: string[] = [];
  const crash: RunDeps['runLoad'] = async () => {
    await new Promise((r) => setTimeout(r, 1_500)); // the fault at 1 s is in place
    throw new Error('load crashed');
  };
  await assert.rejects(runScenario(scenario({}, 1), { outDir: '/tmp', log: () => undefined }, deps(events, crash)), /load crashed/);
  assert.deepEqual(events, ['setFaults {"errorRate":1}', 'clearFaults', 'reset', 'stop']);
});

test('an abort stops the load and skips the rest of the method; rollbacks and the reset run; the verdict is red', async () => {
  const events: string[] = [];
  const reports: RunResult[] = [];
  const failing: RunDeps['runLoad'] = async (o) => {
    const out: RequestRecord[] = [];
    for (let i = 0; !o.stopped?.() && i < 300; i++) {
      const r: RequestRecord = {
        id: i,
        kind: 'chat',
        nonce: `n${i}`,
        startedAt: o.now(),
        endedAt: o.now(),
        ok: false,
        complete: false,
        truncated: false,
      };
      r.error = { message: 'refused', code: 'connection', explicit: false };
      out.push(r);
      o.onStart?.(r);
      await new Promise((res) => setTimeout(res, 100));
    }
    return out;
  };
  const run = await runScenario(
    scenario({ errorRateAbove: 0.5, forS: 1 }, 20),
    { outDir: '/tmp', log: () => undefined },
    deps(events, failing, reports),
  );
  assert.deepEqual(events, ['clearFaults', 'reset', 'stop'], 'the fault at 20 s never ran; the rollback did');
  assert.equal(run.pass, false);
  const aborted = run.verdicts.find((v) => v.key === 'aborted');
  assert.match(aborted?.detail ?? '', /client error rate above 50% for 1 s/);
  assert.deepEqual(
    reports[0].actions.map((a) => [a.phase, a.action]),
    [
      ['rollback', 'mock-clear'],
      ['rollback', 'reset'],
    ],
  );
});

test('the latency abort condition: p99 of the last 5 s above the limit for forS', async () => {
  const events: string[] = [];
  const slow: RunDeps['runLoad'] = async (o) => {
    const out: RequestRecord[] = [];
    for (let i = 0; !o.stopped?.() && i < 300; i++) {
      const now = o.now();
      const r: RequestRecord = {
        id: i,
        kind: 'chat',
        nonce: `n${i}`,
        startedAt: now - 4_000,
        endedAt: now,
        ok: true,
        complete: true,
        truncated: false,
      };
      out.push(r);
      o.onStart?.(r);
      await new Promise((res) => setTimeout(res, 100));
    }
    return out;
  };
  const run = await runScenario(scenario({ p99AboveS: 2, forS: 1 }, 20), { outDir: '/tmp', log: () => undefined }, deps(events, slow));
  assert.match(run.verdicts.find((v) => v.key === 'aborted')?.detail ?? '', /p99 of the last 5 s above 2 s for 1 s/);
  assert.deepEqual(events, ['clearFaults', 'reset', 'stop']);
});

test("the scenario's gateway block reaches the stack, and the strategy in force is in the report's header and JSON", async () => {
  const events: string[] = [];
  const reports: RunResult[] = [];
  let asked: unknown;
  const d = deps(events, async () => [], reports);
  d.startStack = async (o) => {
    asked = o.gateway;
    return { ...fakeStack(events), routing: { strategy: 'weighted', from: 'scenario' } } as GamedayStack;
  };
  const s = parseScenario(
    { title: 't', steadyState: { seconds: 1 }, load: { rate: 10, seconds: 2 }, gateway: { routing: { strategy: 'weighted' } } },
    { targets: [TARGET], name: 'aa' },
  );
  await runScenario(s, { outDir: '/tmp', log: () => undefined }, d);
  assert.deepEqual(asked, { routing: { strategy: 'weighted' } });
  assert.deepEqual(reports[0].stack.routing, { strategy: 'weighted', from: 'scenario' });
  assert.match(markdownOf(reports[0]).split('\n')[2], / · routing weighted \(the scenario's gateway\.routing\) · /);
});
