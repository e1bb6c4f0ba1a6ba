/** The plan of a request, made up front: stages, modes, and the continuation and mode-switch rules. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AiRequest } from '../contracts/request';
import type { ModelInfo, RoutingSnapshot, TargetInfo } from '../contracts/routing';
import { buffersAfter, deferLastResort, makePlan, type Plan } from './plan';

function model(id: string, caps: Partial<ModelInfo['capabilities']> = {}): ModelInfo {
  return {
    id,
    capabilities: { tools: true, vision: false, json: true, streaming: true, contextWindow: 128_000, ...caps },
    pricePerMTok: { input: 1, output: 2 },
  };
}

function target(id: string, priority: number, models: ModelInfo[]): TargetInfo {
  return { id, kind: 'openai', region: 'test', priority, weight: 1, models, breaker: 'closed', healthy: true };
}

/** Mirrors config/default.yaml. */
const SNAPSHOT: RoutingSnapshot = {
  targets: [
    target('openai', 10, [model('gpt-4o'), model('gpt-4o-mini')]),
    target('anthropic', 20, [
      model('claude-sonnet-4', { json: false, contextWindow: 200_000 }),
      model('claude-3-5-haiku', { json: false, contextWindow: 200_000 }),
    ]),
    target('self', 30, [model('llama-3.1-8b', { tools: false, streaming: false, contextWindow: 8_192 })]),
  ],
  tiers: { smart: ['gpt-4o', 'claude-sonnet-4'], fast: ['gpt-4o-mini', 'claude-3-5-haiku', 'llama-3.1-8b'] },
  defaults: { strategy: 'priority', allowDegradation: true },
  degradation: { chains: { 'gpt-4o': ['gpt-4o-mini', 'claude-3-5-haiku', 'llama-3.1-8b'] } },
  policy: {
    callMs: 30_000,
    requestMs: 60_000,
    streamMs: 300_000,
    streamIdleMs: 15_000,
    heartbeatMs: 10_000,
    retry: { maxAttempts: 3, initialIntervalMs: 200, backoffCoefficient: 2, maxIntervalMs: 2_000, maxRetryAfterS: 5 },
  },
  takenAt: 1_700_000_000_000,
};

const ask = (extra: Partial<AiRequest> = {}): AiRequest => ({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...extra });
const TOOLS: AiRequest['tools'] = [{ type: 'function', function: { name: 'x', parameters: {} } }];

describe('makePlan', () => {
  test('every stage up front: the tier, then each degradation step with its record', () => {
    const plan = makePlan(ask(), SNAPSHOT);
    assert.deepEqual(
      plan.stages.map((s) => [
        s.model,
        s.candidates.map((c) => `${c.target}/${c.model}`),
        s.degradation && `${s.degradation.from}→${s.degradation.to}`,
      ]),
      [
        ['gpt-4o', ['openai/gpt-4o', 'anthropic/claude-sonnet-4'], undefined],
        ['gpt-4o-mini', ['openai/gpt-4o-mini'], 'gpt-4o→gpt-4o-mini'],
        ['claude-3-5-haiku', ['anthropic/claude-3-5-haiku'], 'gpt-4o-mini→claude-3-5-haiku'],
        ['llama-3.1-8b', ['self/llama-3.1-8b'], 'claude-3-5-haiku→llama-3.1-8b'],
      ],
    );
    assert.equal(plan.tier, 'smart');
    assert.equal(plan.budgetMs, 60_000);
    assert.deepEqual(
      plan.stages[0].candidates.map((c) => c.contextWindow),
      [128_000, 200_000],
    );
  });

  test('capability drops are planned: a tools request skips the tool-less model unless it allows dropping tools', () => {
    assert.deepEqual(
      makePlan(ask({ tools: TOOLS }), SNAPSHOT).skipped.map((s) => s.model),
      ['llama-3.1-8b'],
    );
    const dropped = makePlan(ask({ tools: TOOLS, routing: { allowDrop: ['tools'] } }), SNAPSHOT).stages.at(-1)!;
    assert.equal(dropped.model, 'llama-3.1-8b');
    assert.equal(dropped.request.tools, undefined);
    assert.match(dropped.degradation!.reason, /dropped tools/);
  });

  test('modes: a streaming request streams where the model can, and is planned buffered where it cannot', () => {
    const plan = makePlan(ask({ stream: true }), SNAPSHOT);
    assert.deepEqual(
      plan.stages.flatMap((s) => s.candidates.map((c) => c.mode)),
      ['stream', 'stream', 'stream', 'stream', 'buffered'],
    );
    assert.match(plan.stages.at(-1)!.candidates[0].modeSwitch ?? '', /does not stream/);
    assert.deepEqual(
      makePlan(ask(), SNAPSHOT).stages[0].candidates.map((c) => c.mode),
      ['buffered', 'buffered'],
    );
  });

  test('a cut stream is continued only without tools or JSON, and only when degradation is allowed', () => {
    assert.equal(makePlan(ask({ stream: true }), SNAPSHOT).continuable, true);
    assert.equal(makePlan(ask({ stream: true, tools: TOOLS }), SNAPSHOT).continuable, false, 'never inside a tool call');
    assert.match(makePlan(ask({ stream: true, tools: TOOLS }), SNAPSHOT).noContinuation ?? '', /tools/);
    assert.equal(
      makePlan(ask({ stream: true, response_format: { type: 'json_object' } }), SNAPSHOT).continuable,
      false,
      'never inside a JSON answer',
    );
    assert.equal(makePlan(ask({ stream: true, routing: { allowDegradation: false } }), SNAPSHOT).continuable, false);
    assert.equal(makePlan(ask(), SNAPSHOT).continuable, false, 'nothing to continue without a stream');
  });

  test('stream → buffered on the same target only for faults of the streaming path, and only when degradation is allowed', () => {
    const plan = makePlan(ask({ stream: true }), SNAPSHOT);
    assert.equal(buffersAfter(plan, 'ProviderMalformed'), true);
    assert.equal(buffersAfter(plan, 'ProviderServerError'), true);
    for (const t of [
      'ProviderUnavailable',
      'ProviderTimeout',
      'ProviderStalled',
      'ProviderRateLimited',
      'ProviderBadAnswer',
      'ProviderAuth',
      'ProviderContextLength',
    ]) {
      assert.equal(buffersAfter(plan, t), false, t);
    }
    assert.equal(buffersAfter(makePlan(ask({ stream: true, routing: { allowDegradation: false } }), SNAPSHOT), 'ProviderMalformed'), false);
  });
});

