/**
 * Last resorts after degradation, end to end (game day smart-tier-down): when every model of the
 * smart tier is behind an open breaker, a request is served by the fast tier without a single call
 * to the open models; an open model is called only when the lower models that keep the request
 * whole failed too, and then its answer declares no degradation it did not take.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chat, startTestStack, type TestStack } from './support/stack';
import { waitFor } from './support/wait';

const OPENAI = 'openai-us-east-1';
const ANTHROPIC = 'anthropic-eu-west-1';
const SELF = 'selfhosted-onprem';
const SONNET = 'claude-sonnet-4-20250514';
const HAIKU = 'claude-3-5-haiku-20241022';

let s: TestStack;
before(async () => {
  s = await startTestStack({
    edit(raw) {
      // Model breakers that trip after a few failures and stay open for the whole file: no probe
      // and a cooldown far longer than the test, so "open" is the state the requests below see.
      raw.breaker = { minCalls: 100, consecutiveFailures: 2, cooldownMs: 600_000, maxCooldownMs: 600_000, probes: false };
      raw.routing = { ...raw.routing, flushIntervalMs: 100, refreshIntervalMs: 100 };
    },
  });
});
after(async () => {
  await s?.close();
});

/** Fails gpt-4o and claude-sonnet-4 with 503 until both model breakers are open in the worker's view. */
async function openSmartTier(): Promise<void> {
  s.mocks[OPENAI].setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o'] });
  s.mocks[ANTHROPIC].setFaults({ errorRate: 1, errorStatus: 503, models: [SONNET] });
  const open = (target: string, model: string) => s.gateway.routing.overlay(target).modelHealth?.[model]?.breaker === 'open';
  let n = 0;
  await waitFor(
    async () => {
      if (open(OPENAI, 'gpt-4o') && open(ANTHROPIC, 'claude-sonnet-4')) return true;
      await s.runJob(chat('gpt-4o', `trip ${n++}`), 60_000);
      return false;
    },
    'the gpt-4o and claude-sonnet-4 model breakers to open',
    60_000,
  );
}

test('every smart-tier model open: served by the fast tier with no call to the open models, the degradation declared', async () => {
  await openSmartTier();
  for (const m of Object.values(s.mocks)) m.resetStats();
  const j = await s.runJob(chat('gpt-4o', 'fast tier please'), 60_000);
  assert.equal(j.status, 'completed', JSON.stringify(j));
  assert.deepEqual(
    j.attempts.map((a) => [a.target, a.model, a.outcome]),
    [[OPENAI, 'gpt-4o-mini', 'ok']],
  );
  // What the mocks received (probes are off: every provider request is the job's).
  assert.equal(s.mocks[OPENAI].stats().requests, 1, 'one call on the openai mock, none to the open gpt-4o');
  assert.equal(s.mocks[OPENAI].stats().lastRequest?.model, 'gpt-4o-mini');
  assert.equal(s.mocks[ANTHROPIC].stats().requests, 0, 'no call reached the open claude-sonnet-4');
  assert.deepEqual(
    j.degradations.map((d) => [d.kind, d.from, d.to]),
    [['model', 'gpt-4o', 'gpt-4o-mini']],
  );
  assert.match(j.degradations[0].reason, /every target of gpt-4o is unavailable .*model breaker open \(gpt-4o\)/);
});

test('the lower models fail too: the open model is the last resort, and its answer declares no model degradation', async () => {
  // The breakers stay open (long cooldown), but gpt-4o answers again; every model below it fails.
  s.mocks[OPENAI].setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o-mini'] });
  s.mocks[ANTHROPIC].setFaults({ errorRate: 1, errorStatus: 503, models: [SONNET, HAIKU] });
  s.mocks[SELF].setFaults({ down: true });
  for (const m of Object.values(s.mocks)) m.resetStats();
  const j = await s.runJob(chat('gpt-4o', 'last resort'), 60_000);
  assert.equal(j.status, 'completed', JSON.stringify(j));
  assert.deepEqual(
    j.attempts.map((a) => [a.target, a.model]),
    [
      [OPENAI, 'gpt-4o-mini'],
      [ANTHROPIC, 'claude-3-5-haiku'],
      [SELF, 'llama-3.1-8b'],
      [OPENAI, 'gpt-4o'],
    ],
  );
  assert.equal(j.attempts.at(-1)?.outcome, 'ok');
  assert.equal(j.result?.model, 'gpt-4o');
  assert.deepEqual(j.degradations, [], 'answered by the requested model: nothing was degraded');
});
