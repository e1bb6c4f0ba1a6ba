/**
 * A game-day run's report: `report.json` (everything measured), `report.md` (a verdict per
 * probe, key figures, the timeline of actions) and `timeline.svg`, a vega-lite chart rendered
 * headless with vega's `View.toSVG()`: p50/p99 latency per window, error rate, answers per
 * target, breaker state bands (targets, and models whose breaker left closed), fault windows shaded.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ActionLog, BreakerSample, FaultWindow, Measurements, ProviderCall, RequestRecord, Verdict } from './measure';
import type { StrategySource } from './overrides';
import type { Scenario } from './schema';

/** Everything a report is made of. */
export interface RunResult {
  scenario: Scenario;
  startedAt: string;
  /** Load start, epoch ms. */
  t0: number;
  m: Measurements;
  verdicts: Verdict[];
  actions: ActionLog[];
  faults: FaultWindow[];
  breakers: BreakerSample[];
  requests: RequestRecord[];
  /** Every call that reached a provider (through toxiproxy). */
  calls: ProviderCall[];
  stack: {
    workers: number;
    taskQueue: string;
    targets: string[];
    /** The routing strategy in force (`priority`: active-passive, `weighted`: active-active) and who chose it. */
    routing: { strategy: string; from: StrategySource };
    logDir: string;
  };
  /** Transitions as each breaker recorded them (with its reason), ms from load start. */
  recorded?: Array<{ target: string; at: number; from: string; to: string; reason: string }>;
}

/** Paths of the written files. */
export interface ReportFiles {
  dir: string;
  json: string;
  md: string;
  svg: string;
}

const s = (ms: number | undefined | null, digits = 1) =>
  ms === undefined || ms === null ? '—' : ms >= 1000 ? `${(ms / 1000).toFixed(digits)} s` : `${Math.round(ms)} ms`;
const pct = (x: number) => `${(x * 100).toFixed(x === 1 || x === 0 ? 0 : 2)}%`;

/** True when every verdict passes. */
export function passed(verdicts: Verdict[]): boolean {
  return verdicts.every((v) => v.pass);
}

