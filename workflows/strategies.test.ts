/**
 * Routing strategies and the selector's filters: pure ranking on hand-built pairs and snapshots.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AiRequest } from '../contracts/request';
import type { ModelInfo, RoutingSnapshot, TargetInfo } from '../contracts/routing';
import { capabilityGap, estimateCostUsd, needsOf, planRoute, unavailability, type Needs } from './selector';
import { STRATEGIES, cost, latency, priority, weighted, type Pair } from './strategies';

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const noRandom = () => {
  throw new Error('this strategy must not use randomness');
};

type ModelOver = { capabilities?: Partial<ModelInfo['capabilities']>; pricePerMTok?: ModelInfo['pricePerMTok'] };

function model(id: string, over: ModelOver = {}): ModelInfo {
  return {
    id,
    capabilities: { tools: true, vision: true, json: true, streaming: true, contextWindow: 128_000, ...over.capabilities },
    pricePerMTok: over.pricePerMTok ?? { input: 1, output: 2 },
  };
}

function target(id: string, prio: number, models: Array<string | ModelInfo>, over: Partial<TargetInfo> = {}): TargetInfo {
  return {
    id,
    kind: 'openai',
    region: 'test',
    priority: prio,
    weight: 1,
    models: models.map((m) => (typeof m === 'string' ? model(m) : m)),
    breaker: 'closed',
    healthy: true,
    ...over,
  };
}

const TIERS: Record<string, string[]> = {
  smart: ['gpt-4o', 'claude-sonnet-4'],
  fast: ['gpt-4o-mini', 'claude-3-5-haiku', 'llama-3.1-8b'],
};

const TAKEN_AT = 1_700_000_000_000;

function snapshot(targets: TargetInfo[], strategy: RoutingSnapshot['defaults']['strategy'] = 'priority'): RoutingSnapshot {
  return {
    targets,
    tiers: TIERS,
    defaults: { strategy, allowDegradation: true },
    policy: {
      callMs: 30_000,
      streamMs: 300_000,
      streamIdleMs: 15_000,
      heartbeatMs: 10_000,
      retry: { maxAttempts: 3, initialIntervalMs: 200, backoffCoefficient: 2, maxIntervalMs: 2_000, maxRetryAfterS: 5 },
    },
    takenAt: TAKEN_AT,
  };
}

function request(modelId: string, over: Partial<AiRequest> = {}): AiRequest {
  return { model: modelId, messages: [{ role: 'user', content: 'hi' }], ...over };
}

/** A pair for the strategies. */
function pair(
  id: string,
  over: { priority?: number; weight?: number; latencyMs?: number; modelRank?: number; costUsd?: number; model?: string } = {},
): Pair {
  return {
    target: target(id, over.priority ?? 10, [over.model ?? 'm'], {
      weight: over.weight ?? 1,
      ...(over.latencyMs !== undefined ? { latencyMs: over.latencyMs } : {}),
    }),
    model: model(over.model ?? 'm'),
    modelRank: over.modelRank ?? 0,
    costUsd: over.costUsd ?? 0,
  };
}

const ids = (ps: Pair[]) => ps.map((p) => p.target.id);
const order = (plan: ReturnType<typeof planRoute>) =>
  plan.candidates.map((c) => `${c.target}/${c.model}${c.lastResort ? ` (${c.lastResort})` : ''}`);

