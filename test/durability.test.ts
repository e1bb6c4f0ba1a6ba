/** Nothing accepted is lost: a worker killed in the middle of a request, and a new worker finishes it. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from './support/wait';
import type { ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import type { MockProvider } from '../chaos/mock-provider';
import type { AiResponse } from '../contracts/response';
import { REQUEST_WORKFLOW } from '../contracts/workflow-api';
import { mockedConfig, chat } from './support/stack';
import { testTemporalAddress } from './support/temporal';
import { killHard, spawnWorker, writeConfig } from './support/processes';

let mocks: Record<string, MockProvider>;
let configPath: string;
let taskQueue: string;
let connection: Connection;
let client: Client;
const children: ChildProcess[] = [];

before(async () => {
  const address = await testTemporalAddress();
  const cfg = await mockedConfig(address);
  mocks = cfg.mocks;
  taskQueue = cfg.raw.temporal.taskQueue;
  configPath = writeConfig(cfg.raw);
  connection = await Connection.connect({ address });
  client = new Client({ connection });
});
after(async () => {
  await Promise.all(children.map(killHard));
  await connection?.close();
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
});

for (const stream of [false, true]) {
  test(`a worker killed mid-request (${stream ? 'streaming' : 'buffered'}): a new worker finishes the job`, async () => {
    const primary = mocks['openai-us-east-1'];
    primary.resetStats();
    // Below the test config's streamIdleMs (1.5 s), so a slow first token is not taken for a stall.
    primary.setFaults({ latencyMs: stream ? 1_000 : 2_000 });
    const first = await spawnWorker(configPath, `doomed-${stream}`);
    children.push(first);
    const handle = await client.workflow.start(REQUEST_WORKFLOW, {
      taskQueue,
      workflowId: `job-kill-${stream}-${Date.now()}`,
      args: [{ request: chat('gpt-4o', 'survive this', { stream }) }],
      workflowTaskTimeout: '3s',
    });
    await waitFor(() => primary.stats().inFlight === 1, 'the provider call to start', 15_000);
    await killHard(first);
    const second = await spawnWorker(configPath, `rescuer-${stream}`);
    children.push(second);
    const result = (await handle.result()) as AiResponse;
    assert.equal(result.message.content, 'Echo from gpt-4o: survive this');
    assert.equal(result.target, 'openai-us-east-1');
    assert.ok(primary.stats().requests >= 2, 'the interrupted provider call was made again');
    const history = await handle.fetchHistory();
    const identities = new Set(
      history.events
        ?.map((e) => e.workflowTaskCompletedEventAttributes?.identity ?? e.activityTaskStartedEventAttributes?.identity)
        .filter(Boolean),
    );
    assert.ok([...identities].includes(`rescuer-${stream}`), `the rescuer worker completed the job (saw ${[...identities].join(', ')})`);
    primary.clearFaults();
    await killHard(second);
  });
}
