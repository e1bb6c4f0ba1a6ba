/**
 * Runs one scenario: starts a fresh stack, warms it up, runs the open-loop load while the method's
 * actions fire on time, samples the breakers every 250 ms, runs the rollbacks and a full reset
 * (always), then measures and writes the report.
 */
import { join } from 'node:path';
import type { BreakerAction } from '../../contracts/breaker';
import { ToxiproxyError } from '../toxiproxy/client';
import { runLoad } from './load';
import { measure, percentile } from './measure';
import type { ActionLog, BreakerSample, FaultWindow, RequestRecord } from './records';
import { writeReport, type ReportFiles, type RunResult } from './report';
import type { Action, Scenario } from './schema';
import { startStack, type GamedayStack } from './stack';

/** Options of {@link runScenario}. */
export interface RunOptions {
  outDir: string;
  /** The gateway config the stack runs (default: config/default.yaml); see StackOptions.configPath. */
  configPath?: string;
  log?: (line: string) => void;
}

/** A finished run. */
export interface RunOutcome extends RunResult {
  files: ReportFiles;
  pass: boolean;
}

/** A short label of an action. */
export function labelOf(a: Action): string {
  switch (a.action) {
    case 'mock-faults':
      return `mock-faults ${a.target} ${JSON.stringify(a.faults)}`;
    case 'toxic':
      return `toxic ${a.target} ${a.type} ${JSON.stringify(a.attributes)} (${a.stream}${a.toxicity < 1 ? `, toxicity ${a.toxicity}` : ''})`;
    case 'toxic-remove':
      return `toxic-remove ${a.target} ${a.name}`;
    case 'kill-worker':
    case 'start-worker':
      return `${a.action} #${a.index}`;
    case 'restart-temporal':
    case 'restart-api':
      return `${a.action}${a.downS ? ` (down ${a.downS} s)` : ''}`;
    case 'breaker-override':
      return `breaker-override ${a.target} ${a.state}`;
    default:
      return `${a.action} ${a.target}`;
  }
}

const toxicName = (a: Extract<Action, { action: 'toxic' }>) => a.name ?? `${a.type}_${a.stream}`;

function mockOf(stack: GamedayStack, target: string) {
  const mock = stack.targets[target].mock;
  if (!mock) throw new Error(`${target} is a real upstream: it has no mock faults (use toxics or proxy-down)`);
  return mock;
}

async function execute(stack: GamedayStack, a: Action): Promise<void> {
  switch (a.action) {
    case 'mock-faults':
      return mockOf(stack, a.target).setFaults(a.faults);
    case 'mock-clear':
      return mockOf(stack, a.target).clearFaults();
    case 'toxic':
      await stack.toxiproxy.client.addToxic(a.target, {
        name: toxicName(a),
        type: a.type,
        stream: a.stream,
        toxicity: a.toxicity,
        attributes: a.attributes as never,
      });
      return;
    case 'toxic-remove':
      return removeToxic(stack, a.target, a.name);
    case 'proxy-down':
      await stack.toxiproxy.client.setEnabled(a.target, false);
      return;
    case 'proxy-up':
      await stack.toxiproxy.client.setEnabled(a.target, true);
      return;
    case 'kill-worker':
      return stack.killWorker(a.index);
    case 'start-worker':
      return stack.startWorker(a.index);
    case 'restart-temporal':
      return stack.restartTemporal(a.downS * 1000);
    case 'restart-api':
      return stack.restartApi(a.downS * 1000);
    case 'breaker-override':
      return stack.overrideBreaker(a.target, a.state as BreakerAction);
  }
}

/**
 * Removes a toxic. toxiproxy's API can time out (503) while a latency toxic drains the data it
 * holds; then it is asked again until the toxic is gone (or 5 tries failed).
 */
