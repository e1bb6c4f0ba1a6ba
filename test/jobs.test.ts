/** Whole-system tests of the job API through every provider kind, with failover. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chat, startTestStack, type TestStack } from './support/stack';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s?.close();
});

async function submit(request: unknown, headers: Record<string, string> = {}) {
  const res = await s.api('/v1/jobs', { method: 'POST', json: { request }, headers });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id as string;
}

describe('happy path through each provider kind', () => {
  for (const [model, target] of [
    ['gpt-4o', 'openai-us-east-1'],
    ['claude-sonnet-4', 'anthropic-eu-west-1'],
    ['llama-3.1-8b', 'selfhosted-onprem'],
  ] as const) {
    test(`${model} is answered by ${target}`, async () => {
      const id = await submit(chat(model, `hello ${model}`));
      const job = await s.waitForJob(id);
      assert.equal(job.status, 'completed', JSON.stringify(job));
      assert.equal(job.result?.target, target);
      assert.equal(
        job.result?.message.content,
        `Echo from ${s.config.targets.find((t) => t.id === target)!.models.find((m) => m.id === model)!.providerModel ?? model}: hello ${model}`,
      );
      assert.deepEqual(
        job.attempts.map((a) => [a.target, a.outcome]),
        [[target, 'ok']],
      );
      assert.ok(job.result!.usage.total_tokens > 0);
    });
  }
});
