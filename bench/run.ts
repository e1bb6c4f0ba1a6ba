/**
 * `npm run bench`: what durability costs, measured side by side in one run on this machine.
 *
 * Processes: the mock providers (one process), and per variant a Temporal dev server and the
 * gateway as `npm start` runs it (worker + API in one process, eager start). A variant is this
 * checkout ("after"), and with BENCH_BASELINE=<another checkout> also that one ("before"): both
 * run alternately on the same mocks, so before/after ratios come from one run.
 *
 * Phases (BENCH_PHASES, comma-separated; default all but `5xx`):
 *   idle        no traffic for BENCH_IDLE_SECONDS (60): CPU of every process, RSS
 *   fast        direct (the mock), a non-durable peer gateway (bench/peer.ts; BENCH_PEER=0 skips
 *               it), floor (an empty workflow started eagerly in the gateway's process) and
 *               gateway at BENCH_RATES (20,40) for BENCH_SECONDS (10): p50/p99, overhead =
 *               gateway − direct against the floor and the peer's, CPU per request by process
 *   realistic   a provider answering after 1-5 s, and streams of ~2 s after a 1 s first token:
 *               gateway − direct per request (same delays in the same order), time to first token
 *   paths       history events and bytes per request: chat, stream, failover, transient 503, ...
 *   long        answers after 2-10 s: events and workflow tasks per request, provider calls
 *               beyond the answers' attempts (calls repeated by workflow-task timeouts)
 *   throughput  16 closed-loop callers: gateway vs empty workflow; then an open-loop ramp
 *               (BENCH_RAMP, default 20,30,40,50,60) to the highest rate without an error
 *   split       the same variant as separate API and worker processes: CPU per request of the
 *               Temporal server, the worker and the API, and latency without eager start
 *   5xx         chats while the primary answers 40% 503 (the game day's fault, in the bench)
 * Writes reports/bench/<time>/bench.json and prints the tables. Load is open loop and bounded;
 * the machine's load average is recorded with every figure.
 */
import { writeFileSync } from 'node:fs';
import { hostname, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { chat, chatBody, floor } from './load';
import {
  clearFaults,
  settle,
  fivexxPhase,
  idlePhase,
  longCallsPhase,
  measured,
  pathsPhase,
  pidsOf,
  rampPhase,
  realisticPhase,
  rss,
  throughputPhase,
  type IdleRates,
  type MeasuredRun,
} from './phases';
import { loadAverage } from './proc';
import { runDir, startMocks, startVariant, type Mocks, type Topology, type Variant } from './stack';
import { startPeer, type Peer } from './peer';
import { printReport } from './report';
import type { BenchReport, RawConfig, VariantResults } from './types';

const num = (v: string | undefined, d: number) => (v === undefined || v === '' ? d : Number(v));
const list = (v: string | undefined, d: number[]) => (v ? v.split(',').map(Number) : d);

const RATES = list(process.env.BENCH_RATES, [20, 40]);
const SECONDS = num(process.env.BENCH_SECONDS, 10);
const IDLE_SECONDS = num(process.env.BENCH_IDLE_SECONDS, 60);
const RAMP = list(process.env.BENCH_RAMP, [20, 30, 40, 50, 60]);
const PHASES = new Set((process.env.BENCH_PHASES ?? 'idle,fast,realistic,paths,long,throughput,split').split(','));
const WARMUP = 30;

/** The bench's config edits: probes on as in production; what would blur a comparison, off. */
function benchConfig(raw: RawConfig): void {
  // Hedging calls a second target beside a slow one: against a provider that is slow on purpose it
  // would measure the other target. Real LLM latencies (2-10 s) are not slow calls either.
  raw.routing = { ...raw.routing, hedgeAfterMs: 0 };
  raw.breaker = { ...raw.breaker, slowCallMs: 15_000 };
  // BENCH_CONFIG='{"breaker":{"probes":false}}': a config experiment, merged over the default config.
  if (process.env.BENCH_CONFIG) merge(raw as Record<string, unknown>, JSON.parse(process.env.BENCH_CONFIG) as Record<string, unknown>);
}

function merge(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const here = into[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && here && typeof here === 'object' && !Array.isArray(here))
      merge(here as Record<string, unknown>, v as Record<string, unknown>);
    else into[k] = v;
  }
}

