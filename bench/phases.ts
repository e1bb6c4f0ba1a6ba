/**
 * The bench's phases. Each takes the running variants and measures them one after the other on
 * the same mocks, so every ratio compares figures taken minutes apart on the same machine.
 */
import { CpuMeter, loadAverage, rssMb } from './proc';
import { historyCost, meanCost, type HistoryCost } from './history';
import { atRate, chat, chatBody, chatStream, closedLoop, floor, mockStats, pct, setFaults, type RunResult, type Sample } from './load';
import type { Mocks, Variant } from './stack';

export type Log = (line: string) => void;

/** A run with what it cost each process (CPU ms per answered request, idle share subtracted). */
export interface MeasuredRun extends Omit<RunResult, 'samples'> {
  load: [number, number];
  cpuMsPerRequest: Record<string, number>;
}

/** One row of the realistic phase: a run and its overhead over the direct call, paired by request. */
export interface RealisticRow extends MeasuredRun {
  overheadP50: number;
  overheadP99: number;
  ttftOverheadP50?: number;
  ttftOverheadP99?: number;
}

/** Idle CPU (ms per wall second, per process), for the subtraction. */
export type IdleRates = Record<string, number>;

const PRIMARY = 'openai-us-east-1';

function summarize(r: RunResult, meter: CpuMeter, idle: IdleRates): MeasuredRun {
  const { samples: _s, ...rest } = r;
  const m = meter.read();
  const per: Record<string, number> = {};
  for (const [k, ms] of Object.entries(m.cpuMs)) per[k] = Math.max(0, ms - (idle[k] ?? 0) * (m.wallMs / 1000)) / Math.max(1, r.ok);
  return { ...rest, load: m.load, cpuMsPerRequest: per };
}

/** Runs `fn` at `rate` for `seconds`, metering `pids`. */
export async function measured(
  label: string,
  rate: number,
  seconds: number,
  pids: Record<string, number>,
  idle: IdleRates,
  fn: () => Promise<Sample>,
  log: Log,
): Promise<{ run: MeasuredRun; samples: Sample[] }> {
  log(`[bench] ${label} at ${rate} req/s for ${seconds} s (load ${loadAverage().toFixed(1)})…`);
  const meter = new CpuMeter(pids);
  const r = await atRate(rate, seconds, fn, log);
  const run = summarize(r, meter, idle);
  if (run.failed) log(`  ${run.failed} failed, e.g. ${run.error}`);
  return { run, samples: r.samples };
}

/**
 * Back to a clean start between phases: every breaker reset (an operator reset, as the API offers)
 * and closed again in the gateway's view, so a phase never inherits the previous one's trips.
 */
export async function settle(v: Variant, log: Log): Promise<void> {
  const deadline = Date.now() + 60_000;
  const targets = ['openai-us-east-1', 'anthropic-eu-west-1', 'selfhosted-onprem'];
  for (const t of targets) {
    await fetch(`${v.apiUrl}/v1/providers/${t}/breaker`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'reset' }),
    }).then((r) => r.arrayBuffer());
  }
  for (;;) {
    const body = (await (await fetch(`${v.apiUrl}/v1/providers`)).json()) as { data?: Array<{ breaker: { state: string } }> };
    const list = body.data ?? [];
    if (list.length && list.every((p) => p.breaker.state === 'closed')) return;
    if (Date.now() > deadline)
      return log(`  ${v.name}: breakers not all closed after 60 s (${list.map((p) => p.breaker.state).join(', ')}); going on`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Clears every mock's faults. */
export async function clearFaults(mocks: Mocks): Promise<void> {
  await Promise.all(Object.values(mocks.origins).map((o) => setFaults(o, {})));
}

/** Idle CPU of every process over `seconds` (percent of one core), and RSS. */
export async function idlePhase(variants: Variant[], mocks: Mocks, seconds: number, log: Log) {
  const pids: Record<string, number> = { mocks: mocks.pid };
  for (const v of variants) for (const [role, pid] of Object.entries(v.pids)) pids[`${v.name}.${role}`] = pid;
  // The first seconds after traffic still hold its tail (timers, GC, JIT): let them pass.
  const settle = Number(process.env.BENCH_IDLE_SETTLE_SECONDS ?? 30);
  log(`[bench] idle: ${settle} s to settle, then no traffic for ${seconds} s, CPU of every process…`);
  await new Promise((r) => setTimeout(r, settle * 1000));
  const meter = new CpuMeter(pids);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const m = meter.read();
  const percent = Object.fromEntries(Object.entries(m.cpuMs).map(([k, ms]) => [k, (100 * ms) / m.wallMs]));
  const rates: IdleRates = Object.fromEntries(Object.entries(m.cpuMs).map(([k, ms]) => [k, ms / (m.wallMs / 1000)]));
  return { seconds, load: m.load, percentOfCore: percent, rates, rssMb: rss(pids) };
}

/** RSS of each process now (MB). */
export function rss(pids: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, Math.round(rssMb(pid))]));
}

