/**
 * A worker SIGKILLed in the middle of a stream, API and workers in separate processes: the retry on
 * another worker asks the API what the client has, continues exactly there, and the client's
 * stream simply goes on (told so by a `stormproof.continued` chunk) instead of being interrupted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import OpenAI from 'openai';
import type { ChatCompletionChunk } from 'openai/resources/chat/completions';
import { Client, Connection } from '@temporalio/client';
import type { MockProvider } from '../chaos/mock-provider';
import { parseConfig } from '../config/load';
import { startApiServer, type RunningApi } from '../api/server';
import { mockedConfig } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { killHard, spawnWorker, writeConfig } from './support/processes';

const PRIMARY = 'openai-us-east-1';
const WORDS = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen';
let mocks: Record<string, MockProvider>;
let connection: Connection;
let api: RunningApi;
let configPath: string;
const workers: ChildProcess[] = [];

before(async () => {
  const address = await testTemporalAddress();
  const cfg = await mockedConfig(address, undefined, { chunkDelayMs: 150 });
  mocks = cfg.mocks;
  const config = parseConfig(cfg.raw, 'test');
  process.env[config.api.internalTokenEnv] = randomUUID(); // the worker children inherit it
  configPath = writeConfig(cfg.raw);
  workers.push(await spawnWorker(configPath, 'doomed-streamer'));
  connection = await Connection.connect({ address });
  api = await startApiServer({ config, client: new Client({ connection }), port: 0, log: { error: () => undefined } });
});
after(async () => {
  await Promise.all(workers.map(killHard));
  await api?.close();
  await connection?.close();
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
});

test('a worker killed mid-stream: another worker continues where the client is; one whole answer, no error', async () => {
  const openai = new OpenAI({ baseURL: `${api.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const { data: stream, response } = await openai.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: WORDS }], stream: true })
    .withResponse();
  let text = '';
  let killedAt: number | undefined;
  const chunks: Array<ChatCompletionChunk & { stormproof?: any }> = [];
  for await (const c of stream) {
    chunks.push(c);
    text += c.choices[0]?.delta?.content ?? '';
    if (killedAt === undefined && text.length >= 40) {
      killedAt = text.length;
      await killHard(workers[0]);
      workers.push(await spawnWorker(configPath, 'rescuer-streamer'));
    }
  }
  assert.ok(killedAt !== undefined, 'the worker was killed mid-stream');
  assert.equal(text, `Echo from gpt-4o: ${WORDS}`);
  const notices = chunks.filter((c) => c.stormproof?.continued).map((c) => c.stormproof.continued);
  assert.equal(notices.length, 1, JSON.stringify(notices));
  assert.equal(notices[0].from, PRIMARY);
  assert.equal(notices[0].to, PRIMARY);
  assert.ok(notices[0].at >= killedAt, 'continued at or after what the client had when the worker died');
  const asked = (mocks[PRIMARY].stats().lastRequest?.body as any).messages;
  assert.equal(asked.at(-2).content, text.slice(0, notices[0].at), 'the retry was asked to continue exactly the text the client had');
  const job = await new Client({ connection }).workflow.getHandle(response.headers.get('x-stormproof-job-id')!).result();
  assert.equal(job.message.content, text, 'the durable result is the same answer');
});
