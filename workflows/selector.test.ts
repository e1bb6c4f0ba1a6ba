/**
 * The selector: request + snapshot → ordered candidates. Snapshots are built by hand.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AiRequest } from '../contracts/request';
import type { ModelInfo, RoutingSnapshot, TargetInfo } from '../contracts/routing';
import { equivalentModels, planRoute, rankCandidates, tierOf } from './selector';

function model(id: string): ModelInfo {
  return {
    id,
    capabilities: { tools: true, vision: false, json: true, streaming: true, contextWindow: 128_000 },
    pricePerMTok: { input: 1, output: 2 },
  };
}

function target(id: string, priority: number, models: string[], over: Partial<TargetInfo> = {}): TargetInfo {
  return { id, kind: 'openai', region: 'test', priority, weight: 1, models: models.map(model), breaker: 'closed', healthy: true, ...over };
}

const TIERS: Record<string, string[]> = {
  smart: ['gpt-4o', 'claude-sonnet-4'],
  fast: ['gpt-4o-mini', 'claude-3-5-haiku', 'llama-3.1-8b'],
};

function snapshot(targets: TargetInfo[], tiers: Record<string, string[]> = TIERS): RoutingSnapshot {
  return {
    targets,
    tiers,
    defaults: { strategy: 'priority', allowDegradation: true },
    policy: {
      callMs: 30_000,
      streamMs: 300_000,
      streamIdleMs: 15_000,
      heartbeatMs: 10_000,
      retry: { maxAttempts: 3, initialIntervalMs: 200, backoffCoefficient: 2, maxIntervalMs: 2_000, maxRetryAfterS: 5 },
    },
    takenAt: 1_700_000_000_000,
  };
}

function request(model: string, routing?: AiRequest['routing']): AiRequest {
  return { model, messages: [{ role: 'user', content: 'hi' }], ...(routing ? { routing } : {}) };
}

/** Mirrors config/default.yaml. */
const DEFAULT_TARGETS = [
  target('openai-us-east-1', 10, ['gpt-4o', 'gpt-4o-mini']),
  target('anthropic-eu-west-1', 20, ['claude-sonnet-4', 'claude-3-5-haiku'], { kind: 'anthropic' }),
  target('selfhosted-onprem', 30, ['llama-3.1-8b'], { kind: 'openai-compatible' }),
];

const pairs = (cs: ReturnType<typeof rankCandidates>) => cs.map((c) => `${c.target}/${c.model}/${c.reason}`);

describe('tierOf', () => {
  test('finds the tier of a member', () => {
    assert.equal(tierOf('gpt-4o', TIERS), 'smart');
    assert.equal(tierOf('llama-3.1-8b', TIERS), 'fast');
  });

  test('undefined for a model in no tier, and for a tier name', () => {
    assert.equal(tierOf('gpt-3.5-turbo', TIERS), undefined);
    assert.equal(tierOf('smart', TIERS), undefined);
    assert.equal(tierOf('gpt-4o', {}), undefined);
  });
});

describe('equivalentModels', () => {
  test('a concrete model comes first, then the rest of its tier in tier order', () => {
    assert.deepEqual(equivalentModels('claude-3-5-haiku', TIERS), ['claude-3-5-haiku', 'gpt-4o-mini', 'llama-3.1-8b']);
    assert.deepEqual(equivalentModels('gpt-4o', TIERS), ['gpt-4o', 'claude-sonnet-4']);
  });

  test('a tier name expands to its members in tier order', () => {
    assert.deepEqual(equivalentModels('fast', TIERS), ['gpt-4o-mini', 'claude-3-5-haiku', 'llama-3.1-8b']);
  });

  test('the expansion is a copy: changing it leaves the tiers alone', () => {
    const out = equivalentModels('smart', TIERS);
    out.push('x');
    assert.deepEqual(TIERS.smart, ['gpt-4o', 'claude-sonnet-4']);
  });

  test('pinModel keeps only the named model', () => {
    assert.deepEqual(equivalentModels('gpt-4o', TIERS, true), ['gpt-4o']);
  });

  test('pinModel on a tier name still expands the tier', () => {
    assert.deepEqual(equivalentModels('smart', TIERS, true), ['gpt-4o', 'claude-sonnet-4']);
  });

  test('a model in no tier is its own only equivalent', () => {
    assert.deepEqual(equivalentModels('gpt-3.5-turbo', TIERS), ['gpt-3.5-turbo']);
    assert.deepEqual(equivalentModels('gpt-4o', {}), ['gpt-4o']);
  });
});

