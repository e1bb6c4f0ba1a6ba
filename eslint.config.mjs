// The linter enforces the workflow sandbox: workflow code is bundled and replayed, so it
// must not import Node built-ins, I/O code (activities, api, worker) or provider SDKs.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.data/**', '.scratch/**', 'eslint.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] }],
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
            { group: ['**/activities/*', '**/activities', '!**/activities/types'], message: 'Import activities with `import type` only.', allowTypeImports: true },
            { group: ['**/api/*', '**/worker/*', '**/chaos/*', '**/config/load*'], message: 'No I/O code in the workflow sandbox.' },
            { group: ['express', 'pino', 'prom-client', 'yaml'], message: 'No I/O libraries in the workflow sandbox.' },
          ],
        },
      ],
    },
  },
  {
    // Tests read arbitrary JSON bodies back from the API.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