describe('strategies', () => {
  test('the table names every strategy', () => {
    assert.deepEqual(Object.keys(STRATEGIES).sort(), ['cost', 'latency', 'priority', 'weighted']);
    assert.equal(STRATEGIES.priority, priority);
    assert.equal(STRATEGIES.weighted, weighted);
  });

  describe('priority', () => {
    test('model rank first, then target priority', () => {
      const ps = [
        pair('eq-1', { modelRank: 1, priority: 1 }),
        pair('req-30', { priority: 30 }),
        pair('req-10', { priority: 10 }),
        pair('eq-5', { modelRank: 1, priority: 5 }),
        pair('eq2-0', { modelRank: 2, priority: 0 }),
      ];
      assert.deepEqual(ids(priority(ps, noRandom)), ['req-10', 'req-30', 'eq-1', 'eq-5', 'eq2-0']);
    });

    test('stable for ties and does not mutate its input', () => {
      const ps = [pair('b'), pair('a'), pair('c')];
      assert.deepEqual(ids(priority(ps, noRandom)), ['b', 'a', 'c']);
      const input = [pair('z', { priority: 9 }), pair('y', { priority: 1 })];
      priority(input, noRandom);
      assert.deepEqual(ids(input), ['z', 'y']);
    });
  });

  describe('weighted', () => {
    const three = () => [pair('a', { weight: 1 }), pair('b', { weight: 2 }), pair('c', { weight: 7 })];

    test('deterministic given the random function', () => {
      const runs = (seed: number) => {
        const r = seeded(seed);
        return Array.from({ length: 20 }, () => ids(weighted(three(), r)).join(','));
      };
      assert.deepEqual(runs(42), runs(42));
      assert.notDeepEqual(runs(42), runs(7));
    });

    test('a fixed random draw gives a fixed order', () => {
      // With every key random()^(1/w) from the same draw, the heaviest target has the largest key.
      assert.deepEqual(ids(weighted(three(), () => 0.5)), ['c', 'b', 'a']);
    });

    test('is a permutation of its input', () => {
      const r = seeded(1);
      for (let i = 0; i < 50; i++) assert.deepEqual(ids(weighted(three(), r)).sort(), ['a', 'b', 'c']);
    });

    test('first picks follow the weights', () => {
      const r = seeded(12345);
      const n = 20_000;
      const first: Record<string, number> = { a: 0, b: 0, c: 0 };
      for (let i = 0; i < n; i++) first[ids(weighted(three(), r))[0]] += 1;
      const expected = { a: 0.1, b: 0.2, c: 0.7 };
      for (const [id, share] of Object.entries(expected)) {
        const seen = first[id] / n;
        assert.ok(Math.abs(seen - share) < 0.015, `${id}: first ${(seen * 100).toFixed(1)}% of the time, expected ${share * 100}%`);
      }
    });

    test('equal weights share evenly', () => {
      const r = seeded(99);
      const n = 12_000;
      const first: Record<string, number> = { x: 0, y: 0, z: 0 };
      for (let i = 0; i < n; i++) first[ids(weighted([pair('x'), pair('y'), pair('z')], r))[0]] += 1;
      for (const id of ['x', 'y', 'z']) assert.ok(Math.abs(first[id] / n - 1 / 3) < 0.02, `${id}: ${first[id]}`);
    });

    test('weight 0 is never first unless alone; it comes last', () => {
      const r = seeded(2024);
      for (let i = 0; i < 2_000; i++) {
        const out = ids(weighted([pair('zero', { weight: 0, priority: 0 }), pair('a', { weight: 0.01 }), pair('b', { weight: 1 })], r));
        assert.equal(out[2], 'zero');
      }
      // Even when random() returns 0 (the smallest key a weighted target can get).
      assert.equal(ids(weighted([pair('zero', { weight: 0, priority: 0 }), pair('a')], () => 0))[0], 'a');
      assert.deepEqual(ids(weighted([pair('zero', { weight: 0 })], seeded(1))), ['zero']);
    });

    test('all weights 0: ordered like priority', () => {
      const ps = [
        pair('c', { weight: 0, priority: 30 }),
        pair('a', { weight: 0, priority: 10 }),
        pair('eq', { weight: 0, priority: 0, modelRank: 1 }),
      ];
      assert.deepEqual(ids(weighted(ps, seeded(3))), ['a', 'c', 'eq']);
    });

    test('an empty list is fine', () => {
      assert.deepEqual(weighted([], seeded(1)), []);
    });
  });

  describe('latency', () => {
    test('lowest latency first, targets never measured after them', () => {
      const ps = [
        pair('slow', { latencyMs: 300 }),
        pair('unknown-20', { priority: 20 }),
        pair('fast', { latencyMs: 100 }),
        pair('unknown-10', { priority: 10 }),
        pair('mid', { latencyMs: 200 }),
      ];
      assert.deepEqual(ids(latency(ps, noRandom)), ['fast', 'mid', 'slow', 'unknown-10', 'unknown-20']);
    });

    test('latency beats model rank; ties fall back to model rank then priority', () => {
      const ps = [
        pair('req', { latencyMs: 500 }),
        pair('eq', { latencyMs: 50, modelRank: 1 }),
        pair('tie-eq', { latencyMs: 500, modelRank: 1, priority: 0 }),
        pair('tie-req', { latencyMs: 500, priority: 20 }),
      ];
      assert.deepEqual(ids(latency(ps, noRandom)), ['eq', 'req', 'tie-req', 'tie-eq']);
    });
  });

  describe('cost', () => {
    test('cheapest first, ties by model rank then priority', () => {
      const ps = [
        pair('dear', { costUsd: 0.01 }),
        pair('cheap-eq', { costUsd: 0.001, modelRank: 1, priority: 0 }),
        pair('cheap', { costUsd: 0.001, priority: 5 }),
        pair('free', { costUsd: 0 }),
      ];
      assert.deepEqual(ids(cost(ps, noRandom)), ['free', 'cheap', 'cheap-eq', 'dear']);
    });
  });
});