describe('rankCandidates', () => {
  test('concrete model: its targets first, then tier equivalents', () => {
    assert.deepEqual(pairs(rankCandidates(request('gpt-4o'), snapshot(DEFAULT_TARGETS))), [
      'openai-us-east-1/gpt-4o/requested',
      'anthropic-eu-west-1/claude-sonnet-4/equivalent',
    ]);
    assert.deepEqual(pairs(rankCandidates(request('claude-3-5-haiku'), snapshot(DEFAULT_TARGETS))), [
      'anthropic-eu-west-1/claude-3-5-haiku/requested',
      'openai-us-east-1/gpt-4o-mini/equivalent',
      'selfhosted-onprem/llama-3.1-8b/equivalent',
    ]);
  });

  test('the requested model on all its targets comes before any equivalent, even a better-priority one', () => {
    const targets = [target('primary', 1, ['gpt-4o-mini']), target('a', 20, ['claude-3-5-haiku']), target('b', 10, ['claude-3-5-haiku'])];
    assert.deepEqual(pairs(rankCandidates(request('claude-3-5-haiku'), snapshot(targets))), [
      'b/claude-3-5-haiku/requested',
      'a/claude-3-5-haiku/requested',
      'primary/gpt-4o-mini/equivalent',
    ]);
  });

  test('tier name: members in tier order, each on its targets by priority', () => {
    assert.deepEqual(pairs(rankCandidates(request('fast'), snapshot(DEFAULT_TARGETS))), [
      'openai-us-east-1/gpt-4o-mini/equivalent',
      'anthropic-eu-west-1/claude-3-5-haiku/equivalent',
      'selfhosted-onprem/llama-3.1-8b/equivalent',
    ]);
  });

  test('tier order wins over target priority for a tier name', () => {
    // llama is on the best-priority target but last in the tier.
    const targets = [target('cheap', 1, ['llama-3.1-8b']), target('oa', 50, ['gpt-4o-mini']), target('an', 60, ['claude-3-5-haiku'])];
    assert.deepEqual(
      rankCandidates(request('fast'), snapshot(targets)).map((c) => c.target),
      ['oa', 'an', 'cheap'],
    );
  });

  test('pinModel: only the named model, on each of its targets', () => {
    const targets = [...DEFAULT_TARGETS, target('openai-eu-west-1', 15, ['gpt-4o'])];
    assert.deepEqual(pairs(rankCandidates(request('gpt-4o', { pinModel: true }), snapshot(targets))), [
      'openai-us-east-1/gpt-4o/requested',
      'openai-eu-west-1/gpt-4o/requested',
    ]);
  });

  test('pinModel: false behaves like no pin', () => {
    const snap = snapshot(DEFAULT_TARGETS);
    assert.deepEqual(rankCandidates(request('gpt-4o', { pinModel: false }), snap), rankCandidates(request('gpt-4o'), snap));
  });

  test('unknown model → no candidates', () => {
    assert.deepEqual(rankCandidates(request('gpt-9000'), snapshot(DEFAULT_TARGETS)), []);
    assert.deepEqual(rankCandidates(request('gpt-4o'), snapshot([])), []);
  });

  test('a tier member no target serves is skipped', () => {
    const targets = [target('oa', 10, ['gpt-4o'])];
    assert.deepEqual(pairs(rankCandidates(request('smart'), snapshot(targets))), ['oa/gpt-4o/equivalent']);
    assert.deepEqual(pairs(rankCandidates(request('gpt-4o'), snapshot(targets))), ['oa/gpt-4o/requested']);
  });

  test('a model in no tier is served without equivalents', () => {
    const targets = [target('oa', 10, ['gpt-3.5-turbo', 'gpt-4o'])];
    assert.deepEqual(pairs(rankCandidates(request('gpt-3.5-turbo'), snapshot(targets))), ['oa/gpt-3.5-turbo/requested']);
  });

  test('targets are sorted by priority even when listed out of order', () => {
    const targets = [target('c', 30, ['gpt-4o']), target('a', 10, ['gpt-4o']), target('b', 20, ['gpt-4o'])];
    assert.deepEqual(
      rankCandidates(request('gpt-4o', { pinModel: true }), snapshot(targets)).map((c) => c.target),
      ['a', 'b', 'c'],
    );
  });

  test('the snapshot is not mutated by sorting', () => {
    const targets = [target('c', 30, ['gpt-4o']), target('a', 10, ['gpt-4o'])];
    const snap = snapshot(targets);
    rankCandidates(request('gpt-4o'), snap);
    assert.deepEqual(
      snap.targets.map((t) => t.id),
      ['c', 'a'],
    );
  });

  test('equal priorities keep the listed order (stable, so replay is deterministic)', () => {
    const targets = [target('x', 10, ['gpt-4o']), target('y', 10, ['gpt-4o']), target('z', 10, ['gpt-4o'])];
    assert.deepEqual(
      rankCandidates(request('gpt-4o'), snapshot(targets)).map((c) => c.target),
      ['x', 'y', 'z'],
    );
  });

  test('same model on two targets (two regions): both, by priority, then equivalents', () => {
    const targets = [
      target('anthropic-eu-west-1', 20, ['claude-sonnet-4'], { kind: 'anthropic' }),
      target('openai-eu-west-1', 12, ['gpt-4o'], { region: 'eu-west-1' }),
      target('openai-us-east-1', 10, ['gpt-4o'], { region: 'us-east-1' }),
    ];
    assert.deepEqual(pairs(rankCandidates(request('gpt-4o'), snapshot(targets))), [
      'openai-us-east-1/gpt-4o/requested',
      'openai-eu-west-1/gpt-4o/requested',
      'anthropic-eu-west-1/claude-sonnet-4/equivalent',
    ]);
  });

  test('same result for the same input (deterministic)', () => {
    const snap = snapshot(DEFAULT_TARGETS);
    assert.deepEqual(rankCandidates(request('fast'), snap), rankCandidates(request('fast'), snap));
  });
});

