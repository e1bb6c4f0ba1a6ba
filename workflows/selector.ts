/**
 * The ProviderSelector: request + routing snapshot → ranked candidates. Pure and deterministic
 * (randomness is a parameter), so it runs inside the workflow and replays the same way.
 * Filters drop what cannot serve the request (capabilities, cost ceiling); targets that are
 * merely unavailable (open breaker, failing probe, 429 cool-down, no quota left) go to the end
 * as a last resort rather than away, so a request is refused only when nothing could serve it.
 */
import type { AiRequest } from '../contracts/request';
import type { Candidate, ModelInfo, RoutingSnapshot, TargetInfo } from '../contracts/routing';
import { STRATEGIES, type Pair } from './strategies';

/** The tier a model belongs to, or undefined. */
export function tierOf(model: string, tiers: Record<string, string[]>): string | undefined {
  return Object.keys(tiers).find((tier) => tiers[tier].includes(model));
}

/** Models that may answer a request for `requested`, best first. */
export function equivalentModels(requested: string, tiers: Record<string, string[]>, pinModel = false): string[] {
  if (tiers[requested]) return [...tiers[requested]];
  if (pinModel) return [requested];
  const tier = tierOf(requested, tiers);
  return tier ? [requested, ...tiers[tier].filter((m) => m !== requested)] : [requested];
}

/** What a request needs from a model. */
export interface Needs {
  tools: boolean;
  vision: boolean;
  json: boolean;
  streaming: boolean;
  /** Estimated prompt tokens plus the answer budget. */
  contextTokens: number;
  promptTokens: number;
  maxOutputTokens: number;
}

/** Default answer budget when the request names none (for cost and context estimates). */
const DEFAULT_OUTPUT_TOKENS = 256;

export function needsOf(request: AiRequest): Needs {
  const promptTokens = Math.ceil(JSON.stringify(request.messages).length / 4);
  const maxOutputTokens = request.max_tokens ?? request.max_completion_tokens ?? DEFAULT_OUTPUT_TOKENS;
  return {
    tools: (request.tools?.length ?? 0) > 0 && request.tool_choice !== 'none',
    vision: request.messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url')),
    json: request.response_format?.type === 'json_object' || request.response_format?.type === 'json_schema',
    streaming: request.stream === true,
    promptTokens,
    maxOutputTokens,
    contextTokens: promptTokens + maxOutputTokens,
  };
}

/** Why a model cannot serve the request, or undefined if it can. */
export function capabilityGap(model: ModelInfo, needs: Needs): string | undefined {
  const c = model.capabilities;
  if (needs.tools && !c.tools) return 'no tool support';
  if (needs.vision && !c.vision) return 'no vision support';
  if (needs.json && !c.json) return 'no JSON mode';
  if (needs.contextTokens > c.contextWindow)
    return `prompt (~${needs.contextTokens} tokens) exceeds the ${c.contextWindow}-token context window`;
  return undefined;
}

// #region guide:unavailability
/** Why a target should only be tried as a last resort right now, or undefined. */
export function unavailability(t: TargetInfo, needs: Needs, now: number): string | undefined {
  if (t.breaker === 'open') return 'breaker open';
  if (!t.healthy) return 'failing health probe';
  if (t.coolDownUntil !== undefined && t.coolDownUntil > now) return 'rate limited (Retry-After)';
  if (t.quota?.requests !== undefined && t.quota.requests < 1) return 'request quota used up';
  if (t.quota?.tokens !== undefined && t.quota.tokens < needs.contextTokens) return 'token quota used up';
  return undefined;
}

/** Why one model of a target should only be tried as a last resort (its own breaker or probe), or undefined. */
export function modelUnavailability(t: TargetInfo, model: string): string | undefined {
  const h = t.modelHealth?.[model];
  if (!h) return undefined;
  if (h.breaker === 'open') return `model breaker open (${model})`;
  if (!h.healthy) return `failing known-answer probe (${model})`;
  return undefined;
}
// #endregion guide:unavailability

export function estimateCostUsd(model: ModelInfo, needs: Needs): number {
  return (needs.promptTokens * model.pricePerMTok.input + needs.maxOutputTokens * model.pricePerMTok.output) / 1_000_000;
}

/** A ranked plan plus what was left out and why (for the attempt story). */
export interface RoutePlan {
  candidates: Candidate[];
  excluded: Array<{ target: string; model: string; reason: string }>;
}

// #region guide:plan-route
/** Ranks the candidates for `request` with the request's (or the default) strategy. */
export function planRoute(request: AiRequest, snapshot: RoutingSnapshot, random: () => number = Math.random): RoutePlan {
  const models = equivalentModels(request.model, snapshot.tiers, request.routing?.pinModel);
  const needs = needsOf(request);
  const maxCost = request.routing?.maxCostUsd;
  const excluded: RoutePlan['excluded'] = [];
  const ready: Pair[] = [];
  const lastResort: Array<Pair & { why: string }> = [];
  models.forEach((modelId, modelRank) => {
    for (const target of snapshot.targets) {
      const model = target.models.find((m) => m.id === modelId);
      if (!model) continue;
      const gap = capabilityGap(model, needs);
      const costUsd = estimateCostUsd(model, needs);
      if (gap) excluded.push({ target: target.id, model: modelId, reason: gap });
      else if (maxCost !== undefined && costUsd > maxCost)
        excluded.push({ target: target.id, model: modelId, reason: `estimated $${costUsd.toFixed(6)} > maxCostUsd $${maxCost}` });
      else {
        const why = unavailability(target, needs, snapshot.takenAt) ?? modelUnavailability(target, modelId);
        if (why) lastResort.push({ target, model, modelRank, costUsd, why });
        else ready.push({ target, model, modelRank, costUsd });
      }
    }
  });
  const strategy = STRATEGIES[request.routing?.strategy ?? snapshot.defaults.strategy];
  const toCandidate = (p: Pair, note?: string): Candidate => ({
    target: p.target.id,
    model: p.model.id,
    reason: p.modelRank === 0 && p.model.id === request.model ? 'requested' : 'equivalent',
    ...(note ? { lastResort: note } : {}),
  });
  return {
    candidates: [
      ...strategy(ready, random).map((p) => toCandidate(p)),
      ...STRATEGIES.priority(lastResort, random).map((p) => toCandidate(p, (p as Pair & { why: string }).why)),
    ],
    excluded,
  };
}
// #endregion guide:plan-route

/** Candidates in order (see {@link planRoute}). */
export function rankCandidates(request: AiRequest, snapshot: RoutingSnapshot, random: () => number = Math.random): Candidate[] {
  return planRoute(request, snapshot, random).candidates;
}
