// The linter enforces the workflow sandbox: workflow code is bundled and replayed, so it
// must not import Node built-ins, I/O code (activities, api, worker) or provider SDKs.
// It also draws the process boundary: the API and the worker are separate processes (roles), so
// `api/` never imports `worker/` nor the reverse; what both need lives in `shared/`, `contracts/`
// or `config/`, and `shared/` imports neither role (README, "Architecture").
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

/** An import of a role's directory from another directory (relative paths only). */
const roleImport = (role) => `^(\\.\\./)+${role}(/.*)?$`;
const boundary = (roles, why) => ({
  'no-restricted-imports': ['error', { patterns: roles.map((role) => ({ regex: roleImport(role), message: why(role) })) }],
});

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.data/**', '.scratch/**', 'eslint.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts', 'contracts/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code runs in a deterministic sandbox: no Node built-ins.' })),
            { name: 'openai', message: 'Provider SDKs belong in activities/.' },
            { name: '@anthropic-ai/sdk', message: 'Provider SDKs belong in activities/.' },
            { name: '@temporalio/activity', message: 'Activities run outside the workflow sandbox.' },
            { name: '@temporalio/client', message: 'Workflow code must not use the client.' },
            { name: '@temporalio/worker', message: 'Workflow code must not use the worker.' },
          ],
          patterns: [
            {
              group: ['**/activities/*', '**/activities', '!**/activities/types'],
              message: 'Import activities with `import type` only.',
              allowTypeImports: true,
            },
            { group: ['**/api/*', '**/worker/*', '**/chaos/*', '**/config/load*'], message: 'No I/O code in the workflow sandbox.' },
            { group: ['express', 'pino', 'prom-client', 'yaml'], message: 'No I/O libraries in the workflow sandbox.' },
          ],
        },
      ],
    },
  },
  {
    files: ['api/**/*.ts'],
    rules: boundary(['worker'], () => 'The API is its own process: import from shared/, contracts/ or config/, never worker/.'),
  },
  {
    files: ['worker/**/*.ts'],
    rules: boundary(['api'], () => 'The worker is its own process: import from shared/, contracts/ or config/, never api/.'),
  },
  {
    files: ['shared/**/*.ts'],
    rules: boundary(['api', 'worker'], (role) => `shared/ serves both processes: it must not import ${role}/.`),
  },
  {
    // Tests read arbitrary JSON bodies back from the API.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
