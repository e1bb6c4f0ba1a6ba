/**
 * The compose topology on a real Temporal cluster: scripts/cluster.ts runs docker-compose.yml's
 * services as local processes (PostgreSQL, the schema set-up, the Temporal server 1.32.2 built from
 * its Go module, the namespace set-up, one API process, two worker processes, toxiproxy, the mock
 * providers), with the file's own commands and environment. Under mixed load (chat, streams, jobs)
 * one worker is SIGKILLed while it runs a stream and a provider call. Promise: 0 accepted jobs
 * lost, every chat answered, every stream complete or ended by an explicit error event, and the
 * breakers consistent across processes.
 *
 * So that the kill lands mid-stream and mid-call every time, not by luck: the first worker starts
 * alone and picks up a long stream and two slow calls ("markers"), then the second worker starts
 * and the load spreads over both; the first is killed while the markers are visibly in flight.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import OpenAI, { APIError } from 'openai';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { startCluster, type RunningCluster } from '../scripts/cluster';
import { kindFor, nonceFor, promptFor } from '../chaos/gameday/load';
import { BreakerView } from '../shared/breaker-view';
import { breakerIdFor } from '../shared/breakers';
import { loadConfig } from '../config/load';
import type { GatewayConfig } from '../config/schema';
import { waitFor } from './support/wait';

const KEY = `sk-${randomUUID()}`;
const MARKER_MODEL = 'claude-sonnet-4';
/** The markers' provider latency: long enough to kill inside it on a loaded box. */
const MARKER_LATENCY_MS = 15_000;
/** The marker stream: ~750 chunks at the compose file's 20 ms each. */
const MARKER_WORDS = 750;
const EventType = temporal.api.enums.v1.EventType;

let cluster: RunningCluster;
let connection: Connection;
let client: Client;
let config: GatewayConfig;
let apiUrl: string;
let openai: OpenAI;

