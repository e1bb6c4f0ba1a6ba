/**
 * `npm run bench`: the gateway's overhead measured side by side in one run, on one Temporal dev
 * server and the same mock upstream:
 *   direct  – the official openai client straight to the mock (no gateway)
 *   floor   – an empty workflow started eagerly from the worker's process (the Temporal floor)
 *   gateway – POST /v1/chat/completions through the embedded gateway (durable request workflow)
 * Each at fixed request rates (open loop), reporting p50/p99 and the ratios DESIGN.md targets.
 */
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { parseConfig } from '../config/load';
import { startGateway } from '../scripts/gateway';
import { mockedConfig } from '../test/support/stack';
import { startDevServer } from '../test/support/temporal';
import { installRuntime } from '../worker/runtime';

const RATES = (process.env.BENCH_RATES ?? '20,40').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = 30;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Run {
  p50: number;
  p99: number;
  ok: number;
  failed: number;
  achieved: number;
}

/** Fires `fn` at `rate`/s for SECONDS (open loop), returning latency percentiles. */
async function atRate(rate: number, fn: () => Promise<unknown>): Promise<Run> {
  const total = rate * SECONDS;
  const lat: number[] = [];
  let failed = 0;
  const t0 = performance.now();
  const inflight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = performance.now();
    inflight.push(
      fn().then(
        () => void lat.push(performance.now() - s),
        () => void (failed += 1),
      ),
    );
  }
  await Promise.all(inflight);
  const took = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99), ok: lat.length, failed, achieved: lat.length / took };
}

/** Closed loop with `concurrency` callers for SECONDS: throughput. */
async function throughput(concurrency: number, fn: () => Promise<unknown>): Promise<number> {
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await fn().catch(() => undefined);
        done += 1;
      }
    }),
  );
  return done / SECONDS;
}

const f = (n: number) => n.toFixed(1).padStart(7);

async function main(): Promise<void> {
  const log = (l: string) => process.stdout.write(`${l}\n`);
  log(`[bench] starting a Temporal dev server (SQLite WAL), mocks and the embedded gateway…`);
  installRuntime();
  const env = await startDevServer({ dbFilename: `/tmp/stormproof-bench-${randomUUID()}.db` });
  const { raw, mocks } = await mockedConfig(env.address);
  raw.breaker = { ...raw.breaker, probes: false };
  const config = parseConfig(raw, 'bench');
  const gw = await startGateway({ config, apiPort: 0 });
  const direct = new OpenAI({ baseURL: mocks['openai-us-east-1'].baseUrl, apiKey: 'x', maxRetries: 0 });
  const viaGateway = new OpenAI({ baseURL: `${gw.apiUrl}/v1`, apiKey: 'x', maxRetries: 0 });
  const body = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'benchmark' }] };
  const calls: Record<string, () => Promise<unknown>> = {
    direct: () => direct.chat.completions.create(body),
    floor: () => gw.client.workflow.execute('noopWorkflow', { taskQueue: gw.taskQueue, workflowId: `bench-${randomUUID()}`, requestEagerStart: true }),
    gateway: () => viaGateway.chat.completions.create(body),
  };
  try {
    for (const [name, fn] of Object.entries(calls)) {
      log(`[bench] warm-up ${name}…`);
      for (let i = 0; i < WARMUP; i++) await fn();
    }
    const results: Record<string, Record<number, Run>> = { direct: {}, floor: {}, gateway: {} };
    for (const rate of RATES) {
      for (const [name, fn] of Object.entries(calls)) {
        log(`[bench] ${name} at ${rate} req/s for ${SECONDS} s…`);
        results[name][rate] = await atRate(rate, fn);
      }
    }
    log('');
    log('rate  | path    |  p50 ms |  p99 ms | ok/failed | achieved/s');
    for (const rate of RATES) {
      for (const name of Object.keys(calls)) {
        const r = results[name][rate];
        log(`${String(rate).padStart(5)} | ${name.padEnd(7)} | ${f(r.p50)} | ${f(r.p99)} | ${r.ok}/${r.failed} | ${r.achieved.toFixed(1)}`);
      }
    }
    log('');
    log('overhead = gateway − direct; targets: overhead p50 ≤ 1.25 × floor p50, p99 ≤ 1.5 × floor p99');
    for (const rate of RATES) {
      const d = results.direct[rate];
      const g = results.gateway[rate];
      const fl = results.floor[rate];
      log(
        `${String(rate).padStart(5)} req/s: overhead p50 ${f(g.p50 - d.p50)} ms = ${((g.p50 - d.p50) / fl.p50).toFixed(2)} × floor p50 (${fl.p50.toFixed(1)} ms); ` +
          `overhead p99 ${f(g.p99 - d.p99)} ms = ${((g.p99 - d.p99) / fl.p99).toFixed(2)} × floor p99 (${fl.p99.toFixed(1)} ms)`,
      );
    }
    log(`[bench] throughput, 16 closed-loop callers for ${SECONDS} s each…`);
    const tFloor = await throughput(16, calls.floor);
    const tGateway = await throughput(16, calls.gateway);
    log(`throughput: gateway ${tGateway.toFixed(1)}/s, empty workflow ${tFloor.toFixed(1)}/s → ${(tGateway / tFloor).toFixed(2)} × (target ≥ 0.8)`);
  } finally {
    await gw.stop();
    await Promise.all(Object.values(mocks).map((m) => m.close()));
    await env.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
