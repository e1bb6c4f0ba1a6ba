/** The bench's tables, printed from its JSON report (so a saved report prints the same way). */
import type { MeasuredRun } from './phases';
import type { BenchReport, VariantResults } from './types';

type Log = (line: string) => void;
type Idle = NonNullable<BenchReport['idle']>;

const f = (n: number | undefined, w = 7, d = 1) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(d)).padStart(w);
const cpu = (per: Record<string, number> | undefined) =>
  per
    ? Object.entries(per)
        .filter(([k]) => k !== 'mocks')
        .map(([k, v]) => `${k} ${v.toFixed(2)}`)
        .join(', ')
    : '';

/** Prints every table the report has data for. */
export function printReport(r: BenchReport, log: Log): void {
  log('');
  log(`machine: ${r.machine.host}, ${r.machine.cpus} × ${r.machine.model}; started ${r.startedAt}, load ${r.machine.load}`);
  if (r.fast) fast(r.fast, log);
  if (r.realistic) realistic(r.realistic, log);
  for (const [name, v] of Object.entries(r.byVariant ?? {})) variant(name, v, log);
  if (r.idle) idle('idle stack (combined)', r.idle, log);
  if (r.split) {
    if (r.split.idle) idle('idle stack (split)', r.split.idle, log);
    log('');
    log('split processes (API and worker apart, no eager start): CPU ms per request by process');
    for (const [name, run] of Object.entries(r.split.runs)) {
      log(
        `  ${name.padEnd(8)} p50 ${f(run.p50)} ms, p99 ${f(run.p99)} ms, ${run.ok}/${run.failed}; CPU ms/req: ${cpu(run.cpuMsPerRequest)}; RSS MB: ${JSON.stringify(run.rssMb)}; load ${loads(run.load)}`,
      );
    }
  }
}

const loads = (l: number[]) => l.map((x) => x.toFixed(1)).join('→');

function fast(rows: NonNullable<BenchReport['fast']>, log: Log): void {
  log('');
  log('rate  | path             |  p50 ms |  p99 ms | ok/failed | achieved/s | load      | CPU ms per request');
  for (const [rate, row] of Object.entries(rows)) {
    for (const [path, run] of Object.entries(row)) {
      log(
        `${rate.padStart(5)} | ${path.padEnd(16)} | ${f(run.p50)} | ${f(run.p99)} | ${`${run.ok}/${run.failed}`.padStart(9)} | ${f(run.achieved, 10)} | ${loads(run.load).padEnd(9)} | ${cpu(run.cpuMsPerRequest)}`,
      );
    }
  }
  log('');
  log('overhead = gateway − direct; targets: overhead p50 ≤ 1.25 × floor p50, p99 ≤ 1.5 × floor p99');
  for (const [rate, row] of Object.entries(rows)) {
    const d: MeasuredRun = row.direct;
    for (const name of Object.keys(row)
      .filter((k) => k.endsWith('.gateway'))
      .map((k) => k.slice(0, -'.gateway'.length))) {
      const g = row[`${name}.gateway`];
      const fl = row[`${name}.floor`];
      log(
        `${rate.padStart(5)} req/s ${name.padEnd(7)}: overhead p50 ${f(g.p50 - d.p50)} ms = ${((g.p50 - d.p50) / fl.p50).toFixed(2)} × floor p50 (${fl.p50.toFixed(1)} ms); ` +
          `p99 ${f(g.p99 - d.p99)} ms = ${((g.p99 - d.p99) / fl.p99).toFixed(2)} × floor p99 (${fl.p99.toFixed(1)} ms)`,
      );
      const peer: MeasuredRun | undefined = row.peer;
      if (peer)
        log(
          `${' '.repeat(5)}       ${' '.repeat(7)}  the peer gateway's overhead p50 ${f(peer.p50 - d.p50)} ms, p99 ${f(peer.p99 - d.p99)} ms ` +
            `(target: Stormproof's p50 ≤ the peer's; here ${((g.p50 - d.p50) / Math.max(0.1, peer.p50 - d.p50)).toFixed(2)} ×)`,
        );
    }
  }
}

