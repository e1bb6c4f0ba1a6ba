/**
 * Jobs with callbacks (aiJobWorkflow + callbackDeliveryWorkflow), batches (batchWorkflow and its
 * child requests) and a worker killed mid-request (a worker process, killed, another finishes).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { batchItemJobId } from '../../contracts/batches';
import { callbackWorkflowId } from '../../contracts/callbacks';
import { REQUEST_WORKFLOW } from '../../contracts/workflow-api';
import { killHard, spawnWorker, writeConfig } from '../../test/support/processes';
import { chat, mockedConfig, type TestStack } from '../../test/support/stack';
import { job, waitFor, type RecordedRun, type Scenario, type ScenarioContext } from './scenario';

const PRIMARY = 'openai-us-east-1';

/** A callback receiver whose n-th answer is `answer(n)`. */
async function receiver(ctx: ScenarioContext, answer: (n: number) => number): Promise<string> {
  let n = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = answer(n++);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  ctx.defer(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
}

const callbackStack = (ctx: ScenarioContext) => {
  process.env.STORMPROOF_CALLBACK_SECRET ??= 'record-histories-secret';
  // The receiver is on loopback: allowed explicitly (callbacks reach public addresses only by default).
  return ctx.shared('callbacks', {
    edit: (raw) =>
      (raw.callbacks = {
        maxAttempts: 4,
        initialIntervalMs: 100,
        maxIntervalMs: 200,
        timeoutMs: 2_000,
        allowedCidrs: ['127.0.0.1/32'],
        allowHttp: true,
      }),
  });
};

async function callbackDone(s: TestStack, id: string, status: 'delivered' | 'failed'): Promise<void> {
  await waitFor(async () => (await s.api(`/v1/jobs/${id}`)).body.callback?.status === status, `callback of ${id} to be ${status}`, 30_000);
}

async function batch(s: TestStack, requests: unknown[], concurrency: number): Promise<string> {
  const res = await s.api('/v1/batches', { method: 'POST', json: { requests, concurrency } });
  if (res.status !== 202) throw new Error(`POST /v1/batches answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

async function batchEnds(s: TestStack, id: string, status: string): Promise<{ status: string; items: Array<{ jobId: string }> }> {
  let view: { status: string; items: Array<{ jobId: string }> } = { status: 'running', items: [] };
  await waitFor(async () => (view = (await s.api(`/v1/batches/${id}`)).body).status !== 'running', `batch ${id} to end`, 60_000);
  if (view.status !== status) throw new Error(`batch ${id} ended ${view.status}, expected ${status}`);
  return view;
}

async function workerKilled(ctx: ScenarioContext, stream: boolean): Promise<RecordedRun> {
  const { raw, mocks } = await mockedConfig(ctx.address);
  ctx.defer(() => Promise.all(Object.values(mocks).map((m) => m.close())).then(() => undefined));
  const configPath = writeConfig(raw);
  const primary = mocks[PRIMARY];
  primary.setFaults({ latencyMs: stream ? 1_000 : 2_000 });
  const first = await spawnWorker(configPath, `doomed-${stream}`);
  ctx.defer(() => killHard(first));
  const handle = await ctx.client.workflow.start(REQUEST_WORKFLOW, {
    taskQueue: raw.temporal.taskQueue,
    workflowId: `job-kill-${stream ? 'stream' : 'buffered'}-${Date.now()}`,
    args: [{ request: chat('gpt-4o', 'survive this', { stream }) }],
    workflowTaskTimeout: '3s',
  });
  await waitFor(() => primary.stats().inFlight === 1, 'the provider call to start');
  await killHard(first);
  ctx.log(`worker killed mid-call (${stream ? 'streaming' : 'buffered'}); starting a rescuer`);
  const second = await spawnWorker(configPath, `rescuer-${stream}`);
  ctx.defer(() => killHard(second));
  await handle.result();
  return { workflowId: handle.workflowId };
}

export const jobScenarios: Scenario[] = [
  {
    name: 'callback-retries',
    describe: 'a job with a callback; the receiver fails twice, then accepts (delivery retried)',
    fixtures: ['callback-job-completed', 'callback-delivery-retried'],
    async run(ctx) {
      const s = await callbackStack(ctx);
      const url = await receiver(ctx, (n) => (n < 2 ? 503 : 200));
      const run = await job(s, chat('gpt-4o', 'call me back'), 'completed', { callbackUrl: url });
      await callbackDone(s, run.workflowId, 'delivered');
      return { 'callback-job-completed': run, 'callback-delivery-retried': { workflowId: callbackWorkflowId(run.workflowId) } };
    },
  },
  {
    name: 'callback-gives-up',
    describe: 'a receiver that never recovers: delivery fails after the attempt limit',
    fixtures: ['callback-delivery-failed'],
    async run(ctx) {
      const s = await callbackStack(ctx);
      const url = await receiver(ctx, () => 500);
      const run = await job(s, chat('gpt-4o', 'nobody home'), 'completed', { callbackUrl: url });
      await callbackDone(s, run.workflowId, 'failed');
      return { 'callback-delivery-failed': { workflowId: callbackWorkflowId(run.workflowId) } };
    },
  },
  {
    name: 'callback-failed-job',
    describe: 'a job with a callback that fails: the failure is delivered',
    fixtures: ['callback-job-failed'],
    async run(ctx) {
      const s = await callbackStack(ctx);
      const url = await receiver(ctx, () => 200);
      s.mocks[PRIMARY].setFaults({ down: true });
      const run = await job(s, chat('gpt-4o', 'doomed', { routing: { pinModel: true } }), 'failed', { callbackUrl: url });
      await callbackDone(s, run.workflowId, 'delivered');
      return { 'callback-job-failed': run };
    },
  },
  {
    name: 'batch',
    describe: 'a batch of 4, 2 at a time, one item failing; plus one of its child requests',
    fixtures: ['batch-completed', 'batch-item-child'],
    async run(ctx) {
      const s = await ctx.shared('requests');
      s.mocks['selfhosted-onprem'].setFaults({ down: true });
      const requests = [
        chat('gpt-4o', 'item 0'),
        chat('gpt-4o', 'item 1'),
        chat('claude-sonnet-4', 'item 2'),
        chat('llama-3.1-8b', 'doomed', { routing: { pinModel: true } }),
      ];
      const id = await batch(s, requests, 2);
      const view = await batchEnds(s, id, 'completed');
      return { 'batch-completed': { workflowId: id }, 'batch-item-child': { workflowId: view.items[0].jobId } };
    },
  },
  {
    name: 'batch-cancelled',
    describe: 'a batch cancelled while its items run: the items are cancelled too',
    fixtures: ['batch-cancelled', 'batch-item-cancelled'],
    async run(ctx) {
      const s = await ctx.shared('requests');
      s.mocks[PRIMARY].setFaults({ latencyMs: 20_000 });
      const id = await batch(s, [chat('gpt-4o', 'a'), chat('gpt-4o', 'b'), chat('gpt-4o', 'c')], 2);
      await waitFor(() => s.mocks[PRIMARY].stats().inFlight >= 2, 'two items in flight');
      const del = await s.api(`/v1/batches/${id}`, { method: 'DELETE' });
      if (del.status !== 202) throw new Error(`DELETE batch answered ${del.status}`);
      const item = batchItemJobId(id, 0);
      await waitFor(async () => (await s.api(`/v1/jobs/${item}`)).body.status === 'cancelled', 'the item to be cancelled');
      await batchEnds(s, id, 'cancelled');
      return { 'batch-cancelled': { workflowId: id }, 'batch-item-cancelled': { workflowId: item } };
    },
  },
  {
    name: 'batch-item-cancelled-alone',
    describe: 'one item of a running batch cancelled on its own: the batch completes the others (patch batch-item-cancel-continues)',
    fixtures: ['batch-item-cancelled-alone'],
    async run(ctx) {
      const s = await ctx.shared('requests');
      s.mocks[PRIMARY].setFaults({ latencyMs: 30_000, models: ['gpt-4o-mini'] });
      const id = await batch(s, [chat('gpt-4o', 'a'), chat('gpt-4o-mini', 'b', { routing: { pinModel: true } }), chat('gpt-4o', 'c')], 3);
      const item = batchItemJobId(id, 1);
      await waitFor(() => s.mocks[PRIMARY].stats().inFlight >= 1, 'the item to hang at the provider');
      const del = await s.api(`/v1/jobs/${item}`, { method: 'DELETE' });
      if (del.status !== 202) throw new Error(`DELETE item answered ${del.status}`);
      await batchEnds(s, id, 'completed');
      s.mocks[PRIMARY].clearFaults();
      return { 'batch-item-cancelled-alone': { workflowId: id } };
    },
  },
  {
    name: 'worker-killed',
    describe: 'a worker process killed mid provider call (buffered and streaming); a new worker finishes',
    fixtures: ['request-worker-killed-buffered', 'request-worker-killed-streaming'],
    async run(ctx) {
      return {
        'request-worker-killed-buffered': await workerKilled(ctx, false),
        'request-worker-killed-streaming': await workerKilled(ctx, true),
      };
    },
  },
];