describe('needsOf', () => {
  test('a plain text request needs nothing special', () => {
    const n = needsOf(request('gpt-4o'));
    const prompt = Math.ceil(JSON.stringify([{ role: 'user', content: 'hi' }]).length / 4);
    assert.deepEqual(n, {
      tools: false,
      vision: false,
      json: false,
      streaming: false,
      promptTokens: prompt,
      maxOutputTokens: 256,
      contextTokens: prompt + 256,
    });
  });

  test('tools unless tool_choice is none; vision from image parts; JSON from response_format; streaming', () => {
    const tools = [{ type: 'function' as const, function: { name: 'lookup' } }];
    assert.equal(needsOf(request('m', { tools })).tools, true);
    assert.equal(needsOf(request('m', { tools, tool_choice: 'auto' })).tools, true);
    assert.equal(needsOf(request('m', { tools, tool_choice: 'none' })).tools, false);
    assert.equal(needsOf(request('m', { tools: [] })).tools, false);
    const image: AiRequest['messages'] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'what is this' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
        ],
      },
    ];
    assert.equal(needsOf(request('m', { messages: image })).vision, true);
    assert.equal(needsOf(request('m', { messages: [{ role: 'user', content: [{ type: 'text', text: 'no image' }] }] })).vision, false);
    assert.equal(needsOf(request('m', { response_format: { type: 'json_object' } })).json, true);
    assert.equal(needsOf(request('m', { response_format: { type: 'json_schema' } })).json, true);
    assert.equal(needsOf(request('m', { response_format: { type: 'text' } })).json, false);
    assert.equal(needsOf(request('m', { stream: true })).streaming, true);
  });

  test('answer budget: max_tokens, else max_completion_tokens, else 256', () => {
    assert.equal(needsOf(request('m', { max_tokens: 1_000, max_completion_tokens: 5 })).maxOutputTokens, 1_000);
    assert.equal(needsOf(request('m', { max_completion_tokens: 77 })).maxOutputTokens, 77);
    const n = needsOf(request('m', { messages: [{ role: 'user', content: 'x'.repeat(4_000) }], max_tokens: 100 }));
    assert.ok(n.promptTokens > 1_000 && n.promptTokens < 1_020);
    assert.equal(n.contextTokens, n.promptTokens + 100);
  });
});

describe('capabilityGap', () => {
  const needs = (over: Partial<Needs> = {}): Needs => ({
    tools: false,
    vision: false,
    json: false,
    streaming: false,
    promptTokens: 10,
    maxOutputTokens: 90,
    contextTokens: 100,
    ...over,
  });
  const none = model('none', { capabilities: { tools: false, vision: false, json: false, contextWindow: 100 } });

  test('each missing capability has its reason', () => {
    assert.equal(capabilityGap(none, needs()), undefined);
    assert.equal(capabilityGap(none, needs({ tools: true })), 'no tool support');
    assert.equal(capabilityGap(none, needs({ vision: true })), 'no vision support');
    assert.equal(capabilityGap(none, needs({ json: true })), 'no JSON mode');
    assert.equal(capabilityGap(none, needs({ contextTokens: 101 })), 'prompt (~101 tokens) exceeds the 100-token context window');
    assert.equal(capabilityGap(model('all'), needs({ tools: true, vision: true, json: true, contextTokens: 128_000 })), undefined);
  });
});

