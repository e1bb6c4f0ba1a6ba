/**
 * `npm run record-histories [-- --only <substring>] [--as <label>] [--force <fixture>] [--list]`: starts its own
 * Temporal dev server, mock providers and gateway, drives each significant workflow path and
 * writes each resulting history to test/fixtures/histories/<fixture>.json.
 *
 * A fixture is history: a scenario whose fixtures all exist is skipped, and an existing file is
 * never overwritten, so re-running only ADDS fixtures (for paths or workflow versions that are
 * new). `--force <fixture>` re-records one fixture that was never committed; a committed one is
 * refused: add a new scenario (a new name) beside it instead (see docs/replay.md). After a
 * workflow change, `--as <label>` (e.g. the commit) records every scenario again as
 * `<fixture>--<label>.json`, so the new shapes join the old ones.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startTestStack, type TestStack, type TestStackOptions } from '../test/support/stack';
import { startDevServer } from '../test/support/temporal';
import { historyToJson } from '../worker/history-json';
import { installRuntime } from '../shared/runtime';
import { breakerScenarios } from './histories/breakers';
import { jobScenarios } from './histories/jobs';
import { requestScenarios } from './histories/requests';
import { liveConfigScenarios } from './histories/live-config';
import type { Scenario, ScenarioContext } from './histories/scenario';

const ROOT = resolve(__dirname, '..');
/** The one fixtures folder the replay suite reads. */
export const FIXTURES_DIR = join(ROOT, 'test', 'fixtures', 'histories');

const SCENARIOS: Scenario[] = [...requestScenarios, ...jobScenarios, ...breakerScenarios, ...liveConfigScenarios];

const quietLogger = { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never;

function parseArgs(argv: string[]) {
  const force = new Set<string>();
  const only: string[] = [];
  let list = false;
  let label: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') force.add(argv[++i] ?? '');
    else if (a === '--only') only.push(argv[++i] ?? '');
    else if (a === '--list') list = true;
    else if (a === '--as') label = argv[++i];
    else throw new Error(`unknown argument "${a}" (use --only <substring>, --as <label>, --force <fixture>, --list)`);
  }
  if (label !== undefined && !/^[\w.-]+$/.test(label)) throw new Error(`--as ${label}: use letters, digits, ".", "_" or "-"`);
  return { force, only, list, label };
}

let suffix = '';
const fixturePath = (name: string) => join(FIXTURES_DIR, `${name}${suffix}.json`);

/** True when git knows the file (committed or staged): then it is history and stays as it is. */
function tracked(path: string): boolean {
  return spawnSync('git', ['ls-files', '--error-unmatch', relative(ROOT, path)], { cwd: ROOT, stdio: 'ignore' }).status === 0;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(): Promise<void> {
  const { force, only, list, label } = parseArgs(process.argv.slice(2));
  suffix = label ? `--${label}` : '';
  const known = new Set(SCENARIOS.flatMap((s) => s.fixtures));
  for (const f of force) {
    if (!known.has(f)) throw new Error(`--force ${f}: no scenario writes a fixture of that name`);
    if (tracked(fixturePath(f)))
      throw new Error(
        `--force ${f}: that fixture is committed, so it is history and is never re-recorded. Record the new shape under a new name beside it (docs/replay.md).`,
      );
  }
  const selected = SCENARIOS.filter((s) => !only.length || only.some((o) => s.name.includes(o) || s.fixtures.some((f) => f.includes(o))));
  if (list) {
    for (const s of SCENARIOS)
      for (const f of s.fixtures) console.log(`${existsSync(fixturePath(f)) ? 'recorded' : 'missing '}  ${f}  (${s.name}: ${s.describe})`);
    return;
  }
  const todo = selected.filter((s) => s.fixtures.some((f) => force.has(f) || !existsSync(fixturePath(f))));
  for (const s of selected.filter((x) => !todo.includes(x)))
    console.log(`[record] skip ${s.name}: ${s.fixtures.join(', ')} already recorded`);
  if (!todo.length) {
    console.log('[record] nothing to record');
    return;
  }

  const t0 = Date.now();
  mkdirSync(FIXTURES_DIR, { recursive: true });
  installRuntime(); // before the dev server: the SDK runtime is a per-process singleton
  console.log('[record] starting a Temporal dev server…');
  const env = await startDevServer();
  // The stacks started below (test/support) use this server and this one workflow bundle, the
  // code production runs; spawned worker processes inherit both through the environment.
  process.env.STORMPROOF_TEST_TEMPORAL_ADDRESS = env.address;
  process.env.STORMPROOF_LOG_LEVEL ??= 'error';
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger });
  const bundlePath = join(mkdtempSync(join(tmpdir(), 'stormproof-record-')), 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  process.env.STORMPROOF_WORKFLOW_BUNDLE = bundlePath;
  const connection = await Connection.connect({ address: env.address });
  const client = new Client({ connection });
  console.log(`[record] server ${env.address}, workflows bundled (${secs(Date.now() - t0)}); ${todo.length} scenario(s) to record`);

  const sharedStacks = new Map<string, Promise<TestStack>>();
  let written = 0;
  let failed = 0;
  try {
    for (const scenario of todo) {
      const started = Date.now();
      const cleanups: Array<() => Promise<void> | void> = [];
      const fresh: TestStack[] = [];
      const ctx: ScenarioContext = {
        address: env.address,
        client,
        async shared(key, opts?: TestStackOptions) {
          if (!sharedStacks.has(key)) {
            const starting = startTestStack(opts);
            sharedStacks.set(key, starting);
            starting.catch(() => sharedStacks.delete(key));
          }
          const s = await sharedStacks.get(key)!;
          for (const m of Object.values(s.mocks)) {
            m.clearFaults();
            m.resetStats();
          }
          s.gateway.routing.quota.clearCoolDowns();
          return s;
        },
        async fresh(opts) {
          const s = await startTestStack(opts);
          fresh.push(s);
          return s;
        },
        defer: (fn) => void cleanups.push(fn),
        log: (msg) => console.log(`[record]   ${scenario.name}: ${msg}`),
      };
      process.stdout.write(`[record] ${scenario.name}: ${scenario.describe}\n`);
      try {
        const runs = await scenario.run(ctx);
        for (const name of scenario.fixtures) {
          const path = fixturePath(name);
          const run = runs[name];
          if (!run) throw new Error(`scenario ${scenario.name} did not name a run for fixture ${name}`);
          if (existsSync(path) && !force.has(name)) {
            console.log(`[record]   ${name}: exists, kept`);
            continue;
          }
          const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
          writeFileSync(path, `${historyToJson(history)}\n`);
          written++;
          console.log(`[record]   wrote ${relative(ROOT, path)} (${history.events?.length ?? 0} events)`);
        }
        console.log(`[record] ${scenario.name} ok (${secs(Date.now() - started)})`);
      } catch (err) {
        failed++;
        console.error(
          `[record] ${scenario.name} FAILED (${secs(Date.now() - started)}): ${err instanceof Error ? err.stack : String(err)}`,
        );
      } finally {
        for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
        await Promise.all(fresh.map((s) => s.close().catch(() => undefined)));
      }
    }
  } finally {
    await Promise.all([...sharedStacks.values()].map((p) => p.then((s) => s.close()).catch(() => undefined)));
    await connection.close();
    await env.teardown();
  }
  console.log(`[record] ${written} fixture(s) written, ${failed} scenario(s) failed, in ${secs(Date.now() - t0)}`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