describe('per-model breakers', () => {
  test('an open model is tried last on its target; the target’s other models are not', () => {
    const targets = [
      target('openai-us-east-1', 10, ['gpt-4o', 'gpt-4o-mini'], { modelHealth: { 'gpt-4o': { breaker: 'open', healthy: true } } }),
      ...DEFAULT_TARGETS.slice(1),
    ];
    const smart = planRoute(request('gpt-4o'), snapshot(targets)).candidates;
    assert.deepEqual(
      smart.map((c) => [c.target, c.model, c.lastResort]),
      [
        ['anthropic-eu-west-1', 'claude-sonnet-4', undefined],
        ['openai-us-east-1', 'gpt-4o', 'model breaker open (gpt-4o)'],
      ],
    );
    assert.deepEqual(pairs(rankCandidates(request('gpt-4o-mini'), snapshot(targets)))[0], 'openai-us-east-1/gpt-4o-mini/requested');
  });

  test('a model failing its known-answer probe is demoted the same way; a closed healthy entry changes nothing', () => {
    const failing = [
      target('openai-us-east-1', 10, ['gpt-4o', 'gpt-4o-mini'], { modelHealth: { 'gpt-4o': { breaker: 'closed', healthy: false } } }),
      ...DEFAULT_TARGETS.slice(1),
    ];
    assert.equal(planRoute(request('gpt-4o'), snapshot(failing)).candidates.at(-1)?.lastResort, 'failing known-answer probe (gpt-4o)');
    const fine = [
      target('openai-us-east-1', 10, ['gpt-4o'], { modelHealth: { 'gpt-4o': { breaker: 'closed', healthy: true } } }),
      ...DEFAULT_TARGETS.slice(1),
    ];
    assert.equal(rankCandidates(request('gpt-4o'), snapshot(fine))[0].target, 'openai-us-east-1');
  });
});
