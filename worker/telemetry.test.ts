/** Each gateway series moves when its event happens, and only then (unit level; test/metrics.test.ts runs them end to end). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig, DEFAULT_CONFIG_PATH } from '../config/load';
import { createMetrics } from '../shared/telemetry';
import { activityMetrics } from './activity-metrics';
import { parseMetrics, sum } from '../test/support/prom';

const config = loadConfig(DEFAULT_CONFIG_PATH);

async function samples(m: ReturnType<typeof createMetrics>) {
  return parseMetrics(await m.registry.metrics());
}

test('a finished request counts once by status, tier and region; each switch is one failover; degradations by kind', async () => {
  const m = createMetrics({ defaultMetrics: false, config });
  m.recordFinished({
    status: 'completed',
    target: 'selfhosted-onprem',
    tier: 'smart',
    failovers: 3,
    switches: [
      { from: 'openai-us-east-1', to: 'anthropic-eu-west-1', reason: 'ProviderUnavailable' },
      { from: 'anthropic-eu-west-1', to: 'openai-us-east-1', reason: 'ProviderServerError' },
      { from: 'openai-us-east-1', to: 'selfhosted-onprem', reason: 'ProviderUnavailable' },
    ],
    degradations: ['model'],
    durationMs: 1500,
  });
  const s = await samples(m);
  assert.equal(sum(s, 'stormproof_requests_total', { status: 'completed', tier: 'smart', region: 'onprem' }), 1);
  assert.equal(sum(s, 'stormproof_failovers_total'), 3, 'one per switch');
  assert.equal(
    sum(s, 'stormproof_failovers_total', {
      from: 'openai-us-east-1',
      to: 'anthropic-eu-west-1',
      reason: 'ProviderUnavailable',
      tier: 'smart',
    }),
    1,
  );
  assert.equal(sum(s, 'stormproof_degradations_total', { kind: 'model', tier: 'smart' }), 1);
  assert.equal(sum(s, 'stormproof_request_duration_seconds_count', { status: 'completed', tier: 'smart' }), 1);
  assert.equal(sum(s, 'stormproof_request_duration_seconds_bucket', { status: 'completed', le: '1' }), 0);
  assert.equal(sum(s, 'stormproof_request_duration_seconds_bucket', { status: 'completed', le: '2.5' }), 1);
});

test('a request the client is at fault for is "rejected", not "failed" (it burns no error budget)', async () => {
  const m = createMetrics({ defaultMetrics: false, config });
  m.recordFinished({ status: 'failed', errorType: 'ProviderBadRequest', failovers: 0, switches: [], degradations: [], durationMs: 10 });
  m.recordFinished({ status: 'failed', errorType: 'AllTargetsFailed', failovers: 0, switches: [], degradations: [], durationMs: 10 });
  const s = await samples(m);
  assert.equal(sum(s, 'stormproof_requests_total', { status: 'rejected', region: 'none', tier: 'none' }), 1);
  assert.equal(sum(s, 'stormproof_requests_total', { status: 'failed' }), 1);
});

test('breaker transitions and trips count what the breaker emitted; the state gauge is one-hot', async () => {
  const m = createMetrics({ defaultMetrics: false, config });
  const ev = { target: 'openai-us-east-1', reason: 'r', at: 0, seq: 1, trips: 1 };
  m.recordBreakerTransition({ ...ev, from: 'closed', to: 'open' });
  m.recordBreakerTransition({ ...ev, from: 'open', to: 'half-open', seq: 2 });
  m.recordBreakerTransition({ ...ev, from: 'half-open', to: 'open', seq: 3, trips: 2 });
  m.recordBreakerTransition({ ...ev, model: 'gpt-4o', from: 'closed', to: 'open', seq: 4 });
  m.recordBreakerState('openai-us-east-1', 'open');
  const s = await samples(m);
  assert.equal(
    sum(s, 'stormproof_breaker_transitions_total', { target: 'openai-us-east-1' }),
    3,
    'a quick open → half-open → open is three transitions',
  );
  assert.equal(sum(s, 'stormproof_breaker_transitions_total', { from: 'half-open', to: 'open' }), 1);
  assert.equal(
    sum(s, 'stormproof_breaker_trips_total', { target: 'openai-us-east-1' }),
    2,
    'a model cell opening is no trip of the target',
  );
  assert.equal(
    sum(s, 'stormproof_breaker_model_transitions_total', { target: 'openai-us-east-1', model: 'gpt-4o', from: 'closed', to: 'open' }),
    1,
  );
  assert.deepEqual(
    s.filter((x) => x.name === 'stormproof_breaker_state').map((x) => [x.labels.state, x.labels.region, x.value]),
    [
      ['closed', 'us-east-1', 0],
      ['half-open', 'us-east-1', 0],
      ['open', 'us-east-1', 1],
    ],
  );
});

test('provider calls by target, region, tier and outcome; slow notices are not calls; streams observe time to first token', async () => {
  const m = createMetrics({ defaultMetrics: false, config });
  m.recordOutcome({
    target: 'anthropic-eu-west-1',
    model: 'claude-sonnet-4',
    outcome: 'slow',
    durationMs: 5000,
    streaming: false,
    inFlight: true,
  });
  m.recordOutcome({
    target: 'anthropic-eu-west-1',
    model: 'claude-sonnet-4',
    outcome: 'ProviderBadAnswer',
    durationMs: 40,
    streaming: false,
  });
  m.recordOutcome({
    target: 'anthropic-eu-west-1',
    model: 'claude-sonnet-4',
    outcome: 'ok',
    durationMs: 900,
    streaming: true,
    firstTokenMs: 120,
  });
  const s = await samples(m);
  assert.equal(sum(s, 'stormproof_provider_calls_total'), 2);
  assert.equal(
    sum(s, 'stormproof_provider_calls_total', {
      target: 'anthropic-eu-west-1',
      region: 'eu-west-1',
      tier: 'smart',
      outcome: 'ProviderBadAnswer',
      mode: 'buffered',
    }),
    1,
  );
  assert.equal(sum(s, 'stormproof_provider_call_duration_seconds_count', { outcome: 'error' }), 1);
  assert.equal(sum(s, 'stormproof_time_to_first_token_seconds_count', { target: 'anthropic-eu-west-1', tier: 'smart' }), 1);
  assert.equal(sum(s, 'stormproof_time_to_first_token_seconds_bucket', { le: '0.1' }), 0);
  assert.equal(sum(s, 'stormproof_time_to_first_token_seconds_bucket', { le: '0.25' }), 1);
});

test('label values stay bounded: anything outside the label shape is "other"', async () => {
  const m = createMetrics({ defaultMetrics: false, config });
  m.recordFinished({
    status: 'completed',
    target: 'openai-us-east-1',
    failovers: 1,
    switches: [{ from: 'openai-us-east-1', to: 'anthropic-eu-west-1', reason: 'a message with spaces and "quotes"' }],
    degradations: [],
    durationMs: 1,
  });
  const s = await samples(m);
  assert.equal(sum(s, 'stormproof_failovers_total', { reason: 'other' }), 1);
});

test('the activity interceptor counts tokens and cost of answers, and every callback attempt', async () => {
  const m = createMetrics({ defaultMetrics: false, config });
  const interceptors = (type: string) => activityMetrics(m)({ info: { activityType: type } } as unknown as Context).inbound!;
  const answer = {
    target: 'openai-us-east-1',
    model: 'gpt-4o',
    usage: { prompt_tokens: 1000, completion_tokens: 200, total_tokens: 1200 },
  };
  await interceptors('callProvider').execute!({ args: [], headers: {} }, async () => answer);
  await interceptors('deliverCallback').execute!({ args: [], headers: {} }, async () => ({ status: 200 }));
  await assert.rejects(
    interceptors('deliverCallback').execute!({ args: [], headers: {} }, async () => {
      throw ApplicationFailure.create({ type: 'CallbackRejected', message: 'HTTP 500' });
    }),
  );
  const s = await samples(m);
  assert.equal(sum(s, 'stormproof_provider_tokens_total', { target: 'openai-us-east-1', model: 'gpt-4o', direction: 'input' }), 1000);
  assert.equal(sum(s, 'stormproof_provider_tokens_total', { direction: 'output' }), 200);
  // gpt-4o: $2.5 / M input, $10 / M output.
  assert.ok(Math.abs(sum(s, 'stormproof_provider_cost_usd_total', { target: 'openai-us-east-1' }) - (1000 * 2.5 + 200 * 10) / 1e6) < 1e-12);
  assert.equal(sum(s, 'stormproof_callback_deliveries_total', { outcome: 'delivered' }), 1);
  assert.equal(sum(s, 'stormproof_callback_deliveries_total', { outcome: 'CallbackRejected' }), 1);
});

test('target info: one series per configured target and tier it serves', async () => {
  const s = await samples(createMetrics({ defaultMetrics: false, config }));
  const info = s.filter((x) => x.name === 'stormproof_target_info').map((x) => `${x.labels.target}/${x.labels.tier}/${x.labels.region}`);
  assert.deepEqual(info.sort(), [
    'anthropic-eu-west-1/fast/eu-west-1',
    'anthropic-eu-west-1/smart/eu-west-1',
    'openai-us-east-1/fast/us-east-1',
    'openai-us-east-1/smart/us-east-1',
    'selfhosted-onprem/fast/onprem',
  ]);
});