async function main(): Promise<void> {
  const log = (l: string) => process.stdout.write(`${l}\n`);
  const dir = runDir();
  const here = resolve(__dirname, '..');
  const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : undefined;
  const roots: Array<[string, string]> = baseline
    ? [
        ['before', baseline],
        ['after', here],
      ]
    : [['gateway', here]];
  log(`[bench] ${roots.map(([n, r]) => `${n} = ${r}`).join(', ')}; logs and JSON in ${dir}`);
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    machine: { host: hostname(), cpus: cpus().length, model: cpus()[0]?.model, load: loadAverage() },
    settings: {
      rates: RATES,
      seconds: SECONDS,
      idleSeconds: IDLE_SECONDS,
      ramp: RAMP,
      phases: [...PHASES],
      ...(process.env.BENCH_CONFIG ? { config: process.env.BENCH_CONFIG } : {}),
    },
    variants: Object.fromEntries(roots),
  };
  const save = () => writeFileSync(join(dir, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`);
  const mocks = await startMocks(dir, 50);
  const start = (topology: Topology) =>
    Promise.all(roots.map(([name, root]) => startVariant({ name, root, topology, mocks, logDir: dir, edit: benchConfig, log })));
  let variants: Variant[] = [];
  try {
    variants = await start('combined');
    for (const v of variants) {
      log(`[bench] ${v.name}: warm-up…`);
      for (let i = 0; i < WARMUP; i++) {
        await chat(`${v.apiUrl}/v1/chat/completions`, chatBody('gpt-4o', 5, false));
        await floor(v.floorUrl!);
      }
    }
    let idle: IdleRates = {};
    if (PHASES.has('idle')) {
      report.idle = await idlePhase(variants, mocks, IDLE_SECONDS, log);
      idle = report.idle.rates;
      save();
    }
    const idleOf = (v: Variant): IdleRates => ({
      ...Object.fromEntries(Object.keys(v.pids).map((r) => [r, idle[`${v.name}.${r}`] ?? 0])),
      mocks: idle.mocks ?? 0,
    });
    if (PHASES.has('fast')) {
      // The peer runs only for this phase: it is not part of the idle or throughput figures.
      const peer = process.env.BENCH_PEER === '0' ? undefined : await startPeer(dir, log);
      try {
        report.fast = await fastPhase(variants, mocks, idleOf, log, peer);
      } finally {
        await peer?.stop();
      }
    }
    save();
    if (PHASES.has('realistic')) report.realistic = await realisticPhase(variants, mocks, 5, 20, {}, log);
    save();
    for (const v of variants) {
      const r: VariantResults = ((report.byVariant ??= {})[v.name] ??= {});
      if (PHASES.has('long')) r.long = await longCallsPhase(v, mocks, 2, 15, idleOf(v), log);
      if (PHASES.has('paths')) r.paths = await pathsPhase(v, mocks, log);
      if (PHASES.has('throughput')) {
        r.throughput = await throughputPhase(v, SECONDS, log);
        r.ramp = await rampPhase(v, RAMP, 5, log);
      }
      if (PHASES.has('5xx')) r.fivexx = await fivexxPhase(v, mocks, 20, 15, idleOf(v), log);
      r.rssMb = rss(pidsOf(v, mocks));
      await clearFaults(mocks);
      await settle(v, log);
      save();
    }
    if (PHASES.has('split')) {
      await Promise.all(variants.map((v) => v.stop()));
      variants = [];
      variants = await start('split');
      for (const v of variants) {
        for (let i = 0; i < WARMUP; i++) await chat(`${v.apiUrl}/v1/chat/completions`, chatBody('gpt-4o', 5, false));
      }
      const splitIdle = PHASES.has('idle') ? await idlePhase(variants, mocks, Math.min(30, IDLE_SECONDS), log) : undefined;
      const si = (v: Variant): IdleRates =>
        Object.fromEntries(Object.keys(v.pids).map((r) => [r, splitIdle?.rates[`${v.name}.${r}`] ?? 0]));
      const runs: NonNullable<BenchReport['split']>['runs'] = {};
      report.split = { ...(splitIdle ? { idle: splitIdle } : {}), runs };
      for (const v of variants) {
        const { run } = await measured(
          `${v.name} (split): chat`,
          RATES[0],
          SECONDS,
          v.pids,
          si(v),
          () => chat(`${v.apiUrl}/v1/chat/completions`, chatBody('gpt-4o', 5, false)),
          log,
        );
        runs[v.name] = { ...run, rssMb: rss(v.pids) };
      }
    }
    report.finishedAt = new Date().toISOString();
    save();
    printReport(report, log);
    log(`\n[bench] JSON: ${join(dir, 'bench.json')}`);
  } finally {
    await Promise.all(variants.map((v) => v.stop()));
    await mocks.stop();
  }
}

/** Direct, the peer gateway (when it runs), then per variant floor and gateway, at each rate. */
async function fastPhase(variants: Variant[], mocks: Mocks, idleOf: (v: Variant) => IdleRates, log: (l: string) => void, peer?: Peer) {
  const direct = `${mocks.origins['openai-us-east-1']}/v1/chat/completions`;
  const out: Record<string, Record<string, MeasuredRun>> = {};
  for (const rate of RATES) {
    const row: Record<string, MeasuredRun> = {};
    row.direct = (
      await measured(
        'direct',
        rate,
        SECONDS,
        { mocks: mocks.pid },
        { mocks: idleOf(variants[0]).mocks },
        () => chat(direct, chatBody('gpt-4o', 5, false)),
        log,
      )
    ).run;
    if (peer) {
      const headers = peer.headers(`${mocks.origins['openai-us-east-1']}/v1`);
      row.peer = (
        await measured(
          'peer gateway',
          rate,
          SECONDS,
          { peer: peer.pid, mocks: mocks.pid },
          { mocks: idleOf(variants[0]).mocks },
          () => chat(`${peer.url}/v1/chat/completions`, chatBody('gpt-4o', 5, false), headers),
          log,
        )
      ).run;
    }
    for (const v of variants) {
      row[`${v.name}.floor`] = (await measured(`${v.name}: floor`, rate, SECONDS, v.pids, idleOf(v), () => floor(v.floorUrl!), log)).run;
      row[`${v.name}.gateway`] = (
        await measured(
          `${v.name}: gateway`,
          rate,
          SECONDS,
          { ...v.pids, mocks: mocks.pid },
          idleOf(v),
          () => chat(`${v.apiUrl}/v1/chat/completions`, chatBody('gpt-4o', 5, false)),
          log,
        )
      ).run;
    }
    out[rate] = row;
  }
  return out;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