/** The Markdown report. */
export function markdownOf(r: RunResult, files?: { svg: string }): string {
  const { m, scenario } = r;
  const lines: string[] = [];
  lines.push(`# Game day: ${scenario.title} (${scenario.name})`, '');
  const mix = Object.entries(scenario.load.mix)
    .filter(([, w]) => w > 0)
    .map(([k, w]) => `${k} ${w}`)
    .join(', ');
  const load = `${scenario.load.rate} req/s for ${scenario.load.seconds} s (steady state ${scenario.steadyState.seconds} s)`;
  const head = `**${passed(r.verdicts) ? 'PASS' : 'FAIL'}** · ${r.startedAt} · ${load} · mix ${mix}`;
  const routing = `routing ${r.stack.routing.strategy} (${r.stack.routing.from === 'scenario' ? "the scenario's gateway.routing" : 'the config'})`;
  lines.push(`${head} · model ${scenario.load.model} · ${routing} · ${r.stack.workers} worker(s)`, '');
  if (scenario.description) lines.push(scenario.description.trim(), '');
  lines.push('## Verdicts', '', '| probe | threshold | measured | verdict | detail |', '| --- | --- | --- | --- | --- |');
  for (const v of r.verdicts) {
    const why =
      v.key !== 'aborted' && v.key !== 'steadyState' && scenario.thresholdReasons[v.key] ? ` (${scenario.thresholdReasons[v.key]})` : '';
    lines.push(
      `| ${v.key} | ${JSON.stringify(v.threshold)}${why} | ${JSON.stringify(v.actual)} | ${v.pass ? 'pass' : '**FAIL**'} | ` +
        `${v.detail.replace(/\|/g, '\\|')} |`,
    );
  }
  lines.push('', '## Key figures', '', '| figure | value |', '| --- | --- |');
  const fig = (k: string, v: string) => lines.push(`| ${k} | ${v} |`);
  fig('requests sent / ended / ok', `${m.sent} / ${m.finished} / ${m.ok}`);
  fig('availability (client view)', pct(m.availability));
  fig(
    'errors by code',
    Object.entries(m.errorsByCode)
      .map(([c, n]) => `${c}: ${n}`)
      .join(', ') || 'none',
  );
  fig('latency p50 / p95 / p99', `${s(m.latency.p50)} / ${s(m.latency.p95)} / ${s(m.latency.p99)}`);
  const sl = m.steadyLatency;
  fig('steady-state p50 / p95 / p99', `${s(sl.p50)} / ${s(sl.p95)} / ${s(sl.p99)}`);
  fig('stream time to first token p50 / p99', `${s(m.ttft.p50)} / ${s(m.ttft.p99)}`);
  fig(
    'answers per target',
    Object.entries(m.byTarget)
      .map(([t, n]) => `${t}: ${n}`)
      .join(', ') || 'none',
  );
  fig('fault window', m.faultStart === undefined ? '—' : `${s(m.faultStart)} → ${s(m.faultEnd)}`);
  fig('traffic split by target (answers by request start)', splitText(m));
  fig(
    'time to failover (first answer from another target or model than the steady one)',
    m.steadyTarget ? `${s(m.failoverTimeMs)} (steady: ${m.steadyTarget})` : '—',
  );
  fig('recovery (p99 within 1.5x steady, from the fault start)', m.recoveryMs === null ? 'never during the fault' : s(m.recoveryMs));
  fig(
    'breakers opened after the fault started (targets and models)',
    Object.entries(m.openedAfterFault)
      .map(([b, at]) => `${b} opened after ${s(at)}`)
      .join('; ') || 'none',
  );
  fig('breaker opened → closed (from the fault start)', openingsText(m));
  fig(
    'breaker transitions',
    m.breakerTransitions
      .filter((t) => t.from !== undefined)
      .map((t) => `${t.target} ${t.from}→${t.to} at ${s(t.at)}`)
      .join('; ') || 'none',
  );
  fig("provider calls while their target's or model's breaker was open (after the grace)", JSON.stringify(m.callsAfterBreakerOpen));
  fig('calls inside a Retry-After (client / probes)', `${m.retryAfterViolations.calls} / ${m.retryAfterViolations.probes}`);
  fig('truncated answers presented as complete', String(m.truncated));
  fig('streams ended with neither [DONE] nor an error event', String(m.unendedStreams));
  fig('complete streams without [DONE]', String(m.missingDone));
  const d = m.duplicates;
  fig(
    "duplicate provider calls (beyond the answers' traces)",
    `${d.calls} from ${d.requests} requests; ${d.withoutTrace} requests without a trace${d.detail.length ? `: ${d.detail.join('; ')}` : ''}`,
  );
  fig('degradations not declared (model / data)', `${m.undeclared.model} / ${m.undeclared.data}`);
  const i = m.idempotency;
  if (i.keys) fig('Idempotency-Key requests / sent again / with more than one job', `${i.keys} / ${i.resent} / ${i.duplicateJobs}`);
  const j = m.jobs;
  fig(
    'jobs submitted / accepted / completed / failed / unfinished / lost',
    `${j.submitted} / ${j.accepted} / ${j.completed} / ${j.failed} / ${j.unfinished} / ${j.lost}`,
  );
  fig(
    'provider calls per target (chat / embeddings / probe / 4xx-5xx)',
    Object.entries(m.providerCalls)
      .map(([t, c]) => `${t}: ${c.calls} / ${c.embeddings} / ${c.probes} / ${c.errors}`)
      .join('; '),
  );
  lines.push(
    '',
    '## Per request kind',
    '',
    '| kind | sent | ok | errors | p50 | p99 | time to failover |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const [kind, k] of Object.entries(m.byKind))
    lines.push(
      `| ${kind} | ${k.sent} | ${k.ok} | ${k.errors} | ${s(k.p50)} | ${s(k.p99)} | ${s(m.failoverByKind[kind as keyof typeof m.failoverByKind])} |`,
    );
  if (m.aborted) fig('aborted', m.aborted);
  if (r.recorded?.length) {
    lines.push(
      '',
      '## Breaker transitions as the breakers recorded them',
      '',
      '| at | target | from → to | reason |',
      '| --- | --- | --- | --- |',
    );
    for (const t of r.recorded) lines.push(`| ${(t.at / 1000).toFixed(1)} s | ${t.target} | ${t.from} → ${t.to} | ${t.reason} |`);
  }
  lines.push('', '## Timeline of actions', '', '| at | done | phase | action | result |', '| --- | --- | --- | --- | --- |');
  for (const a of r.actions)
    lines.push(`| ${s(a.at)} | ${s(a.doneAt)} | ${a.phase} | ${a.label} | ${a.ok ? 'ok' : `**failed**: ${a.error}`} |`);
  lines.push(
    '',
    '## Per 5 s window (by request start)',
    '',
    '| window | requests | errors | p50 | p95 | p99 | p99 / steady p99 | answers per target |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const w of m.windows) {
    const ratio = w.p99 !== undefined && m.steadyP99 ? `${(w.p99 / m.steadyP99).toFixed(1)}x` : '—';
    const targets = Object.entries(w.byTarget)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    lines.push(
      `| ${w.start / 1000}–${w.end / 1000} s | ${w.requests} | ${w.errors} | ${s(w.p50)} | ${s(w.p95)} | ${s(w.p99)} | ${ratio} | ${targets} |`,
    );
  }
  if (files) lines.push('', `![timeline](${files.svg})`);
  lines.push('', `Process logs: ${r.stack.logDir}`, '');
  return lines.join('\n');
}

/** `before: a 62% (31), b 38% (19); during: b 100% (50); after: …` (the phases a run had). */
function splitText(m: Measurements): string {
  const phase = (name: string, counts: Record<string, number>) => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (!total) return undefined;
    const parts = Object.entries(counts)
      .sort((a, b) => b[1] - a[1])
      .map(([t, n]) => `${t} ${Math.round((100 * n) / total)}% (${n})`);
    return `${name}: ${parts.join(', ')}`;
  };
  const sp = m.split;
  const parts =
    m.faultStart === undefined
      ? [phase('all', sp.before)]
      : [phase('before the fault', sp.before), phase('during', sp.during), phase('after', sp.after)];
  return parts.filter(Boolean).join('; ') || 'none';
}