describe('unavailability', () => {
  const needs = needsOf(request('m'));
  const now = TAKEN_AT;

  test('each reason, in order', () => {
    assert.equal(unavailability(target('t', 1, []), needs, now), undefined);
    assert.equal(unavailability(target('t', 1, [], { breaker: 'open', healthy: false }), needs, now), 'breaker open');
    assert.equal(unavailability(target('t', 1, [], { healthy: false }), needs, now), 'failing health probe');
    assert.equal(unavailability(target('t', 1, [], { coolDownUntil: now + 1 }), needs, now), 'rate limited (Retry-After)');
    assert.equal(unavailability(target('t', 1, [], { quota: { requests: 0.5 } }), needs, now), 'request quota used up');
    assert.equal(unavailability(target('t', 1, [], { quota: { tokens: needs.contextTokens - 1 } }), needs, now), 'token quota used up');
  });

  test('half-open, an expired cool-down and enough quota count as available', () => {
    assert.equal(unavailability(target('t', 1, [], { breaker: 'half-open' }), needs, now), undefined);
    assert.equal(unavailability(target('t', 1, [], { coolDownUntil: now }), needs, now), undefined);
    assert.equal(unavailability(target('t', 1, [], { coolDownUntil: now - 1 }), needs, now), undefined);
    assert.equal(unavailability(target('t', 1, [], { quota: { requests: 1, tokens: needs.contextTokens } }), needs, now), undefined);
    assert.equal(unavailability(target('t', 1, [], { quota: {} }), needs, now), undefined);
  });
});

describe('estimateCostUsd', () => {
  test('prompt tokens at the input price plus the answer budget at the output price', () => {
    const m = model('m', { pricePerMTok: { input: 3, output: 15 } });
    const needs: Needs = {
      tools: false,
      vision: false,
      json: false,
      streaming: false,
      promptTokens: 2_000,
      maxOutputTokens: 1_000,
      contextTokens: 3_000,
    };
    assert.ok(Math.abs(estimateCostUsd(m, needs) - (2_000 * 3 + 1_000 * 15) / 1e6) < 1e-12);
    assert.equal(estimateCostUsd(model('free', { pricePerMTok: { input: 0, output: 0 } }), needs), 0);
  });
});

