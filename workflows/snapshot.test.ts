/** A trimmed snapshot makes exactly the plan (and the try limits) the whole one makes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { createRoutingActivities } from '../activities/routing';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../config/load';
import type { AiRequest } from '../contracts/request';
import type { BreakerState, RoutingSnapshot } from '../contracts/routing';
import { firstTokenLimit, hedgeDelay } from './limits';
import { makePlan } from './plan';
import { trimSnapshot } from './snapshot';

/** mulberry32: the same sequence for both plans. */
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

const raw = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
// One more tier, listed first, sharing a model: the trim must keep the tier the lookups find first.
raw.tiers = { cheap: ['gpt-4o-mini', 'llama-3.1-8b'], ...raw.tiers };
raw.degradation.chains.cheap = ['llama-3.1-8b'];
const config = parseConfig(raw, 'test');

async function snapshotWith(rand: () => number): Promise<RoutingSnapshot> {
  const states: BreakerState[] = ['closed', 'closed', 'open', 'half-open'];
  const state = {
    overlay: () => ({
      breaker: states[Math.floor(rand() * states.length)],
      healthy: rand() > 0.2,
      ...(rand() > 0.5 ? { callLatencyMs: Math.round(rand() * 4_000) } : {}),
      ...(rand() > 0.5 ? { ttftMs: Math.round(rand() * 2_000) } : {}),
      ...(rand() > 0.8 ? { coolDownUntil: 1_700_000_100_000 } : {}),
      quota: rand() > 0.9 ? { requests: 0 } : {},
    }),
  };
  const s = await createRoutingActivities({ config, state, now: () => 1_700_000_000_000 }).getRoutingSnapshot();
  return { ...s, policy: { ...s.policy, hedge: { minMs: 1_000, maxMs: 15_000, latencyMultiple: 3 } } };
}

const MODELS = ['gpt-4o', 'gpt-4o-mini', 'claude-sonnet-4', 'claude-3-5-haiku', 'llama-3.1-8b', 'smart', 'fast', 'cheap', 'unknown-model'];
const TOOLS: AiRequest['tools'] = [{ type: 'function', function: { name: 'x', parameters: {} } }];
const VARIANTS: Array<Partial<AiRequest>> = [
  {},
  { stream: true },
  { tools: TOOLS, routing: { allowDrop: ['tools'] } },
  { tools: TOOLS },
  { response_format: { type: 'json_object' } },
  { routing: { pinModel: true } },
  { routing: { allowDegradation: false } },
  { routing: { strategy: 'cost', maxCostUsd: 0.000_05 } },
  { routing: { strategy: 'weighted' } },
  { routing: { strategy: 'latency' } },
  { max_tokens: 10_000 },
  { rag: { collection: 'sample' } },
];

test('for every model, tier and request shape: the same plan, hedge delays and first-token limits', async () => {
  const rand = seeded(42);
  let compared = 0;
  for (let round = 0; round < 8; round++) {
    const full = await snapshotWith(rand);
    for (const model of MODELS) {
      for (const v of VARIANTS) {
        const request: AiRequest = { model, messages: [{ role: 'user', content: 'hello' }], ...v };
        const trimmed = trimSnapshot(full, request);
        const seed = Math.floor(rand() * 1e9);
        const a = makePlan(request, full, seeded(seed));
        const b = makePlan(request, trimmed, seeded(seed));
        assert.deepEqual(b, a, `${model} ${JSON.stringify(v)}`);
        for (const c of a.stages.flatMap((st) => st.candidates)) {
          assert.equal(hedgeDelay(trimmed, c.target, 30_000), hedgeDelay(full, c.target, 30_000));
          assert.equal(firstTokenLimit(trimmed, c.target), firstTokenLimit(full, c.target));
        }
        assert.equal(trimmed.rag !== undefined, v.rag !== undefined && full.rag !== undefined);
        compared++;
      }
    }
  }
  assert.equal(compared, 8 * MODELS.length * VARIANTS.length);
});

test('it is smaller: a cheap-tier request keeps neither the other models nor the other tiers and chains', async () => {
  const full = await snapshotWith(seeded(1));
  // gpt-4o-mini is in `cheap` (listed first) and `fast`: its equivalents are cheap's.
  const trimmed = trimSnapshot(full, { model: 'gpt-4o-mini' });
  assert.deepEqual(trimmed.targets.flatMap((t) => t.models.map((m) => m.id)).sort(), ['gpt-4o-mini', 'llama-3.1-8b']);
  assert.deepEqual(
    trimmed.targets.map((t) => t.id),
    ['openai-us-east-1', 'selfhosted-onprem'],
  );
  assert.deepEqual(Object.keys(trimmed.tiers), ['cheap']);
  assert.deepEqual(Object.keys(trimmed.degradation?.chains ?? {}), ['gpt-4o-mini']);
  assert.equal(trimmed.rag, undefined);
  assert.ok(JSON.stringify(trimmed).length < 0.7 * JSON.stringify(full).length);
});