/** Each opening as `target opened +x s → closed +y s`, relative to the fault start when there is one. */
function openingsText(m: Measurements): string {
  const rel = (at: number) => (m.faultStart === undefined ? s(at) : `${at >= m.faultStart ? '+' : '−'}${s(Math.abs(at - m.faultStart))}`);
  return (
    m.breakerOpenings
      .map((o) => `${o.target} ${rel(o.openedAt)} → ${o.closedAt === undefined ? 'not closed' : rel(o.closedAt)}`)
      .join('; ') || 'none'
  );
}

/** Breaker state intervals per target, and per model whose breaker left closed, from the samples. */
function breakerBands(samples: BreakerSample[], endMs: number): Array<{ target: string; state: string; start: number; end: number }> {
  const out: Array<{ target: string; state: string; start: number; end: number }> = [];
  const cur: Record<string, { state: string; start: number }> = {};
  const troubled = new Set(samples.flatMap((smp) => Object.entries(smp.models ?? {}).flatMap(([k, v]) => (v === 'closed' ? [] : [k]))));
  for (const smp of samples) {
    const models = Object.entries(smp.models ?? {}).filter(([k]) => troubled.has(k));
    for (const [target, state] of [...Object.entries(smp.states), ...models]) {
      const c = cur[target];
      if (!c) cur[target] = { state, start: smp.at };
      else if (c.state !== state) {
        out.push({ target, state: c.state, start: c.start / 1000, end: smp.at / 1000 });
        cur[target] = { state, start: smp.at };
      }
    }
  }
  for (const [target, c] of Object.entries(cur))
    out.push({ target, state: c.state, start: c.start / 1000, end: Math.max(c.start, endMs) / 1000 });
  return out;
}