describe('planRoute', () => {
  test('the request strategy overrides the snapshot default', () => {
    const targets = [target('near', 20, ['gpt-4o'], { latencyMs: 50 }), target('first', 10, ['gpt-4o'], { latencyMs: 400 })];
    assert.deepEqual(order(planRoute(request('gpt-4o'), snapshot(targets))), ['first/gpt-4o', 'near/gpt-4o']);
    assert.deepEqual(order(planRoute(request('gpt-4o'), snapshot(targets, 'latency'))), ['near/gpt-4o', 'first/gpt-4o']);
    assert.deepEqual(order(planRoute(request('gpt-4o', { routing: { strategy: 'priority' } }), snapshot(targets, 'latency'))), [
      'first/gpt-4o',
      'near/gpt-4o',
    ]);
  });

  test('cost strategy ranks by the estimated cost of this request', () => {
    const targets = [
      target('dear', 1, [model('gpt-4o', { pricePerMTok: { input: 5, output: 15 } })]),
      target('cheap', 2, [model('claude-sonnet-4', { pricePerMTok: { input: 0.5, output: 1 } })]),
      target('mid', 3, [model('gpt-4o', { pricePerMTok: { input: 2, output: 8 } })]),
    ];
    const plan = planRoute(request('gpt-4o', { routing: { strategy: 'cost' } }), snapshot(targets));
    assert.deepEqual(
      plan.candidates.map((c) => [c.target, c.reason]),
      [
        ['cheap', 'equivalent'],
        ['mid', 'requested'],
        ['dear', 'requested'],
      ],
    );
  });

  test('weighted strategy uses the random function it is given (replays the same way)', () => {
    const targets = [
      target('a', 1, ['gpt-4o'], { weight: 1 }),
      target('b', 2, ['gpt-4o'], { weight: 1 }),
      target('c', 3, ['gpt-4o'], { weight: 1 }),
    ];
    const snap = snapshot(targets, 'weighted');
    const seq = (seed: number) => {
      const r = seeded(seed);
      return Array.from({ length: 10 }, () => order(planRoute(request('gpt-4o'), snap, r)).join(' '));
    };
    assert.deepEqual(seq(5), seq(5));
    assert.ok(new Set(seq(5)).size > 1, 'different draws give different orders');
  });

  describe('capability and cost filters exclude, with a reason', () => {
    const targets = [
      target('plain', 1, [model('gpt-4o', { capabilities: { tools: false, vision: false, json: false, contextWindow: 4_000 } })]),
      target('full', 2, ['gpt-4o']),
    ];

    const cases: Array<[string, Partial<AiRequest>, RegExp]> = [
      ['tools', { tools: [{ type: 'function', function: { name: 'f' } }] }, /^no tool support$/],
      [
        'vision',
        { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://x/y.png' } }] }] },
        /^no vision support$/,
      ],
      ['json', { response_format: { type: 'json_object' } }, /^no JSON mode$/],
      ['context window', { max_tokens: 5_000 }, /exceeds the 4000-token context window/],
    ];
    for (const [name, over, reason] of cases) {
      test(name, () => {
        const plan = planRoute(request('gpt-4o', over), snapshot(targets));
        assert.deepEqual(order(plan), ['full/gpt-4o']);
        assert.equal(plan.excluded.length, 1);
        assert.equal(plan.excluded[0].target, 'plain');
        assert.equal(plan.excluded[0].model, 'gpt-4o');
        assert.match(plan.excluded[0].reason, reason);
      });
    }

    test('no need, no exclusion (tool_choice none does not need tools)', () => {
      const plan = planRoute(
        request('gpt-4o', { tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'none' }),
        snapshot(targets),
      );
      assert.deepEqual(order(plan), ['plain/gpt-4o', 'full/gpt-4o']);
      assert.deepEqual(plan.excluded, []);
    });

    test('maxCostUsd excludes pairs estimated above it', () => {
      const priced = [
        target('dear', 1, [model('gpt-4o', { pricePerMTok: { input: 1_000, output: 1_000 } })]),
        target('cheap', 2, [model('gpt-4o', { pricePerMTok: { input: 1, output: 1 } })]),
      ];
      const req = request('gpt-4o', { max_tokens: 100, routing: { maxCostUsd: 0.01 } });
      const plan = planRoute(req, snapshot(priced));
      assert.deepEqual(order(plan), ['cheap/gpt-4o']);
      assert.equal(plan.excluded.length, 1);
      assert.equal(plan.excluded[0].target, 'dear');
      assert.match(plan.excluded[0].reason, /^estimated \$\d+\.\d{6} > maxCostUsd \$0\.01$/);
      // Without a ceiling both stay.
      assert.deepEqual(order(planRoute(request('gpt-4o', { max_tokens: 100 }), snapshot(priced))), ['dear/gpt-4o', 'cheap/gpt-4o']);
    });

    test('an excluded target is not used as a last resort either', () => {
      const plan = planRoute(request('gpt-4o', { response_format: { type: 'json_object' } }), snapshot([targets[0]]));
      assert.deepEqual(plan.candidates, []);
      assert.equal(plan.excluded.length, 1);
    });
  });

  describe('unavailable targets go last, as a last resort, not away', () => {
    const needs = needsOf(request('gpt-4o'));
    const cases: Array<[string, Partial<TargetInfo>, string]> = [
      ['open breaker', { breaker: 'open' }, 'breaker open'],
      ['unhealthy probe', { healthy: false }, 'failing health probe'],
      ['cool-down after the snapshot was taken', { coolDownUntil: TAKEN_AT + 1_000 }, 'rate limited (Retry-After)'],
      ['no requests left', { quota: { requests: 0 } }, 'request quota used up'],
      ['too few tokens left', { quota: { requests: 5, tokens: needs.contextTokens - 1 } }, 'token quota used up'],
    ];
    for (const [name, over, why] of cases) {
      test(name, () => {
        const targets = [target('best', 1, ['gpt-4o'], over), target('second', 2, ['gpt-4o']), target('eq', 3, ['claude-sonnet-4'])];
        const plan = planRoute(request('gpt-4o'), snapshot(targets));
        assert.deepEqual(order(plan), ['second/gpt-4o', 'eq/claude-sonnet-4', `best/gpt-4o (${why})`]);
        assert.equal(plan.candidates[2].reason, 'requested');
        assert.deepEqual(plan.excluded, []);
      });
    }

    test('cool-down is judged against snapshot.takenAt, not the wall clock', () => {
      // takenAt is in 2023: a cool-down ending a second later is long over by the wall clock.
      const targets = [target('cooling', 1, ['gpt-4o'], { coolDownUntil: TAKEN_AT + 1_000 }), target('ok', 2, ['gpt-4o'])];
      assert.deepEqual(order(planRoute(request('gpt-4o'), snapshot(targets))), [
        'ok/gpt-4o',
        'cooling/gpt-4o (rate limited (Retry-After))',
      ]);
      const over = [target('cooled', 1, ['gpt-4o'], { coolDownUntil: TAKEN_AT }), target('ok', 2, ['gpt-4o'])];
      assert.deepEqual(order(planRoute(request('gpt-4o'), snapshot(over))), ['cooled/gpt-4o', 'ok/gpt-4o']);
    });

    test('half-open counts as available, and enough quota too', () => {
      const targets = [
        target('trial', 1, ['gpt-4o'], { breaker: 'half-open', quota: { requests: 1, tokens: 1_000_000 } }),
        target('second', 2, ['gpt-4o']),
      ];
      const plan = planRoute(request('gpt-4o'), snapshot(targets));
      assert.deepEqual(order(plan), ['trial/gpt-4o', 'second/gpt-4o']);
      assert.equal(plan.candidates[0].lastResort, undefined);
    });

    test('last resorts keep priority order whatever the strategy, after every available pair', () => {
      const targets = [
        target('open-30', 30, ['gpt-4o'], { breaker: 'open', latencyMs: 1 }),
        target('slow', 20, ['gpt-4o'], { latencyMs: 900 }),
        target('down-eq', 5, ['claude-sonnet-4'], { healthy: false, latencyMs: 1 }),
        target('open-10', 10, ['gpt-4o'], { breaker: 'open', latencyMs: 2 }),
        target('fast-eq', 40, ['claude-sonnet-4'], { latencyMs: 100 }),
      ];
      for (const strategy of ['priority', 'latency', 'cost', 'weighted'] as const) {
        const plan = planRoute(request('gpt-4o', { routing: { strategy } }), snapshot(targets), seeded(1));
        assert.deepEqual(
          plan.candidates.slice(2).map((c) => c.target),
          ['open-10', 'open-30', 'down-eq'],
          strategy,
        );
        assert.deepEqual(new Set(plan.candidates.slice(0, 2).map((c) => c.lastResort)), new Set([undefined]), strategy);
      }
      assert.deepEqual(
        planRoute(request('gpt-4o', { routing: { strategy: 'latency' } }), snapshot(targets))
          .candidates.slice(0, 2)
          .map((c) => c.target),
        ['fast-eq', 'slow'],
      );
    });

    test('everything unavailable: all still offered, none dropped', () => {
      const targets = [target('a', 2, ['gpt-4o'], { breaker: 'open' }), target('b', 1, ['gpt-4o'], { healthy: false })];
      const plan = planRoute(request('gpt-4o'), snapshot(targets));
      assert.deepEqual(order(plan), ['b/gpt-4o (failing health probe)', 'a/gpt-4o (breaker open)']);
    });
  });
});
