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
  const res = await fetch(`${s.gateway.apiUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content }] }) });
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

test('a happy chat: 9 events, one workflow task, no snapshot read (it came in the input, trimmed)', async () => {
  await chat('warm the routing state');
  const events = await history(await chat('count my events'));
  assert.deepEqual(events.map((e) => name(e.eventType)), [
    'WORKFLOW_EXECUTION_STARTED',
    'WORKFLOW_TASK_SCHEDULED',
    'WORKFLOW_TASK_STARTED',
    'WORKFLOW_TASK_COMPLETED',
    'MARKER_RECORDED', // the request-plan-attempt-trace patch
    'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', // TemporalChangeVersion, written by the SDK with the patch marker
    'MARKER_RECORDED', // the provider call (local activity)
    'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES', // status, target, failovers
    'WORKFLOW_EXECUTION_COMPLETED',
  ]);
  assert.deepEqual(markers(events), ['core_patch', 'core_local_activity']);
  const input = defaultPayloadConverter.fromPayload<RequestWorkflowInput>(events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0]);
  assert.ok(input.snapshot, 'the snapshot is in the input');
  assert.deepEqual(Object.keys(input.snapshot.degradation?.chains ?? {}), ['gpt-4o'], 'only the chain this request can use');
});

test('a fast-tier request carries only the targets and models it can reach', async () => {
  const events = await history(await chat('small model please', 'llama-3.1-8b'));
  const input = defaultPayloadConverter.fromPayload<RequestWorkflowInput>(events[0].workflowExecutionStartedEventAttributes!.input!.payloads![0]);
  const models = input.snapshot!.targets.flatMap((t) => t.models.map((m) => m.id)).sort();
  assert.deepEqual(models, ['claude-3-5-haiku', 'gpt-4o-mini', 'llama-3.1-8b']);
});

test('a job (started without a snapshot) reads one, trimmed, through a local activity', async () => {
  const job = await s.runJob({ model: 'gpt-4o', messages: [{ role: 'user', content: 'job path' }] });
  assert.equal(job.status, 'completed');
  const events = await history(job.id);
  assert.deepEqual(markers(events), ['core_patch', 'core_local_activity', 'core_local_activity']);
});
