/**
 * Every recorded history (test/fixtures/histories/*.json) replays against today's workflow code,
 * the bundle production runs. A failure names the fixture, the workflow type and the history
 * event where the code diverged. Fixtures are history: never re-record one to make this pass;
 * make the change replay-safe instead (docs/replay.md).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readHistoryFile, replayMany, workflowTypeOf, type History } from '../worker/replay';
import { AesGcmCodec } from '../shared/codec';
import { installRuntime } from '../shared/runtime';

installRuntime(); // SDK logs at STORMPROOF_SDK_LOG_LEVEL (default WARN), not the replay worker's INFO chatter

const DIR = join(__dirname, 'fixtures', 'histories');
const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({ file, name: file.replace(/\.json$/, ''), history: readHistoryFile(join(DIR, file)) as History }));

describe('replay of recorded histories', () => {
  // One replay worker for all fixtures (it loads the bundle once); each fixture is its own test.
  const results = new Map<string, string | undefined>();
  before(async () => {
    // With the payload codec on, as a production worker with codec keys runs: the fixtures were
    // recorded before it (plain JSON payloads), and they must keep replaying through it.
    const codec = new AesGcmCodec([{ id: 'replay-test', key: randomBytes(32) }]);
    for await (const r of replayMany(fixtures, { dataConverter: { payloadCodecs: [codec] } })) results.set(r.name, r.failure);
  });

  test('the fixtures folder is not empty', () => {
    assert.ok(fixtures.length > 0, `no fixtures in ${DIR}: run npm run record-histories`);
  });

  for (const f of fixtures) {
    test(`${f.file} (${workflowTypeOf(f.history)})`, () => {
      assert.ok(results.has(f.name), `${f.file} was not replayed`);
      const failure = results.get(f.name);
      if (failure) assert.fail(`test/fixtures/histories/${failure}`);
    });
  }
});
