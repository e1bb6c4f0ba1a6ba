/**
 * `npm run gameday -- <scenario.yaml | folder> [--out dir] [--config gateway.yaml]`: validates the
 * scenario(s), runs each against a fresh game-day stack (real Temporal dev server, toxiproxy, mock
 * providers or real upstreams, worker and API processes at the default config or the one given),
 * writes a report per run and prints the verdicts. Exits non-zero when any threshold is breached
 * (or a scenario is invalid).
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../config/load';
import { runScenario } from '../chaos/gameday/run';
import { stopAllStacks } from '../chaos/gameday/stack';
import { loadScenario, ScenarioError, type Scenario } from '../chaos/gameday/schema';

const ROOT = resolve(__dirname, '..');

function usage(): never {
  process.stderr.write('usage: npm run gameday -- <scenario.yaml | folder> [more…] [--out dir] [--config gateway.yaml]\n');
  process.exit(2);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let outDir = join(ROOT, 'reports', 'gameday');
  let configPath = DEFAULT_CONFIG_PATH;
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') outDir = resolve(args[++i] ?? usage());
    else if (args[i] === '--config') configPath = resolve(args[++i] ?? usage());
    else if (args[i] === '--help' || args[i] === '-h') usage();
    else paths.push(args[i]);
  }
  if (!paths.length) usage();
  const files = paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(p, f))
      : [p],
  );
  // Validated like the stack will run it; targets not marked mock are real upstreams.
  const config = loadConfig(configPath);
  const targets = config.targets.map((t) => t.id);
  const realTargets = config.targets.filter((t) => !t.mock).map((t) => t.id);
  const scenarios: Scenario[] = [];
  const invalid: string[] = [];
  for (const f of files) {
    try {
      scenarios.push(loadScenario(f, targets, realTargets));
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      invalid.push(err.message);
    }
  }
  if (invalid.length) {
    process.stderr.write(`${invalid.join('\n')}\n`);
    process.exit(2);
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n[gameday] ${sig}: stopping the stack…\n`);
      void stopAllStacks().finally(() => process.exit(130));
    });
  }
  process.stdout.write(`[gameday] ${scenarios.length} scenario(s) valid: ${scenarios.map((s) => s.name).join(', ')}\n`);
  const summary: string[] = [];
  let failed = 0;
  for (const s of scenarios) {
    try {
      const out = await runScenario(s, { outDir, configPath });
      if (!out.pass) failed++;
      process.stdout.write(`\n[gameday] ${s.name}: ${out.pass ? 'PASS' : 'FAIL'}  (report: ${out.files.md})\n`);
      for (const v of out.verdicts) process.stdout.write(`  ${v.pass ? 'pass' : 'FAIL'}  ${v.key}: ${v.detail}\n`);
      const m = out.m;
      summary.push(
        `${out.pass ? 'PASS' : 'FAIL'}  ${s.name}: ${m.errors}/${m.finished} errors, p50 ${m.latency.p50} ms, p99 ${m.latency.p99} ms, ` +
          `truncated ${m.truncated}, lost jobs ${m.jobs.lost}, provider calls beyond the traces ${m.duplicateProviderCalls}`,
      );
    } catch (err) {
      failed++;
      summary.push(`ERROR ${s.name}: ${(err as Error).message.split('\n')[0]}`);
      process.stderr.write(`[gameday] ${s.name} could not run: ${(err as Error).stack}\n`);
    }
  }
  process.stdout.write(`\n[gameday] summary\n${summary.map((l) => `  ${l}`).join('\n')}\n`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