const identityOf = (replica: number) => `${cluster.process('worker', replica)!.pid}@${hostname()}`;
const mockUrl = (service: string, port: number) => `http://${cluster.address(service, port)}`;
const api = async (path: string, init: RequestInit & { json?: unknown } = {}) => {
  const { json, ...rest } = init;
  const res = await fetch(`${apiUrl}${path}`, {
    ...rest,
    headers: { authorization: `Bearer ${KEY}`, ...(json !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: json !== undefined ? JSON.stringify(json) : undefined,
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as any };
};

async function pollers(): Promise<string[]> {
  const { pollers: list } = await client.workflowService.describeTaskQueue({
    namespace: config.temporal.namespace,
    taskQueue: { name: config.temporal.taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (list ?? []).map((p) => p.identity ?? '');
}

async function jobResult(id: string): Promise<any> {
  let view: any;
  await waitFor(
    async () => {
      view = (await api(`/v1/jobs/${id}`)).body;
      return view && view.status !== 'queued' && view.status !== 'running';
    },
    `job ${id} to end`,
    120_000,
    250,
  );
  return view;
}

before(async () => {
  const bundle = process.env.STORMPROOF_WORKFLOW_BUNDLE;
  cluster = await startCluster({
    vars: { STORMPROOF_API_KEYS: `ops:${KEY}:admin`, STORMPROOF_INTERNAL_TOKEN: randomUUID() },
    profiles: ['mocks'],
    initialReplicas: { worker: 1 },
    extraEnv: bundle ? { STORMPROOF_WORKFLOW_BUNDLE: bundle } : {},
    log: (l) => process.stderr.write(`${l}\n`),
  });
  // The API's own config (the compose file's, rewritten to this machine's addresses).
  const configPath = cluster.localPath('api', '/etc/stormproof/gateway.yaml');
  assert.ok(configPath, 'the API mounts the gateway config');
  config = loadConfig(configPath);
  connection = await Connection.connect({ address: cluster.address('temporal', 7233) });
  client = new Client({ connection, namespace: config.temporal.namespace });
  apiUrl = `http://${cluster.address('api', 8080)}`;
  openai = new OpenAI({ baseURL: `${apiUrl}/v1`, apiKey: KEY, maxRetries: 0, timeout: 180_000 });
});

after(async () => {
  await connection?.close();
  await cluster?.stop();
});

test('a worker SIGKILLed mid-stream and mid-call on a real cluster: nothing accepted is lost', { timeout: 300_000 }, async (t) => {
  const first = identityOf(0);
  await waitFor(async () => (await pollers()).includes(first), 'the first worker to poll', 60_000, 250);

  // Markers, all on the first worker (the only one polling): a long stream and two slow calls.
  const slow = await fetch(`${mockUrl('mock-anthropic', 18082)}/__faults`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ latencyMs: MARKER_LATENCY_MS, models: ['claude-sonnet-4-20250514'] }),
  });
  assert.equal(slow.status, 200);
  const markerText = promptFor(0, nonceFor(9_999), MARKER_WORDS);
  const marker = { chunks: 0, text: '', done: false, error: undefined as unknown, jobId: '' };
  const { data: markerStream, response: markerResponse } = await openai.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: markerText }], stream: true })
    .withResponse();
  marker.jobId = markerResponse.headers.get('x-stormproof-job-id')!;
  const markerStreamDone = (async () => {
    try {
      for await (const c of markerStream) {
        const piece = c.choices[0]?.delta?.content;
        if (piece) {
          marker.chunks += 1;
          marker.text += piece;
        }
      }
    } catch (err) {
      marker.error = err;
    }
    marker.done = true;
  })();
  const pinned = (text: string) => ({
    model: MARKER_MODEL,
    messages: [{ role: 'user' as const, content: text }],
    routing: { pinModel: true },
  });
  const markerChat = openai.chat.completions.create(pinned('marker call') as OpenAI.ChatCompletionCreateParamsNonStreaming).withResponse();
  const markerJob = await api('/v1/jobs', { method: 'POST', json: { request: pinned('marker job') } });
  assert.equal(markerJob.status, 202);
  let markerChatSettled = false;
  void markerChat.then(
    () => (markerChatSettled = true),
    () => (markerChatSettled = true),
  );

  // The marker stream's activity runs on the first worker.
  await waitFor(
    async () => {
      const d = await client.workflow.getHandle(marker.jobId).describe();
      return d.raw.pendingActivities?.[0]?.lastWorkerIdentity === first && marker.chunks > 0;
    },
    'the marker stream to run on the first worker',
    60_000,
    100,
  );

  await cluster.start('worker', 1);
  const second = identityOf(1);
  await waitFor(async () => (await pollers()).includes(second), 'the second worker to poll', 60_000, 250);

  // Mixed open-loop load over both workers until a few seconds after the kill.
  type Rec = { kind: string; nonce: string; ok?: boolean; explicit?: string; jobId?: string; detail?: string };
  const recs: Rec[] = [];
  const running: Array<Promise<void>> = [];
  let stopLoad = false;
  const one = async (i: number) => {
    const kind = kindFor(i, { chat: 1, stream: 1, job: 1 });
    const nonce = nonceFor(i);
    const prompt = promptFor(i, nonce, 30);
    const r: Rec = { kind, nonce };
    recs.push(r);
    const complete = (t: string | null | undefined) => (t ?? '').trimEnd().endsWith(nonce);
    try {
      if (kind === 'chat') {
        const res = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: prompt }] });
        r.ok = complete(res.choices[0].message.content);
      } else if (kind === 'stream') {
        const { data, response } = await openai.chat.completions
          .create({ model: 'gpt-4o', messages: [{ role: 'user', content: prompt }], stream: true })
          .withResponse();
        r.jobId = response.headers.get('x-stormproof-job-id') ?? undefined;
        let text = '';
        for await (const c of data) text += c.choices[0]?.delta?.content ?? '';
        r.ok = complete(text);
      } else {
        const res = await api('/v1/jobs', {
          method: 'POST',
          json: { request: { model: 'gpt-4o', messages: [{ role: 'user', content: prompt }] } },
        });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        r.jobId = res.body.id;
        const view = await jobResult(r.jobId!);
        r.ok = view.status === 'completed' && complete(view.result?.message?.content);
      }
      if (!r.ok) r.detail = 'ended normally without its whole answer';
    } catch (err) {
      r.ok = false;
      if (err instanceof APIError && typeof err.code === 'string') r.explicit = err.code;
      r.detail = (err as Error).message;
    }
  };
  const load = (async () => {
    for (let i = 0; !stopLoad; i++) {
      running.push(one(i));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();

  // The kill: while the marker stream is mid-answer and both slow calls are at the provider.
  await new Promise((r) => setTimeout(r, 2_000));
  const stats = async () => (await (await fetch(`${mockUrl('mock-anthropic', 18082)}/__stats`)).json()) as { inFlight: number };
  await waitFor(async () => (await stats()).inFlight >= 2, 'both slow calls at the provider', 30_000, 100);
  assert.ok(!marker.done && !markerChatSettled, 'the markers are still in flight at the kill');
  const chunksAtKill = marker.chunks;
  await cluster.kill('worker', 0);
  await new Promise((r) => setTimeout(r, 4_000));
  stopLoad = true;
  await load;
  await Promise.all(running);
  await markerStreamDone;

  // 0 accepted jobs lost; every chat answered in full.
  const jobs = recs.filter((r) => r.kind === 'job');
  const chats = recs.filter((r) => r.kind === 'chat');
  const streams = recs.filter((r) => r.kind === 'stream');
  assert.ok(jobs.length >= 3 && chats.length >= 3 && streams.length >= 3, `mixed load ran: ${recs.length} requests`);
  assert.deepEqual(
    jobs.filter((r) => !r.ok),
    [],
    'every accepted job completed with its whole answer',
  );
  assert.deepEqual(
    chats.filter((r) => !r.ok),
    [],
    'every chat got its whole answer',
  );
  const markerJobView = await jobResult(markerJob.body.id);
  assert.equal(markerJobView.status, 'completed');
  assert.equal(markerJobView.result.message.content, 'Echo from claude-sonnet-4-20250514: marker job');
  const { data: chatAnswer, response: chatResponse } = await markerChat;
  assert.equal(chatAnswer.choices[0].message.content, 'Echo from claude-sonnet-4-20250514: marker call');

  // Every stream complete, or ended by an explicit error event whose job still completes.
  const explicitly = (r: { explicit?: string }) => r.explicit === 'STORMPROOF_ERR_STREAM_INTERRUPTED';
  for (const r of streams) assert.ok(r.ok || explicitly(r), `stream ${r.nonce}: ${r.detail}`);
  const markerRec = { explicit: marker.error instanceof APIError ? String(marker.error.code) : undefined };
  assert.ok(chunksAtKill > 0, 'the marker stream was mid-answer at the kill');
  if (marker.error)
    assert.ok(explicitly(markerRec), `the marker stream ended by an explicit error event: ${(marker.error as Error).message}`);
  else assert.equal(marker.text, `Echo from gpt-4o: ${markerText}`);
  for (const id of [marker.jobId, ...streams.filter(explicitly).map((r) => r.jobId!)]) {
    const view = await jobResult(id);
    assert.equal(view.status, 'completed', `interrupted stream ${id} still completes`);
  }

  t.diagnostic(
    `${recs.length} requests (${chats.length} chat, ${streams.length} stream, ${jobs.length} job); ` +
      `${streams.filter(explicitly).length} stream(s) ended by an error event; marker stream: ${chunksAtKill} chunks at the kill, ` +
      `${marker.error ? 'ended by an error event' : 'completed'} after ${marker.chunks}`,
  );

  // The kill landed mid-call: the slow call's workflow task died with the first worker and the
  // second worker finished it.
  const history = await client.workflow.getHandle(chatResponse.headers.get('x-stormproof-job-id')!).fetchHistory();
  const events = history.events ?? [];
  const startedBy = events
    .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    .map((e) => e.workflowTaskStartedEventAttributes?.identity);
  const completedBy = events
    .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    .map((e) => e.workflowTaskCompletedEventAttributes?.identity);
  assert.ok(startedBy.includes(first), 'the first worker ran the slow call');
  assert.ok(
    events.some((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT),
    'its workflow task timed out with the worker',
  );
  assert.equal(completedBy.at(-1), second, 'the second worker finished it');

  // Breakers consistent: one running breaker per target, the same state seen by the API-only
  // process and in Temporal, and a worker kill opened none of them (no provider failed).
  const fromTemporal = new BreakerView(client, config);
  await fromTemporal.refresh();
  const providers = await api('/v1/providers');
  assert.equal(providers.status, 200);
  for (const t of config.targets) {
    const d = await client.workflow.getHandle(breakerIdFor(config, t.id)).describe();
    assert.equal(d.status.name, 'RUNNING', `breaker of ${t.id}`);
    const shown = providers.body.data.find((p: any) => p.id === t.id);
    assert.equal(shown.breaker.state, fromTemporal.get(t.id)?.state, `${t.id}: the API shows what Temporal holds`);
    assert.equal(shown.breaker.state, 'closed', `${t.id}: no breaker opened because a worker died`);
  }
});