function realistic(r: NonNullable<BenchReport['realistic']>, log: Log): void {
  log('');
  log('realistic provider (chat: answers after 1-5 s; stream: first token after 1 s, ~2 s of chunks), 5 req/s for 20 s');
  log('kind   | path     |  p50 ms |  p99 ms | ok/failed | overhead p50/p99 ms (paired) | first token p50 | its overhead p50/p99');
  for (const [kind, rows] of Object.entries(r)) {
    for (const [name, x] of Object.entries(rows)) {
      log(
        `${kind.padEnd(6)} | ${name.padEnd(8)} | ${f(x.p50)} | ${f(x.p99)} | ${`${x.ok}/${x.failed}`.padStart(9)} | ${f(x.overheadP50, 12)} / ${f(x.overheadP99, 8)}     | ${f(x.ttftP50, 15)} | ${f(x.ttftOverheadP50, 8)} / ${f(x.ttftOverheadP99, 8)}`,
      );
    }
  }
}

function variant(name: string, v: VariantResults, log: Log): void {
  if (v.paths) {
    log('');
    log(`history per request, ${name}: events | bytes (protobuf) | bytes (fixture JSON) | workflow tasks | markers | upserts | ms`);
    for (const [path, p] of Object.entries(v.paths)) {
      const c = p.cost;
      log(
        `  ${path.padEnd(32)} ${f(c.events, 5)} | ${f(c.bytes, 7, 0)} | ${f(c.jsonBytes, 7, 0)} | ${f(c.workflowTasks, 4)} | ${f(c.markers, 4)} | ${f(c.upserts, 4)} | ${p.ms.join(', ')}`,
      );
    }
  }
  if (v.long) {
    const l = v.long;
    log('');
    log(
      `long calls (2-10 s), ${name}: p50 ${f(l.run.p50, 0, 0)} ms, ${l.run.ok}/${l.run.failed}; events ${l.cost.events} (max ${l.maxEvents}), workflow tasks ${l.cost.workflowTasks}, ` +
        `task timeouts ${l.cost.taskTimeouts}; provider calls ${l.providerCalls ?? '?'} for ${l.attempts} attempts (duplicates ${l.duplicates ?? '?'}); CPU ms/req ${cpu(l.run.cpuMsPerRequest)}; load ${loads(l.run.load)}`,
    );
  }
  if (v.throughput) {
    const t = v.throughput;
    log('');
    log(
      `throughput, ${name}: gateway ${t.gatewayPerSecond.toFixed(1)}/s, empty workflow ${t.floorPerSecond.toFixed(1)}/s → ${t.ratio.toFixed(2)} × (target ≥ 0.8); load ${t.load.toFixed(1)}`,
    );
    if (v.ramp)
      log(
        `  open loop: highest rate without an error ${v.ramp.highestRateWithoutErrors} req/s (${v.ramp.steps.map((s) => `${s.rate}: p50 ${s.p50.toFixed(0)} ms, ${s.failed} failed`).join('; ')})`,
      );
  }
  if (v.fivexx)
    log(
      `40% 503 on the primary, ${name}: p50 ${f(v.fivexx.run.p50, 0, 0)} ms, p99 ${f(v.fivexx.run.p99, 0, 0)} ms, ${v.fivexx.run.ok}/${v.fivexx.run.failed}, primary calls ${v.fivexx.primaryCalls}`,
    );
  if (v.rssMb) log(`RSS after the phases, ${name}: ${JSON.stringify(v.rssMb)} MB`);
}

function idle(title: string, i: Idle, log: Log): void {
  log('');
  log(`${title}, ${i.seconds} s without traffic (load ${loads(i.load)}): % of one core, RSS MB`);
  for (const [k, p] of Object.entries(i.percentOfCore)) log(`  ${k.padEnd(18)} ${f(p, 6, 2)} %  ${f(i.rssMb[k], 5, 0)} MB`);
}
