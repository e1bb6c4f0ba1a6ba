/**
 * Throughput of one vs two workers on the real cluster (scripts/cluster.ts: the compose topology
 * as local processes, Temporal 1.32.2 on PostgreSQL): closed-loop non-streaming chat requests
 * through the API process at a fixed concurrency, first with one worker process, then with two.
 * A benchmark, not a test: numbers depend on the machine (all processes share its cores).
 *
 *   npm run cluster:throughput -- [--seconds 20] [--concurrency 32] [--warmup 5]
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import OpenAI from 'openai';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startCluster } from './cluster';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const SECONDS = arg('seconds', 20);
const CONCURRENCY = arg('concurrency', 32);
const WARMUP_S = arg('warmup', 5);
const say = (line: string) => process.stdout.write(`${line}\n`);

interface Round {
  workers: number;
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Keeps `CONCURRENCY` requests in flight for `seconds`; counts those that ended inside the window. */
async function closedLoop(openai: OpenAI, seconds: number): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const client = async (c: number) => {
    for (let i = 0; Date.now() < end; i++) {
      const t0 = Date.now();
      try {
        await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `client ${c} request ${i}` }] });
        if (Date.now() <= end) latencies.push(Date.now() - t0);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, c) => client(c)));
  return { latencies: latencies.sort((a, b) => a - b), errors };
}

async function waitForPollers(client: Client, taskQueue: string, identities: string[]): Promise<void> {
  for (;;) {
    const { pollers } = await client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    const seen = new Set((pollers ?? []).map((p) => p.identity));
    if (identities.every((id) => seen.has(id))) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function round(openai: OpenAI, workers: number): Promise<Round> {
  say(`[throughput] ${workers} worker(s): warm-up ${WARMUP_S} s, then ${SECONDS} s at concurrency ${CONCURRENCY}…`);
  await closedLoop(openai, WARMUP_S);
  const { latencies, errors } = await closedLoop(openai, SECONDS);
  return {
    workers,
    requests: latencies.length,
    errors,
    perSecond: latencies.length / SECONDS,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
  };
}

async function main(): Promise<void> {
  const key = `sk-${randomUUID()}`;
  const cluster = await startCluster({
    vars: { STORMPROOF_API_KEYS: `bench:${key}`, STORMPROOF_INTERNAL_TOKEN: randomUUID() },
    profiles: ['mocks'],
    initialReplicas: { worker: 1 },
    log: say,
  });
  const connection = await Connection.connect({ address: cluster.address('temporal', 7233) });
  try {
    const client = new Client({ connection });
    const identity = (r: number) => `${cluster.process('worker', r)!.pid}@${hostname()}`;
    await waitForPollers(client, 'stormproof', [identity(0)]);
    const openai = new OpenAI({ baseURL: `http://${cluster.address('api', 8080)}/v1`, apiKey: key, maxRetries: 0, timeout: 60_000 });
    const one = await round(openai, 1);
    await cluster.start('worker', 1);
    await waitForPollers(client, 'stormproof', [identity(0), identity(1)]);
    const two = await round(openai, 2);
    say('');
    say(`| workers | requests/s | p50 ms | p99 ms | errors | (closed loop, concurrency ${CONCURRENCY}, ${SECONDS} s) |`);
    say('| --- | --- | --- | --- | --- | --- |');
    for (const r of [one, two]) say(`| ${r.workers} | ${r.perSecond.toFixed(1)} | ${r.p50} | ${r.p99} | ${r.errors} | |`);
    say(`\ntwo vs one: ×${(two.perSecond / one.perSecond).toFixed(2)}`);
  } finally {
    await connection.close();
    await cluster.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`[throughput] ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