/** Every process of a variant, named `<variant>.<role>`, plus the mocks. */
export function pidsOf(v: Variant, mocks: Mocks): Record<string, number> {
  return { ...Object.fromEntries(Object.entries(v.pids).map(([role, pid]) => [role, pid])), mocks: mocks.pid };
}

/** A few requests of one kind; their histories. */
async function pathCost(
  v: Variant,
  n: number,
  call: () => Promise<Sample>,
): Promise<{ cost: ReturnType<typeof meanCost>; ms: number[]; raw: HistoryCost[] }> {
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) samples.push(await call());
  // The answer can precede the workflow's completion: read each history once it is closed.
  const raw = await Promise.all(
    samples.map(async (s) => {
      await v.client.workflow
        .getHandle(s.jobId!)
        .result()
        .catch(() => undefined);
      return historyCost(v.client, s.jobId!);
    }),
  );
  return { cost: meanCost(raw), ms: samples.map((s) => Math.round(s.ms)), raw };
}

/** History events and bytes per request, by path. */
export async function pathsPhase(v: Variant, mocks: Mocks, log: Log) {
  const url = `${v.apiUrl}/v1/chat/completions`;
  const primary = mocks.origins[PRIMARY];
  const paths: Array<{ path: string; faults?: Record<string, unknown>; n: number; call: () => Promise<Sample> }> = [
    { path: 'chat', n: 5, call: () => chat(url, chatBody('gpt-4o', 5, false)) },
    { path: 'stream', n: 5, call: () => chatStream(url, chatBody('gpt-4o', 5, true)) },
    { path: 'failover (primary down)', faults: { down: true }, n: 3, call: () => chat(url, chatBody('gpt-4o', 5, false)) },
    {
      path: 'transient 503 (every 2nd call)',
      faults: { errorRate: 0.5, errorStatus: 503 },
      n: 4,
      call: () => chat(url, chatBody('gpt-4o', 5, false)),
    },
    { path: 'stream, primary down', faults: { down: true }, n: 3, call: () => chatStream(url, chatBody('gpt-4o', 5, true)) },
  ];
  const out: Record<string, { cost: ReturnType<typeof meanCost>; ms: number[] }> = {};
  for (const p of paths) {
    await settle(v, log);
    log(`[bench] ${v.name}: history of ${p.n} × ${p.path}…`);
    await setFaults(primary, p.faults ?? {});
    const { cost, ms } = await pathCost(v, p.n, p.call);
    out[p.path] = { cost, ms };
  }
  await setFaults(primary, {});
  return out;
}

/**
 * Long provider calls (answers after 2-10 s): events and workflow tasks per request, and provider
 * calls beyond the answers' attempts (a call repeated because a workflow task timed out).
 */
export async function longCallsPhase(v: Variant, mocks: Mocks, rate: number, seconds: number, idle: IdleRates, log: Log) {
  const primary = mocks.origins[PRIMARY];
  await settle(v, log);
  await setFaults(primary, { latencyMs: 2_000, jitterMs: 8_000, models: ['gpt-4o'] });
  const before = await providerCalls(v);
  const url = `${v.apiUrl}/v1/chat/completions`;
  const { run, samples } = await measured(
    `${v.name}: chat, answers after 2-10 s`,
    rate,
    seconds,
    { ...v.pids, mocks: mocks.pid },
    idle,
    () => chat(url, chatBody('gpt-4o', 5, false)),
    log,
  );
  await setFaults(primary, {});
  const after = await providerCalls(v);
  const attempts = samples.reduce(
    (a, s) =>
      a +
      (s.stormproof?.attempts ?? [])
        .filter((x) => x.target === PRIMARY && x.model === 'gpt-4o')
        .reduce((b, x) => b + 1 + (x.retries ?? 0), 0),
    0,
  );
  const costs = await Promise.all(samples.map((s) => historyCost(v.client, s.jobId!)));
  const calls = after === undefined || before === undefined ? undefined : after - before;
  return {
    run,
    cost: meanCost(costs),
    maxEvents: Math.max(...costs.map((c) => c.events)),
    providerCalls: calls,
    attempts,
    duplicates: calls === undefined ? undefined : calls - attempts,
  };
}

/** Provider calls of the primary's gpt-4o the gateway counted (combined topology: its /metrics). */
async function providerCalls(v: Variant): Promise<number | undefined> {
  const res = await fetch(`${v.apiUrl}/metrics`).catch(() => undefined);
  if (!res || res.status !== 200) return undefined;
  const text = await res.text();
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('stormproof_provider_calls_total{')) continue;
    if (!line.includes(`target="${PRIMARY}"`) || !line.includes('model="gpt-4o"') || line.includes('outcome="slow"')) continue;
    n += Number(line.split(' ').at(-1));
  }
  return n;
}

