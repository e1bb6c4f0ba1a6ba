/** `npm run ingest`: files and folders into a collection, with progress lines, against a real mock. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startMockProvider, type MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import { createRagService, retrieve } from '../activities/retrieval';

const ROOT = resolve(__dirname, '..');
let mock: MockProvider;
let dir: string;

before(async () => {
  mock = await startMockProvider({ kind: 'openai' });
  dir = mkdtempSync(join(tmpdir(), 'stormproof-ingest-'));
});
after(async () => {
  await mock.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (which serves the mock). */
function ingest(args: string[], configPath: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', require.resolve('tsx'), join(ROOT, 'scripts/ingest.ts'), ...args], {
    cwd: dir,
    env: { ...process.env, STORMPROOF_CONFIG: configPath },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

test('ingests a folder recursively (text files only) and reports progress; usage errors exit 2', async () => {
  const raw = {
    targets: [{ id: 'emb', kind: 'openai', baseUrl: mock.baseUrl, mock: true, models: [{ id: 'gpt-4o-mini' }] }],
    rag: { dataDir: join(dir, 'data'), embeddings: { target: 'emb', dimensions: 64 } },
  };
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, JSON.stringify(raw)); // JSON is YAML
  mkdirSync(join(dir, 'docs/nested'), { recursive: true });
  writeFileSync(join(dir, 'docs/a.md'), '# Alpha\n\nThe alpha document talks about quotas.');
  writeFileSync(join(dir, 'docs/nested/b.txt'), 'The beta document talks about hedging.');
  writeFileSync(join(dir, 'docs/nested/image.png'), 'not text');

  const r = await ingest(['kb', 'docs'], configPath);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 document\(s\) into "kb"/);
  assert.match(r.stdout, /embedded 2\/2 \(100%\)/);
  assert.match(r.stdout, /done in .* s: 2 documents, 2 chunks, 2 with vectors/);

  const rag = createRagService(parseConfig(raw));
  try {
    const hit = await retrieve(rag, { collection: 'kb', query: 'beta hedging', topK: 1 });
    assert.equal(hit.mode, 'vector');
    assert.equal(hit.passages[0].source, 'docs/nested/b.txt');
  } finally {
    await rag.close();
  }

  mock.setFaults({ down: true });
  const degraded = await ingest(['kb2', 'docs/a.md'], configPath);
  mock.clearFaults();
  assert.equal(degraded.status, 0);
  assert.match(degraded.stdout, /WARNING: embedding on emb failed/);

  assert.equal((await ingest(['kb'], configPath)).status, 2);
  const bad = await ingest(['Bad Name', 'docs'], configPath);
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /collection name "Bad Name"/);
});
