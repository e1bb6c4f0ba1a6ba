/**
 * The process boundary is drawn by the linter (eslint.config.mjs): `api/` never imports `worker/`,
 * `worker/` never imports `api/`, and `shared/` (what both use) imports neither. Snippets are
 * linted through ESLint's Node API as if they were files in those directories, so the rule is
 * shown to fire; the repository's own files are then shown to keep it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = resolve(__dirname, '..');
// The fixtures are not files on disk: the type-aware parser gets a default project for them.
const fixtures = ['*/boundary-fixture.ts', 'api/*/boundary-fixture.ts'];
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: { languageOptions: { parserOptions: { projectService: { allowDefaultProject: fixtures } } } },
});

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: resolve(ROOT, file) });
  assert.deepEqual(
    result.messages.filter((m) => m.fatal),
    [],
    'the snippet parses',
  );
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

test('an api/ file importing worker/ fails the lint, also as a type-only import', async () => {
  const errors = await boundaryErrors('api/boundary-fixture.ts', "import { logger } from '../worker/main';\nexport const x = logger;\n");
  assert.equal(errors.length, 1, 'one restricted import');
  assert.match(errors[0], /never worker\//);
  const typeOnly = await boundaryErrors(
    'api/warroom/boundary-fixture.ts',
    "import type { RoutingState } from '../../worker/routing-state';\nexport type X = RoutingState;\n",
  );
  assert.equal(typeOnly.length, 1, 'a type import crosses the boundary too');
});

test('a worker/ file importing api/ fails the lint', async () => {
  const errors = await boundaryErrors('worker/boundary-fixture.ts', "export { StreamHub } from '../api/stream-hub';\n");
  assert.equal(errors.length, 1);
  assert.match(errors[0], /never api\//);
});

test('shared/ imports neither role', async () => {
  assert.equal((await boundaryErrors('shared/boundary-fixture.ts', "import '../worker/worker';\n")).length, 1);
  assert.equal((await boundaryErrors('shared/boundary-fixture.ts', "import '../api/app';\n")).length, 1);
});

test('what the rule allows: shared/, contracts/, config/ and packages named like a role', async () => {
  const ok =
    "import { logger } from '../shared/log';\nimport type { GatewayConfig } from '../config/schema';\nimport { Worker } from '@temporalio/worker';\nexport const x = [logger, Worker] as const;\nexport type C = GatewayConfig;\n";
  assert.deepEqual(await boundaryErrors('api/boundary-fixture.ts', ok), []);
  assert.deepEqual(await boundaryErrors('worker/boundary-fixture.ts', ok), []);
});

test('no file in api/, worker/ or shared/ crosses the boundary today', async () => {
  const results = await new ESLint({ cwd: ROOT }).lintFiles(['api/**/*.ts', 'worker/**/*.ts', 'shared/**/*.ts']);
  const crossings = results.flatMap((r) =>
    r.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => `${r.filePath}:${m.line} ${m.message}`),
  );
  assert.deepEqual(crossings, []);
  assert.ok(results.length > 30, `linted ${results.length} files`);
});