/** Realistic provider: answers after 1-5 s, streams over seconds; gateway vs direct, paired. */
export async function realisticPhase(variants: Variant[], mocks: Mocks, rate: number, seconds: number, idle: IdleRates, log: Log) {
  const primary = mocks.origins[PRIMARY];
  const direct = `${primary}/v1/chat/completions`;
  const out: Record<string, Record<string, RealisticRow>> = {};
  const kinds = [
    {
      kind: 'chat',
      faults: { latencyMs: 1_000, jitterMs: 4_000, models: ['gpt-4o'] },
      call: (u: string) => chat(u, chatBody('gpt-4o', 5, false)),
    },
    { kind: 'stream', faults: { ttftMs: 1_000, models: ['gpt-4o'] }, call: (u: string) => chatStream(u, chatBody('gpt-4o', 40, true)) },
  ];
  for (const k of kinds) {
    const runs: Record<string, { run: MeasuredRun; samples: Sample[] }> = {};
    const targets: Array<[string, string, Record<string, number>]> = [
      ['direct', direct, { mocks: mocks.pid }],
      ...variants.map((v): [string, string, Record<string, number>] => [
        v.name,
        `${v.apiUrl}/v1/chat/completions`,
        { ...v.pids, mocks: mocks.pid },
      ]),
    ];
    for (const [name, url, pids] of targets) {
      await setFaults(primary, k.faults); // restarts the mock's jitter: every run gets the same delays in order
      let next = 0;
      const call = async (): Promise<Sample> => {
        const i = next++;
        return { ...(await k.call(url)), i };
      };
      runs[name] = await measured(`realistic ${k.kind}: ${name}`, rate, seconds, pids, idle, call, log);
    }
    await setFaults(primary, {});
    const byIndex = (s: Sample[]) => new Map(s.map((x) => [x.i ?? -1, x]));
    const d = byIndex(runs.direct.samples);
    const rows: Record<string, RealisticRow> = {};
    for (const [name, r] of Object.entries(runs)) {
      const paired = [...byIndex(r.samples)]
        .filter(([i]) => d.has(i))
        .map(([i, s]) => s.ms - d.get(i)!.ms)
        .sort((a, b) => a - b);
      const pairedTtft = [...byIndex(r.samples)]
        .filter(([i, s]) => d.get(i)?.ttftMs !== undefined && s.ttftMs !== undefined)
        .map(([i, s]) => s.ttftMs! - d.get(i)!.ttftMs!)
        .sort((a, b) => a - b);
      rows[name] = {
        ...r.run,
        overheadP50: pct(paired, 50),
        overheadP99: pct(paired, 99),
        ...(pairedTtft.length ? { ttftOverheadP50: pct(pairedTtft, 50), ttftOverheadP99: pct(pairedTtft, 99) } : {}),
      };
    }
    out[k.kind] = rows;
  }
  return out;
}

/** Closed-loop throughput of the gateway and of the empty workflow (combined topology). */
export async function throughputPhase(v: Variant, seconds: number, log: Log) {
  const url = `${v.apiUrl}/v1/chat/completions`;
  log(`[bench] ${v.name}: throughput, 16 closed-loop callers, ${seconds} s each…`);
  const f = await closedLoop(16, seconds, () => floor(v.floorUrl!));
  const g = await closedLoop(16, seconds, () => chat(url, chatBody('gpt-4o', 5, false)));
  return {
    floorPerSecond: f.perSecond,
    gatewayPerSecond: g.perSecond,
    ratio: g.perSecond / f.perSecond,
    failed: f.failed + g.failed,
    load: loadAverage(),
  };
}

/** The highest open-loop rate with no error, stepping up until one fails, falls behind or saturates. */
export async function rampPhase(v: Variant, rates: number[], seconds: number, log: Log) {
  const url = `${v.apiUrl}/v1/chat/completions`;
  const steps: Array<{ rate: number; ok: number; failed: number; achieved: number; p50: number; p99: number; load: number }> = [];
  let best = 0;
  for (const rate of rates) {
    log(`[bench] ${v.name}: ramp ${rate} req/s for ${seconds} s…`);
    const r = await atRate(rate, seconds, () => chat(url, chatBody('gpt-4o', 5, false)));
    steps.push({ rate, ok: r.ok, failed: r.failed, achieved: r.achieved, p50: r.p50, p99: r.p99, load: loadAverage() });
    // Saturated: errors, or the answers fall behind the offered rate (p50 above a second).
    if (r.failed > 0 || r.p50 > 1_000) break;
    best = rate;
  }
  return { highestRateWithoutErrors: best, steps };
}

/** The 40% 5xx path: latency of chats while the primary fails 40% of its calls with 503. */
export async function fivexxPhase(v: Variant, mocks: Mocks, rate: number, seconds: number, idle: IdleRates, log: Log) {
  const primary = mocks.origins[PRIMARY];
  await settle(v, log);
  await setFaults(primary, { errorRate: 0.4, errorStatus: 503, models: ['gpt-4o'] });
  const url = `${v.apiUrl}/v1/chat/completions`;
  const stats0 = await mockStats(primary);
  const { run } = await measured(
    `${v.name}: chat while the primary answers 40% 503`,
    rate,
    seconds,
    { ...v.pids, mocks: mocks.pid },
    idle,
    () => chat(url, chatBody('gpt-4o', 5, false)),
    log,
  );
  const stats1 = await mockStats(primary);
  await setFaults(primary, {});
  return { run, primaryCalls: stats1.requests - stats0.requests };
}