/** The vega-lite spec of the timeline chart. */
export function chartSpec(r: RunResult): Record<string, unknown> {
  const { m } = r;
  const endMs = Math.max(r.scenario.load.seconds * 1000, ...r.requests.map((q) => q.endedAt ?? 0));
  const faults = r.faults.map((f) => ({ start: f.start / 1000, end: f.end / 1000, fault: f.label }));
  const lat = m.windows.flatMap((w) => [
    { t: (w.start + w.end) / 2000, series: 'p50', seconds: w.p50 === undefined ? null : w.p50 / 1000 },
    { t: (w.start + w.end) / 2000, series: 'p99', seconds: w.p99 === undefined ? null : w.p99 / 1000 },
  ]);
  const errs = m.windows.map((w) => ({ start: w.start / 1000, end: w.end / 1000, rate: w.errorRate }));
  const perTarget = m.windows.flatMap((w) =>
    Object.entries(w.byTarget).map(([target, n]) => ({ start: w.start / 1000, end: w.end / 1000, target, n })),
  );
  const bands = breakerBands(r.breakers, endMs);
  const x = {
    field: 'start',
    type: 'quantitative',
    title: 'seconds since the load started',
    scale: { domain: [0, Math.ceil(endMs / 1000)] },
  };
  const shade = { data: { values: faults }, mark: { type: 'rect', color: '#f4c7c3', opacity: 0.5 }, encoding: { x, x2: { field: 'end' } } };
  const panel = (title: string, layer: unknown[]) => ({ title, width: 720, height: 120, layer: faults.length ? [shade, ...layer] : layer });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${r.scenario.title} — ${passed(r.verdicts) ? 'PASS' : 'FAIL'} (fault windows shaded)`,
    vconcat: [
      panel('latency per 5 s window (s)', [
        {
          data: { values: lat },
          mark: { type: 'line', point: true },
          encoding: {
            x: { ...x, field: 't' },
            y: { field: 'seconds', type: 'quantitative', title: 'latency (s)' },
            color: { field: 'series', type: 'nominal', title: 'percentile' },
          },
        },
      ]),
      panel('client error rate per window', [
        {
          data: { values: errs },
          mark: { type: 'rect', color: '#c0392b' },
          encoding: {
            x,
            x2: { field: 'end' },
            y: { field: 'rate', type: 'quantitative', title: 'error rate', scale: { domain: [0, 1] } },
            y2: { datum: 0 },
          },
        },
      ]),
      panel('answers per target per window', [
        {
          data: { values: perTarget },
          mark: { type: 'bar' },
          encoding: {
            x,
            x2: { field: 'end' },
            y: { field: 'n', type: 'quantitative', aggregate: 'sum', stack: 'zero', title: 'answers' },
            color: { field: 'target', type: 'nominal' },
          },
        },
      ]),
      panel('breaker state per target', [
        {
          data: { values: bands },
          mark: { type: 'rect' },
          encoding: {
            x,
            x2: { field: 'end' },
            y: { field: 'target', type: 'nominal', title: null },
            color: {
              field: 'state',
              type: 'nominal',
              scale: { domain: ['closed', 'half-open', 'open', 'unknown'], range: ['#7fbf7f', '#f0c05a', '#d9534f', '#cccccc'] },
            },
          },
        },
      ]),
    ],
    resolve: { scale: { color: 'independent' } },
  };
}

/** Renders the chart to SVG without a browser. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const vega = await import('vega');
  // vega-lite's types sit behind package "exports", which this project's node10 resolution does not read.
  const vl = (await import('vega-lite' as string)) as { compile(spec: unknown): { spec: Parameters<typeof vega.parse>[0] } };
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Writes `<outDir>/<scenario>-<timestamp>/report.{json,md}` and `timeline.svg`. */
export async function writeReport(r: RunResult, outDir: string): Promise<ReportFiles> {
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const dir = join(outDir, `${r.scenario.name}-${stamp}`);
  mkdirSync(dir, { recursive: true });
  const files = { dir, json: join(dir, 'report.json'), md: join(dir, 'report.md'), svg: join(dir, 'timeline.svg') };
  writeFileSync(files.json, JSON.stringify({ pass: passed(r.verdicts), ...r }, null, 1));
  writeFileSync(files.svg, await renderSvg(chartSpec(r)));
  writeFileSync(files.md, markdownOf(r, { svg: 'timeline.svg' }));
  return files;
}