/** The smart tier's models behind open model breakers, the fast tier healthy (game day smart-tier-down). */
const SMART_OPEN: RoutingSnapshot = {
  ...SNAPSHOT,
  targets: SNAPSHOT.targets.map((t) =>
    t.id === 'openai'
      ? { ...t, modelHealth: { 'gpt-4o': { breaker: 'open', healthy: true } } }
      : t.id === 'anthropic'
        ? { ...t, modelHealth: { 'claude-sonnet-4': { breaker: 'open', healthy: true } } }
        : t,
  ),
};
const order = (plan: Plan) => plan.tries.map((t) => `${t.candidate.target}/${t.candidate.model}${t.candidate.lastResort ? '!' : ''}`);

describe('deferLastResort', () => {
  test('every smart model open: the first call is a fast-tier model, the open ones only after the lower models that keep the request whole', () => {
    const plan = makePlan(ask(), SMART_OPEN);
    assert.deepEqual(
      order(plan),
      ['openai/gpt-4o!', 'anthropic/claude-sonnet-4!', 'openai/gpt-4o-mini', 'anthropic/claude-3-5-haiku', 'self/llama-3.1-8b'],
      'the old order',
    );
    const deferred = deferLastResort(plan)!;
    assert.deepEqual(order(deferred), [
      'openai/gpt-4o-mini',
      'anthropic/claude-3-5-haiku',
      'self/llama-3.1-8b',
      'openai/gpt-4o!',
      'anthropic/claude-sonnet-4!',
    ]);
    assert.equal(deferred.lastResortDeferred, true);
    const d = deferred.stages[1].degradation!;
    assert.deepEqual([d.kind, d.from, d.to], ['model', 'gpt-4o', 'gpt-4o-mini']);
    assert.match(
      d.reason,
      /every target of gpt-4o is unavailable \(openai\/gpt-4o: model breaker open \(gpt-4o\); anthropic\/claude-sonnet-4: model breaker open \(claude-sonnet-4\)\)/,
    );
    assert.equal(deferred.stages[2].degradation!.reason, plan.stages[2].degradation!.reason, 'nothing of gpt-4o-mini was deferred');
  });

  test('a step that drops a request feature still comes after the last resorts', () => {
    const plan = makePlan(ask({ tools: TOOLS, routing: { allowDrop: ['tools'] } }), SMART_OPEN);
    assert.deepEqual(order(deferLastResort(plan)!), [
      'openai/gpt-4o-mini',
      'anthropic/claude-3-5-haiku',
      'openai/gpt-4o!',
      'anthropic/claude-sonnet-4!',
      'self/llama-3.1-8b',
    ]);
  });

  test('one smart model open: the healthy equivalent first, then the fast tier, then the open one', () => {
    const oneOpen = {
      ...SMART_OPEN,
      targets: SMART_OPEN.targets.map((t) => (t.id === 'anthropic' ? { ...t, modelHealth: undefined } : t)),
    };
    assert.deepEqual(order(deferLastResort(makePlan(ask(), oneOpen))!), [
      'anthropic/claude-sonnet-4',
      'openai/gpt-4o-mini',
      'anthropic/claude-3-5-haiku',
      'self/llama-3.1-8b',
      'openai/gpt-4o!',
    ]);
  });

  test('nothing to defer, or degradation forbidden: no change (and no patch marker asked for)', () => {
    assert.equal(deferLastResort(makePlan(ask(), SNAPSHOT)), undefined);
    const forbidden = makePlan(ask({ routing: { allowDegradation: false } }), SMART_OPEN);
    assert.deepEqual(order(forbidden), ['openai/gpt-4o!', 'anthropic/claude-sonnet-4!'], 'the last resorts stay, as today');
    assert.equal(deferLastResort(forbidden), undefined);
    assert.equal(deferLastResort(makePlan(ask({ routing: { pinModel: true } }), SMART_OPEN)), undefined);
  });
});
