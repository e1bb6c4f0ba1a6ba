/**
 * What one request writes to history (issue 12): the events of the common paths, asserted on the
 * recorded histories. A happy chat from the process that hosts the worker routes on the snapshot
 * in its input (trimmed to the request) and records one local activity: the provider call.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { temporal } from '@temporalio/proto';
import { defaultPayloadConverter } from '@temporalio/common';
import type { RequestWorkflowInput } from '../contracts/workflow-api';
import { startTestStack, type TestStack } from './support/stack';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s?.close();
});
afterEach(() => s.resetFaults());

const T = temporal.api.enums.v1.EventType;
const name = (t: number | null | undefined) => (T[t ?? 0] ?? String(t)).replace('EVENT_TYPE_', '');

async function chat(content: string, model = 'gpt-4o'): Promise<string> {
  const res = await fetch(`${s.gateway.apiUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  const id = res.headers.get('x-stormproof-job-id')!;
  await s.waitForJob(id);
  return id;
}

async function history(id: string) {
  const h = await s.gateway.client.workflow.getHandle(id).fetchHistory();
  return h.events ?? [];
}

const markers = (events: temporal.api.history.v1.IHistoryEvent[]) =>
  events.filter((e) => e.eventType === T.EVENT_TYPE_MARKER_RECORDED).map((e) => e.markerRecordedEventAttributes?.markerName);

test('a happy chat: 11 events, one workflow task, no snapshot read (it came in the input, trimmed)', async () => {
  await chat('warm the routing state');
  const events = await history(await chat('count my events'));
  assert.deepEqual(
    events.map((e) => name(e.eventType)),
    [
      'WORKFLOW_EXECUTION_STARTED',
      'WORKFLOW_TASK_SCHEDULED',
      'WORKFLOW_TASK_STARTED',
      'WORKFLOW_TASK_COMPLETED',
      'MARKER_RECORDED', // the request-plan-attempt-trace patch
      'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', // TemporalChangeVersion, written by the SDK with the patch marker
      'MARKER_RECORDED', // the request-lean-path patch (until deprecatePatch, docs/replay.md)
      'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', // TemporalChangeVersion again
      'MARKER_RECORDED', // the provider call (local activity)
      'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', // status, target, failovers
      'WORKFLOW_EXECUTION_COMPLETED',
    ],
  );
  assert.deepEqual(markers(events), ['core_patch', 'core_patch', 'core_local_activity']);
  const input = defaultPayloadConverter.fromPayload<RequestWorkflowInput>(
    events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0],
  );
  assert.ok(input.snapshot, 'the snapshot is in the input');
  assert.deepEqual(Object.keys(input.snapshot.degradation?.chains ?? {}), ['gpt-4o'], 'only the chain this request can use');
});

test('a fast-tier request carries only the targets and models it can reach', async () => {
  const events = await history(await chat('small model please', 'llama-3.1-8b'));
  const input = defaultPayloadConverter.fromPayload<RequestWorkflowInput>(
    events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0],
  );
  const models = input.snapshot!.targets.flatMap((t) => t.models.map((m) => m.id)).sort();
  assert.deepEqual(models, ['claude-3-5-haiku', 'gpt-4o-mini', 'llama-3.1-8b']);
});

test('a job (started without a snapshot) reads one, trimmed, through a local activity', async () => {
  const job = await s.runJob({ model: 'gpt-4o', messages: [{ role: 'user', content: 'job path' }] });
  assert.equal(job.status, 'completed');
  const events = await history(job.id);
  assert.deepEqual(markers(events), ['core_patch', 'core_patch', 'core_local_activity', 'core_local_activity']);
});

const PRIMARY = 'openai-us-east-1';
const SECONDARY = 'anthropic-eu-west-1';
const SELFHOSTED = 'selfhosted-onprem';

async function chatBody(body: Record<string, unknown>) {
  const res = await fetch(`${s.gateway.apiUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { stormproof: { attempts: Array<{ target: string; outcome: string; retries?: number }> } };
  assert.equal(res.status, 200, JSON.stringify(json));
  const id = res.headers.get('x-stormproof-job-id')!;
  await s.waitForJob(id);
  return { id, attempts: json.stormproof.attempts, events: await history(id) };
}

test('a 503 with another candidate left fails over at once: one call to the sick target, no backoff timer', async () => {
  s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 503 });
  s.mocks[PRIMARY].resetStats();
  const { attempts, events } = await chatBody({ model: 'gpt-4o', messages: [{ role: 'user', content: 'fail over now' }] });
  assert.deepEqual(
    attempts.map((a) => [a.target, a.outcome, a.retries ?? 0]),
    [
      [PRIMARY, 'ProviderServerError', 0],
      [SECONDARY, 'ok', 0],
    ],
  );
  assert.equal(s.mocks[PRIMARY].stats().requests, 1, 'the sick target was called once');
  assert.equal(events.filter((e) => e.eventType === T.EVENT_TYPE_TIMER_STARTED).length, 0, 'no retry backoff');
});

test('the last candidate left still retries its target (a durable backoff timer)', async () => {
  s.mocks[SELFHOSTED].setFaults({ errorRate: 0.5, errorStatus: 503 });
  s.mocks[SELFHOSTED].resetStats();
  const { attempts, events } = await chatBody({
    model: 'llama-3.1-8b',
    routing: { pinModel: true },
    messages: [{ role: 'user', content: 'only one target' }],
  });
  assert.deepEqual(
    attempts.map((a) => [a.target, a.outcome]),
    [[SELFHOSTED, 'ok']],
  );
  assert.equal(s.mocks[SELFHOSTED].stats().requests, 2, 'retried once after the 503');
  assert.equal(events.filter((e) => e.eventType === T.EVENT_TYPE_TIMER_STARTED).length, 1);
});

test('a target known to answer slowly is called through a regular activity: no workflow task held open or heartbeated', async () => {
  s.mocks[PRIMARY].setFaults({ latencyMs: 2_500 });
  // Calls teach this worker the target's latency (an average: a few slow calls outweigh the fast
  // ones before); until then they run as local activities.
  let events: Awaited<ReturnType<typeof history>> = [];
  const shapes: string[][] = [];
  for (let i = 0; i < 6; i++) {
    ({ events } = await chatBody({ model: 'gpt-4o', messages: [{ role: 'user', content: `slow ${i}` }] }));
    shapes.push(markers(events).map(String));
    if (events.some((e) => e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)) break;
  }
  assert.deepEqual(
    shapes[0],
    ['core_patch', 'core_patch', 'core_local_activity'],
    'the first slow call ran locally (its latency was not known yet)',
  );
  assert.deepEqual(markers(events), ['core_patch', 'core_patch'], `the last one ran as a regular activity (${JSON.stringify(shapes)})`);
  const scheduled = events.filter((e) => e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
  assert.deepEqual(
    scheduled.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name),
    ['callProvider'],
  );
  assert.equal(
    events.filter((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length,
    2,
    'the first task and the one that takes the answer',
  );
});
