/** Batches: a concurrency limit, progress while running, per-item results and failures. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chat, startTestStack, type TestStack } from './support/stack';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s?.close();
});

test('six requests, two at a time: progress while running, every result, one failed item', async () => {
  const primary = s.mocks['openai-us-east-1'];
  primary.setFaults({ latencyMs: 300 });
  s.mocks['selfhosted-onprem'].setFaults({ down: true });
  const requests = [
    ...Array.from({ length: 5 }, (_, i) => chat('gpt-4o', `item ${i}`)),
    chat('llama-3.1-8b', 'doomed', { routing: { pinModel: true } }),
  ];
  let maxInFlight = 0;
  const sampler = setInterval(() => (maxInFlight = Math.max(maxInFlight, primary.stats().inFlight)), 10);
  try {
    const res = await s.api('/v1/batches', { method: 'POST', json: { requests, concurrency: 2 } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.total, 6);
    const id = res.body.id;
    let sawPartial = false;
    let view: any;
    const deadline = Date.now() + 30_000;
    for (;;) {
      view = (await s.api(`/v1/batches/${id}`)).body;
      if (view.status === 'running' && view.counts && view.counts.completed > 0 && view.counts.completed < 5) sawPartial = true;
      if (view.status !== 'running') break;
      assert.ok(Date.now() < deadline, 'batch finished in time');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(sawPartial, 'progress was visible while the batch ran');
    assert.equal(view.status, 'completed');
    assert.deepEqual(view.counts, { queued: 0, running: 0, completed: 5, failed: 1, cancelled: 0 });
    for (let i = 0; i < 5; i++) assert.equal(view.items[i].result.message.content, `Echo from gpt-4o: item ${i}`);
    assert.equal(view.items[5].status, 'failed');
    assert.equal(view.items[5].error.type, 'AllTargetsFailed');
    // Each item is a job of its own.
    const item = await s.api(`/v1/jobs/${view.items[0].jobId}`);
    assert.equal(item.body.status, 'completed');
    assert.ok(maxInFlight <= 2, `at most 2 provider calls at once (saw ${maxInFlight})`);
    assert.equal(maxInFlight, 2, 'and the limit was used');
  } finally {
    clearInterval(sampler);
    primary.clearFaults();
    s.mocks['selfhosted-onprem'].clearFaults();
  }
});

test('bad batches are 400s; unknown batch 404', async () => {
  for (const body of [
    { requests: [] },
    { requests: [chat('gpt-4o', 'x')], concurrency: 0 },
    { requests: [chat('gpt-9', 'x')] },
    { requests: [chat('gpt-4o', 'x')], extra: 1 },
  ]) {
    const res = await s.api('/v1/batches', { method: 'POST', json: body });
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.error.code, /STORMPROOF_ERR_(INVALID_REQUEST|UNKNOWN_MODEL)/);
  }
  const res = await s.api('/v1/batches/batch-nope');
  assert.equal(res.status, 404);
  assert.equal(res.body.error.code, 'STORMPROOF_ERR_BATCH_NOT_FOUND');
});

test('cancelling a batch cancels its running items', async () => {
  s.mocks['openai-us-east-1'].setFaults({ latencyMs: 20_000 });
  try {
    const { body } = await s.api('/v1/batches', {
      method: 'POST',
      json: { requests: [chat('gpt-4o', 'a'), chat('gpt-4o', 'b'), chat('gpt-4o', 'c')], concurrency: 2 },
    });
    const deadline = Date.now() + 10_000;
    while (s.mocks['openai-us-east-1'].stats().inFlight < 2) {
      assert.ok(Date.now() < deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await s.api(`/v1/batches/${body.id}`, { method: 'DELETE' })).status, 202);
    const item = await s.waitForJob(`job-${body.id}-0`, 15_000);
    assert.equal(item.status, 'cancelled');
    const batch = await s.api(`/v1/batches/${body.id}`);
    assert.equal(batch.body.status, 'cancelled');
  } finally {
    s.mocks['openai-us-east-1'].clearFaults();
  }
});

async function batchEnd(id: string, timeoutMs = 30_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = (await s.api(`/v1/batches/${id}`)).body;
    if (view.status !== 'running') return view;
    assert.ok(Date.now() < deadline, `batch ${id} still running`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('cancelling one item cancels that item only: the batch completes the others and says which was cancelled', async () => {
  // Only the middle item's model hangs, so it is surely running when it is cancelled.
  s.mocks['openai-us-east-1'].setFaults({ latencyMs: 30_000, models: ['gpt-4o-mini'] });
  try {
    const { body } = await s.api('/v1/batches', {
      method: 'POST',
      json: {
        requests: [chat('gpt-4o', 'a'), chat('gpt-4o-mini', 'b', { routing: { pinModel: true } }), chat('gpt-4o', 'c')],
        concurrency: 3,
      },
    });
    const item = `job-${body.id}-1`;
    const deadline = Date.now() + 10_000;
    while (s.mocks['openai-us-east-1'].stats().inFlight < 1) {
      assert.ok(Date.now() < deadline);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await s.api(`/v1/jobs/${item}`, { method: 'DELETE' })).status, 202);
    const view = await batchEnd(body.id);
    assert.equal(view.status, 'completed', 'one item cancelled does not fail the batch');
    assert.deepEqual(view.counts, { queued: 0, running: 0, completed: 2, failed: 0, cancelled: 1 });
    assert.deepEqual(
      view.items.map((i: any) => i.status),
      ['completed', 'cancelled', 'completed'],
    );
    assert.equal(view.items[2].result.message.content, 'Echo from gpt-4o: c');
  } finally {
    s.mocks['openai-us-east-1'].clearFaults();
  }
});

test("a batch's result holds no answers (they stay in the item jobs); the view pages through items with their answers", async () => {
  const requests = Array.from({ length: 7 }, (_, i) => chat('gpt-4o', `page item ${i}`));
  const { body } = await s.api('/v1/batches', { method: 'POST', json: { requests, concurrency: 4 } });
  const view = await batchEnd(body.id);
  assert.equal(view.status, 'completed');
  const result = (await s.gateway.client.workflow.getHandle(body.id).result()) as { items: Array<Record<string, unknown>> };
  assert.ok(
    result.items.every((i) => !('result' in i)),
    "the batch workflow's own result carries no answer (so it never meets the payload limit)",
  );
  const seen: string[] = [];
  let offset: number | undefined = 0;
  while (offset !== undefined) {
    const page: any = (await s.api(`/v1/batches/${body.id}?offset=${offset}&limit=3`)).body;
    assert.ok(page.items.length <= 3);
    for (const item of page.items) seen.push(item.result.message.content);
    offset = page.nextOffset;
  }
  assert.deepEqual(
    seen,
    requests.map((_, i) => `Echo from gpt-4o: page item ${i}`),
  );
  assert.equal((await s.api(`/v1/batches/${body.id}?limit=100000`)).status, 400, 'a page is bounded (batches.pageSize)');
});

test('a cancelled batch still lists its items, from the item jobs', async () => {
  s.mocks['openai-us-east-1'].setFaults({ latencyMs: 20_000 });
  try {
    const { body } = await s.api('/v1/batches', {
      method: 'POST',
      json: { requests: [chat('gpt-4o', 'x'), chat('gpt-4o', 'y'), chat('gpt-4o', 'z')], concurrency: 1 },
    });
    while (s.mocks['openai-us-east-1'].stats().inFlight < 1) await new Promise((r) => setTimeout(r, 20));
    await s.api(`/v1/batches/${body.id}`, { method: 'DELETE' });
    const view = await batchEnd(body.id);
    assert.equal(view.status, 'cancelled');
    assert.equal(view.total, 3);
    assert.deepEqual(
      view.items.map((i: any) => i.status),
      ['cancelled', 'cancelled', 'cancelled'],
    );
  } finally {
    s.mocks['openai-us-east-1'].clearFaults();
  }
});
