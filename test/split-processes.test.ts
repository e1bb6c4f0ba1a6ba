/**
 * API and worker in SEPARATE processes: the worker (a child process) relays streamed chunks to the
 * API (this process, no worker) over the internal route, so a streaming call still streams.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import OpenAI from 'openai';
import { Client, Connection } from '@temporalio/client';
import type { MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import { startApiServer, type RunningApi } from '../api/server';
import { mockedConfig } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { killHard, spawnWorker, writeConfig } from './support/processes';

const CHUNK_DELAY_MS = 80;
let mocks: Record<string, MockProvider>;
let connection: Connection;
let api: RunningApi;
let worker: ChildProcess;
let openai: OpenAI;
const token = randomUUID();

before(async () => {
  const address = await testTemporalAddress();
  const cfg = await mockedConfig(address, undefined, { chunkDelayMs: CHUNK_DELAY_MS });
  mocks = cfg.mocks;
  const config = parseConfig(cfg.raw, 'test');
  process.env[config.api.internalTokenEnv] = token; // the worker child inherits it
  worker = await spawnWorker(writeConfig(cfg.raw), 'split-worker');
  connection = await Connection.connect({ address });
  const client = new Client({ connection });
  api = await startApiServer({ config, client, port: 0, log: { error: () => undefined } });
  openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'x', maxRetries: 0 });
});
after(async () => {
  if (worker) await killHard(worker);
  await api?.close();
  await connection?.close();
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
});

test('a streaming call streams: chunks arrive while the provider is still producing', async () => {
  const words = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen';
  const arrivals: number[] = [];
  let text = '';
  const stream = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: words }], stream: true });
  for await (const c of stream) {
    const piece = c.choices[0]?.delta?.content;
    if (piece) {
      arrivals.push(Date.now());
      text += piece;
    }
  }
  assert.equal(text, `Echo from gpt-4o: ${words}`);
  // 17 pieces at 80 ms: relayed one by one (after the first 32 characters, held back for the
  // answer checks), not one buffered blob at the end.
  assert.ok(arrivals.length >= 10, `expected many content chunks, got ${arrivals.length}`);
  const spread = arrivals.at(-1)! - arrivals[0];
  assert.ok(spread >= CHUNK_DELAY_MS * 8, `chunks arrived over ${spread} ms; the provider took ~${CHUNK_DELAY_MS * 16} ms`);
});

test('non-streaming calls work across processes too', async () => {
  const res = await openai.chat.completions.create({ model: 'claude-sonnet-4', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(res.choices[0].message.content, 'Echo from claude-sonnet-4-20250514: hi');
});

test('the relay route refuses a wrong token and unknown jobs', async () => {
  const post = (auth: string) =>
    fetch(`${api.url}/internal/streams/job-x`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-ndjson' },
      body: '{}\n',
    });
  assert.equal((await post('Bearer wrong')).status, 401);
  assert.equal((await post(`Bearer ${token}`)).status, 404);
});
