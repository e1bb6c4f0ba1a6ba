/**
 * The dashboard against a real Prometheus: Debian's `prometheus` scrapes a running test stack
 * (gateway and Temporal SDK series) every second and evaluates the recording rules, while a little
 * load runs through it (answers, a stream, a failover with degradation, a failed request, a
 * breaker opened and closed). Then every query of every panel must return data.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { installRuntimeWithMetrics } from '../shared/runtime';
import { panelQueries } from '../monitoring/grafana/dashboard-file';
import { chat, startTestStack, type TestStack } from './support/stack';
import { startPrometheus, type TestPrometheus } from './support/prometheus';

let s: TestStack;
let prom: TestPrometheus;

before(async () => {
  // Before the stack: this process exports the Temporal SDK's metrics too (its /metrics merges them).
  await installRuntimeWithMetrics();
  s = await startTestStack();
  prom = await startPrometheus({
    targets: [new URL(s.gateway.apiUrl).host],
    ruleFiles: ['recording.yml', 'alerts.yml'].map((f) => resolve(__dirname, '..', 'monitoring', 'prometheus', 'rules', f)),
  });
});
after(async () => {
  await prom?.stop();
  await s?.close();
});

/** Grafana's variables, as Grafana would fill them for a short time range. */
function expand(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '10m').replaceAll('$__interval', '5s');
}

async function load(): Promise<void> {
  const jobs = [
    chat('gpt-4o', 'one'),
    chat('gpt-4o-mini', 'two'),
    chat('claude-sonnet-4', 'three'),
    chat('gpt-4o', 'a stream', { stream: true }),
  ];
  for (const j of await Promise.all(jobs.map((r) => s.runJob(r)))) assert.equal(j.status, 'completed');
  // A failover (openai down) onto a target that fails too, then a degradation to the last tier.
  s.mocks['openai-us-east-1'].setFaults({ down: true });
  s.mocks['anthropic-eu-west-1'].setFaults({ errorRate: 1, errorStatus: 500 });
  assert.equal((await s.runJob(chat('gpt-4o', 'degrade me'))).status, 'completed');
  // Nothing left: a failed request (the availability SLI needs both kinds).
  s.mocks['selfhosted-onprem'].setFaults({ down: true });
  assert.equal((await s.runJob(chat('gpt-4o', 'fail me'))).status, 'failed');
  s.resetFaults();
  for (const action of ['open', 'close'])
    assert.equal((await s.api('/v1/providers/anthropic-eu-west-1/breaker', { method: 'POST', json: { action } })).status, 202);
}

test('every panel query of the dashboard returns data from Prometheus scraping the running stack', async () => {
  await load();
  const panels = panelQueries();
  assert.ok(panels.length >= 20);
  let empty: string[] = [];
  const deadline = Date.now() + 30_000;
  do {
    await new Promise((r) => setTimeout(r, 1_000));
    empty = [];
    for (const p of panels) {
      for (const expr of p.exprs) if ((await prom.query(expand(expr))).length === 0) empty.push(`${p.title}: ${expr}`);
    }
    // Keep traffic flowing while Prometheus catches up (rates need two scrapes of each series).
    if (empty.length) await s.runJob(chat('gpt-4o', 'keep going'));
  } while (empty.length && Date.now() < deadline);
  assert.deepEqual(empty, [], `panels without data:\n${empty.join('\n')}`);
});
