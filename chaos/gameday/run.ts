/**
 * Runs one scenario: starts a fresh stack, warms it up, runs the open-loop load while the method's
 * actions fire on time, samples the breakers every 250 ms, runs the rollbacks and a full reset
 * (always), then measures and writes the report.
 */
import { join } from 'node:path';
import { execute, faultWindows, labelOf, rollback } from './actions';
import { collectTransitions, sampleOf, type RecordedTransition } from './breaker-sample';
import { runLoad } from './load';
import { measure, percentile } from './measure';
import type { ActionLog, BreakerSample, FaultWindow, RequestRecord } from './records';
import { writeReport, type ReportFiles, type RunResult } from './report';
import type { Action, Scenario } from './schema';
import { startStack } from './stack';

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
    gateway: scenario.gateway,
  });
  const executed: Array<{ a: Action; log: ActionLog }> = [];
  const samples: BreakerSample[] = [];
  const recorded = new Map<string, RecordedTransition>();
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

    say(
      `[gameday] load: ${scenario.load.rate} req/s for ${scenario.load.seconds} s; steady state ${scenario.steadyState.seconds} s; ` +
        `routing ${stack.routing.strategy} (${stack.routing.from})`,
    );
    t0 = Date.now();
    let sampling = true;
    const targetIds = stack.config.targets.map((t) => t.id);
    const seenModels = new Set<string>();
    const sampler = (async () => {
      while (sampling) {
        const next = Date.now() + 250;
        await stack.breakers.refresh().catch(() => undefined);
        samples.push(sampleOf(now(), targetIds, (id) => stack.breakers.get(id), seenModels));
        for (const id of targetIds) collectTransitions(recorded, id, stack.breakers.get(id), t0);
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
      const last = samples.at(-1);
      // Models' breakers only while they are not closed.
      const states = { ...last?.states, ...Object.fromEntries(Object.entries(last?.models ?? {}).filter(([, v]) => v !== 'closed')) };
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
      recorded: [...recorded.values()],
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
      recorded: [...recorded.values()].filter((x) => x.at >= 0).sort((a, b) => a.at - b.at),
      stack: {
        workers: scenario.stack.workers,
        taskQueue: stack.config.temporal.taskQueue,
        targets: stack.config.targets.map((t) => t.id),
        routing: stack.routing,
        logDir,
      },
    };
    const files = await d.writeReport(result, opts.outDir);
    return { ...result, files, pass: verdicts.every((v) => v.pass) };
  } finally {
    await stack.stop();
  }
}