async function removeToxic(stack: GamedayStack, proxy: string, name: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return await stack.toxiproxy.client.removeToxic(proxy, name);
    } catch (err) {
      if (err instanceof ToxiproxyError && err.status === 404 && i > 0) return; // an earlier try removed it
      if (!(err instanceof ToxiproxyError) || err.status === 404 || i >= 4) throw err;
      const p = await stack.toxiproxy.client.getProxy(proxy).catch(() => undefined);
      if (p && !p.toxics.some((t) => t.name === name)) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Fault windows from the executed method: each injection until its removal (or the load's end). */
export function faultWindows(actions: Array<{ a: Action; log: ActionLog }>, loadEndMs: number): FaultWindow[] {
  const open = new Map<string, { start: number; label: string }>();
  const out: FaultWindow[] = [];
  const close = (key: string, at: number) => {
    const o = open.get(key);
    if (o) out.push({ start: o.start, end: at, label: o.label });
    open.delete(key);
  };
  for (const { a, log } of actions) {
    // A failed action changed nothing we know of: a failed removal leaves its fault in place.
    if (!log.ok) continue;
    const label = labelOf(a);
    switch (a.action) {
      case 'mock-faults':
        close(`mock:${a.target}`, log.at);
        open.set(`mock:${a.target}`, { start: log.at, label });
        break;
      case 'mock-clear':
        close(`mock:${a.target}`, log.at);
        break;
      case 'toxic':
        open.set(`toxic:${a.target}:${toxicName(a)}`, { start: log.at, label });
        break;
      case 'toxic-remove':
        close(`toxic:${a.target}:${a.name}`, log.at);
        break;
      case 'proxy-down':
        if (!open.has(`proxy:${a.target}`)) open.set(`proxy:${a.target}`, { start: log.at, label });
        break;
      case 'proxy-up':
        close(`proxy:${a.target}`, log.at);
        break;
      case 'kill-worker':
        open.set(`worker:${a.index}`, { start: log.at, label });
        break;
      case 'start-worker':
        close(`worker:${a.index}`, log.doneAt);
        break;
      case 'restart-temporal':
      case 'restart-api':
        out.push({ start: log.at, end: log.doneAt, label });
        break;
      case 'breaker-override':
        close(`breaker:${a.target}`, log.at);
        if (a.state === 'open') open.set(`breaker:${a.target}`, { start: log.at, label });
        break;
    }
  }
  for (const key of [...open.keys()]) close(key, loadEndMs);
  return out.sort((x, y) => x.start - y.start);
}

/** What {@link runScenario} runs on (tests pass fakes). */
export interface RunDeps {
  startStack: typeof startStack;
  runLoad: typeof runLoad;
  writeReport: typeof writeReport;
}

/** Watches the requests as they end: the abort conditions and the progress line. */
function watch(scenario: Scenario, live: RequestRecord[], now: () => number, onAbort: (why: string) => void) {
  const recentP99 = (t: number) =>
    percentile(
      live
        .filter((r) => r.endedAt !== undefined && r.endedAt > t - 5000)
        .map((r) => r.endedAt! - r.startedAt)
        .sort((a, b) => a - b),
      99,
    );
  let badErrors = 0;
  let badLatency = 0;
  let aborted = false;
  // Each second: the error rate of the requests that ended in it, the p99 of the last 5 s.
  const timer = setInterval(() => {
    const t = now();
    const last = live.filter((r) => r.endedAt !== undefined && r.endedAt > t - 1000);
    const rate = last.length ? last.filter((r) => !r.ok).length / last.length : 0;
    badErrors = last.length && rate > scenario.abort.errorRateAbove ? badErrors + 1 : 0;
    const p99 = recentP99(t);
    const limit = scenario.abort.p99AboveS;
    badLatency = limit !== undefined && p99 !== undefined && p99 > limit * 1000 ? badLatency + 1 : 0;
    if (aborted) return;
    const at = `(at ${(t / 1000).toFixed(0)} s)`;
    if (badErrors >= scenario.abort.forS) {
      aborted = true;
      onAbort(`client error rate above ${scenario.abort.errorRateAbove * 100}% for ${scenario.abort.forS} s ${at}`);
    } else if (badLatency >= scenario.abort.forS) {
      aborted = true;
      onAbort(`p99 of the last 5 s above ${limit} s for ${scenario.abort.forS} s ${at}`);
    }
  }, 1000);
  return { stop: () => clearInterval(timer), recentP99 };
}

/** Runs one scenario end to end and writes its report. Rollbacks and the full reset always run. */
export async function runScenario(scenario: Scenario, opts: RunOptions, deps: Partial<RunDeps> = {}): Promise<RunOutcome> {
  const d: RunDeps = { startStack, runLoad, writeReport, ...deps };
  const say = opts.log ?? ((l: string) => process.stdout.write(`${l}\n`));
  const startedAt = new Date().toISOString();
  const logDir = join(opts.outDir, '.logs', `${scenario.name}-${startedAt.replace(/[:.]/g, '-')}`);
  let t0 = Date.now();
  const now = () => Date.now() - t0;
  say(`\n[gameday] ${scenario.name}: ${scenario.title}`);
  const stack = await d.startStack({
    workers: scenario.stack.workers,
    chunkDelayMs: scenario.stack.chunkDelayMs,
    logDir,
    now,
    log: say,
    configPath: opts.configPath,
  });
  const executed: Array<{ a: Action; log: ActionLog }> = [];
  const samples: BreakerSample[] = [];
  let records: RequestRecord[] = [];
  let aborted: string | undefined;
  const loadMs = scenario.load.seconds * 1000;
  try {
    // Breakers exist once a worker started them; wait for every target's view.
    for (let i = 0; i < 40; i++) {
      await stack.breakers.refresh();
      if (stack.config.targets.every((t) => stack.breakers.get(t.id))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    say('[gameday] warming up (not measured)…');
    t0 = Date.now();
    const { idempotency: _keysNotInWarmUp, ...warmLoad } = scenario.load;
    const warm = await d.runLoad({ apiUrl: stack.apiUrl, ...warmLoad, rate: 4, seconds: 2, now });
    const warmErrors = warm.filter((r) => !r.ok);
    if (warmErrors.length)
      say(`[gameday] warning: ${warmErrors.length} of ${warm.length} warm-up requests failed: ${warmErrors[0].error?.message}`);
    for (const t of Object.values(stack.targets)) t.recorder.calls.length = 0;

    say(`[gameday] load: ${scenario.load.rate} req/s for ${scenario.load.seconds} s; steady state ${scenario.steadyState.seconds} s`);
    t0 = Date.now();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const next = Date.now() + 250;
        await stack.breakers.refresh().catch(() => undefined);
        const states: Record<string, string> = {};
        for (const t of stack.config.targets) states[t.id] = stack.breakers.get(t.id)?.state ?? 'unknown';
        samples.push({ at: now(), states });
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    })();
    const live: RequestRecord[] = [];
    let stop = false;
    let stopNow = () => {};
    const stopping = new Promise<void>((r) => (stopNow = r));
    const watcher = watch(scenario, live, now, (why) => {
      stop = true;
      stopNow();
      aborted = why;
      say(`[gameday] ABORT: ${why}`);
    });
    const progress = setInterval(() => {
      const t = now();
      const ended = live.filter((r) => r.endedAt !== undefined);
      const p99 = watcher.recentP99(t);
      const states = samples.at(-1)?.states ?? {};
      say(
        `[gameday] ${(t / 1000).toFixed(0).padStart(3)} s  sent ${live.length}  ok ${ended.filter((r) => r.ok).length}  ` +
          `errors ${ended.filter((r) => !r.ok).length}  ` +
          `in flight ${live.length - ended.length}  p99(last 5 s) ${p99 === undefined ? '—' : `${(p99 / 1000).toFixed(2)} s`}  ` +
          `breakers ${Object.entries(states)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
      );
    }, 5000);
    const method = (async () => {
      for (const a of scenario.method) {
        const wait = (a.at ?? 0) * 1000 - now();
        let timer: NodeJS.Timeout | undefined;
        if (wait > 0) await Promise.race([new Promise((r) => (timer = setTimeout(r, wait))), stopping]);
        clearTimeout(timer);
        if (stop) break;
        const log: ActionLog = { at: now(), doneAt: 0, action: a.action, label: labelOf(a), phase: 'method', ok: true };
        say(`[gameday] ${(log.at / 1000).toFixed(1)} s  action: ${log.label}`);
        try {
          await execute(stack, a);
        } catch (err) {
          log.ok = false;
          log.error = (err as Error).message;
          say(`[gameday] action failed: ${log.error}`);
        }
        log.doneAt = now();
        executed.push({ a, log });
      }
    })();
    let faults: FaultWindow[] = [];
    try {
      records = await d.runLoad({ apiUrl: stack.apiUrl, ...scenario.load, now, stopped: () => stop, onStart: (r) => live.push(r) });
    } finally {
      // Whatever happened to the load, the method stops and the rollbacks run.
      stop = true;
      stopNow();
      await method;
      watcher.stop();
      clearInterval(progress);
      faults = faultWindows(executed, Math.min(Math.max(loadMs, now()), loadMs));
      await rollback(stack, scenario, executed, now, say);
      sampling = false;
      await sampler;
    }

    const calls = Object.values(stack.targets).flatMap((t) => t.recorder.calls);
    const ss = scenario.steadyState;
    const { m, verdicts } = measure({
      requests: records,
      calls,
      breakers: samples,
      faults,
      steadyStateMs: ss.seconds * 1000,
      loadMs,
      thresholds: scenario.thresholds,
      breakerGraceMs: stack.config.routing.refreshIntervalMs * 2,
      aborted,
      steadyMax: { p99: ss.maxP99S * 1000, p95: ss.maxP95S && ss.maxP95S * 1000, p50: ss.maxP50S && ss.maxP50S * 1000 },
      requestedModel: scenario.load.model,
      tierOf: (model) => stack.tierOf(model),
    });
    const result: RunResult = {
      scenario,
      startedAt,
      t0,
      m,
      verdicts,
      actions: executed.map((x) => x.log),
      faults,
      breakers: samples,
      requests: records,
      calls,
      recorded: stack.config.targets
        .flatMap((t) => (stack.breakers.get(t.id)?.transitions ?? []).map((x) => ({ target: t.id, at: x.at - t0, from: x.from, to: x.to, reason: x.reason })))
        .filter((x) => x.at >= 0)
        .sort((a, b) => a.at - b.at),
      stack: {
        workers: scenario.stack.workers,
        taskQueue: stack.config.temporal.taskQueue,
        targets: stack.config.targets.map((t) => t.id),
        logDir,
      },
    };
    const files = await d.writeReport(result, opts.outDir);
    return { ...result, files, pass: verdicts.every((v) => v.pass) };
  } finally {
    await stack.stop();
  }
}

/** Rollbacks (always), then a full reset: toxics removed, proxies enabled, mock faults cleared, workers back. */
async function rollback(
  stack: GamedayStack,
  scenario: Scenario,
  executed: Array<{ a: Action; log: ActionLog }>,
  now: () => number,
  say: (l: string) => void,
): Promise<void> {
  for (const a of scenario.rollbacks) {
    const log: ActionLog = { at: now(), doneAt: 0, action: a.action, label: labelOf(a), phase: 'rollback', ok: true };
    try {
      await execute(stack, a);
    } catch (err) {
      // Rolling back what the method already undid is fine.
      if (a.action === 'toxic-remove' && err instanceof ToxiproxyError && err.status === 404) log.label += ' (already removed)';
      else {
        log.ok = false;
        log.error = (err as Error).message;
      }
    }
    log.doneAt = now();
    executed.push({ a, log });
  }
  const log: ActionLog = {
    at: now(),
    doneAt: 0,
    action: 'reset',
    label: 'full reset (toxics, proxies, mock faults, workers)',
    phase: 'rollback',
    ok: true,
  };
  try {
    await stack.resetFaults();
    for (let i = 0; i < stack.workers.length; i++) await stack.startWorker(i);
  } catch (err) {
    log.ok = false;
    log.error = (err as Error).message;
    say(`[gameday] reset failed: ${log.error}`);
  }
  log.doneAt = now();
  executed.push({ a: { action: 'mock-clear', target: '', at: 0 } as Action, log });
}
