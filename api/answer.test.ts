/** AnswerWait: the first of the early answer and the workflow's result; the result's poll is cancelled. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { AiResponse } from '../contracts/response';
import { AnswerWait } from './answer';
import { StreamHub } from './stream-hub';

const response = (content: string): AiResponse => ({
  id: 'job-1',
  model: 'gpt-4o',
  target: 't',
  message: { role: 'assistant', content },
  finishReason: 'stop',
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  attempts: [{ target: 't', model: 'gpt-4o', outcome: 'ok', durationMs: 3 }],
  degradations: [],
  failovers: 0,
  switches: [],
});

/** A client whose result poll is `result`, recording the abort signal it was given. */
function fake(result: Promise<unknown>) {
  const signals: AbortSignal[] = [];
  const client = {
    withAbortSignal: (signal: AbortSignal, fn: () => Promise<unknown>) => {
      signals.push(signal);
      return fn();
    },
  } as unknown as Client;
  const handle = { result: () => result } as unknown as WorkflowHandle;
  return { client, handle, signals };
}

test('the published answer wins while the workflow has not completed; the result poll is aborted', async () => {
  const hub = new StreamHub();
  const wait = new AnswerWait(hub, 'job-1');
  const { client, handle, signals } = fake(new Promise(() => undefined));
  const got = wait.result(client, handle);
  hub.publish('job-1', { type: 'answer', response: response('early'), target: 't', model: 'gpt-4o', attempt: 1 });
  assert.equal((await got).message.content, 'early');
  assert.equal(signals[0].aborted, true);
  assert.equal(hub.has('job-1'), false, 'unsubscribed');
});

test('without a published answer, the workflow result answers (and its failure is thrown)', async () => {
  const hub = new StreamHub();
  const ok = fake(Promise.resolve(response('recorded')));
  assert.equal((await new AnswerWait(hub, 'job-2').result(ok.client, ok.handle)).message.content, 'recorded');
  const failed = fake(Promise.reject(new Error('all candidates failed')));
  await assert.rejects(new AnswerWait(hub, 'job-3').result(failed.client, failed.handle), /all candidates failed/);
});

test('other events of the job (a stream) do not answer', async () => {
  const hub = new StreamHub();
  const wait = new AnswerWait(hub, 'job-4');
  let settle: (v: unknown) => void = () => undefined;
  const { client, handle } = fake(new Promise((r) => (settle = r)));
  const got = wait.result(client, handle);
  hub.publish('job-4', { type: 'start', target: 't', model: 'm', attempt: 1 });
  hub.publish('job-4', { type: 'delta', content: 'x', target: 't', model: 'm', attempt: 1 });
  settle(response('from the result'));
  assert.equal((await got).message.content, 'from the result');
});
