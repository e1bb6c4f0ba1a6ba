/**
 * `npm test`: typecheck, lint, then every test file (node:test) against one Temporal dev server
 * started for the run from the pinned CLI binary, with the workflow bundle built once.
 */
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { startDevServer } from '../test/support/temporal';

const ROOT = resolve(__dirname, '..');
const SKIP = new Set(['node_modules', '.tools', '.data', '.git']);

function findTests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(ROOT, p));
  }
  return out.sort();
}

function step(name: string, cmd: string, args: string[]): void {
  const t0 = Date.now();
  process.stdout.write(`\n[test] ${name}…\n`);
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`[test] ${name} failed\n`);
    process.exit(r.status ?? 1);
  }
  process.stdout.write(`[test] ${name} ok (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
}

async function main(): Promise<void> {
  const filter = process.argv.slice(2);
  if (!filter.length && !process.env.STORMPROOF_SKIP_STATIC) {
    step('typecheck (tsc --noEmit)', 'npx', ['tsc', '--noEmit', '-p', '.']);
    step('lint (eslint, incl. the workflow sandbox rules)', 'npx', ['eslint', '.']);
    step('format (prettier --check; npm run format fixes it)', 'npx', ['prettier', '--check', '**/*.{ts,mjs}']);
  }
  const files = findTests(ROOT).filter((f) => !filter.length || filter.some((x) => f.includes(x)));
  process.stdout.write(`\n[test] starting the Temporal dev server…\n`);
  const env = await startDevServer();
  process.stdout.write(`[test] Temporal dev server at ${env.address}\n[test] bundling workflows…\n`);
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} } as never,
  });
  const bundlePath = join(mkdtempSync(join(tmpdir(), 'stormproof-')), 'workflow-bundle.js');
  writeFileSync(bundlePath, code);
  process.stdout.write(`[test] running ${files.length} test file(s)\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
    cwd: ROOT,
    stdio: 'inherit',
    env: {
      ...process.env,
      STORMPROOF_TEST_TEMPORAL_ADDRESS: env.address,
      STORMPROOF_WORKFLOW_BUNDLE: bundlePath,
      STORMPROOF_LOG_LEVEL: process.env.STORMPROOF_LOG_LEVEL ?? 'warn',
    },
  });
  const status: number = await new Promise((r) => child.on('exit', (c, s) => r(c ?? (s ? 1 : 0))));
  await env.teardown();
  process.exit(status);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
