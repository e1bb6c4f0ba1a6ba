/**
 * The plan of one request, made up front from the routing snapshot, pure: every stage (the
 * requested model and its equivalents, then each degradation step with what it drops), how each
 * candidate is asked (streamed or buffered), and the rules that decide mode switches,
 * continuation and the request's budget. The workflow walks it; nothing is added on the way.
 */
import { STREAMING_FAULTS } from '../contracts/failures';
import type { AiRequest } from '../contracts/request';
import type { Degradation } from '../contracts/response';
import type { Candidate, RoutingSnapshot } from '../contracts/routing';
import { degradationAllowed, degradationSteps, modelDegradation, type SkippedStep } from './degrade';
import { needsOf, planRoute, tierOf, type RoutePlan } from './selector';

/** How a candidate is asked for its answer. */
export type Mode = 'stream' | 'buffered';

/** One candidate as the plan asks it. */
export interface PlannedCandidate extends Candidate {
  mode: Mode;
  /** Set when a streaming request is asked buffered here (a planned mode switch): why. */
  modeSwitch?: string;
  /** The model's context window, in tokens. */
  contextWindow: number;
}

/** One stage: a model (or tier) and the candidates that serve it. */
export interface Stage {
  model: string;
  /** The request as this stage sends it (a degradation step may drop tools, images or JSON). */
  request: AiRequest;
  candidates: PlannedCandidate[];
  /** Recorded when the first candidate of this stage is tried (absent for the first stage). */
  degradation?: Degradation;
}

/** The whole plan of one request. */
export interface Plan {
  stages: Stage[];
  /** Degradation steps left out, and why (for the error when nothing answers). */
  skipped: SkippedStep[];
  /** Targets left out of the first stage, and why (for the error when no candidate exists). */
  excluded: RoutePlan['excluded'];
  /** The tier of the requested model (or the tier named), if any. */
  tier?: string;
  /** Whether the request may be degraded at all (model steps; the error says so when not). */
  degradationAllowed: boolean;
  /** A stream that breaks before its first token may be asked again buffered on the same target. */
  bufferedFallback: boolean;
  /**
   * A stream cut after tokens reached the client may be continued by the next candidate. Never
   * inside a tool call or a JSON answer, and not when the request forbids degradation.
   */
  continuable: boolean;
  /** Why a cut stream of this request is not continued (when it is not). */
  noContinuation?: string;
  /** The request's budget (ms from its start), when the snapshot carries one. */
  budgetMs?: number;
}

function plannedCandidates(request: AiRequest, snapshot: RoutingSnapshot, candidates: Candidate[]): PlannedCandidate[] {
  return candidates.map((c) => {
    const model = snapshot.targets.find((t) => t.id === c.target)?.models.find((m) => m.id === c.model);
    const canStream = model?.capabilities.streaming ?? true;
    const contextWindow = model?.capabilities.contextWindow ?? Number.MAX_SAFE_INTEGER;
    if (!request.stream) return { ...c, mode: 'buffered', contextWindow };
    return canStream ? { ...c, mode: 'stream', contextWindow } : { ...c, mode: 'buffered', modeSwitch: `${c.target} (${c.model}) does not stream`, contextWindow };
  });
}

/** The plan of `request` (already augmented with RAG passages) from `snapshot`. */
export function makePlan(request: AiRequest, snapshot: RoutingSnapshot, random: () => number = Math.random): Plan {
  const first = planRoute(request, snapshot, random);
  const stages: Stage[] = [{ model: request.model, request, candidates: plannedCandidates(request, snapshot, first.candidates) }];
  const { steps, skipped } = degradationSteps(request, snapshot);
  for (const step of steps) {
    const from = stages[stages.length - 1].model;
    stages.push({
      model: step.model,
      request: step.request,
      candidates: plannedCandidates(step.request, snapshot, planRoute(step.request, snapshot, random).candidates),
      degradation: modelDegradation(from, step, `every target of ${from} failed`),
    });
  }
  const allowDegradation = request.routing?.allowDegradation ?? snapshot.defaults.allowDegradation;
  const needs = needsOf(request);
  // #region guide:no-continuation
  // Continuing text inside a tool call's arguments or a JSON document cannot be made sound.
  const noContinuation = needs.tools
    ? 'a request with tools is never continued mid-answer'
    : needs.json
      ? 'a JSON answer is never continued mid-answer'
      : !allowDegradation
        ? 'the request forbids degradation (routing.allowDegradation: false)'
        : undefined;
  // #endregion guide:no-continuation
  const budgetMs = snapshot.policy.requestMs === undefined ? undefined : (request.routing?.latencySloMs ?? snapshot.policy.requestMs);
  return {
    stages,
    skipped,
    excluded: first.excluded,
    tier: snapshot.tiers[request.model] ? request.model : tierOf(request.model, snapshot.tiers),
    degradationAllowed: degradationAllowed(request, snapshot),
    bufferedFallback: request.stream === true && allowDegradation,
    continuable: request.stream === true && noContinuation === undefined,
    ...(request.stream && noContinuation ? { noContinuation } : {}),
    ...(budgetMs !== undefined ? { budgetMs } : {}),
  };
}

// #region guide:buffers-after
/** Whether a stream that failed before its first token with `type` may be asked again buffered. */
export function buffersAfter(plan: Plan, type: string): boolean {
  return plan.bufferedFallback && STREAMING_FAULTS.includes(type);
}
// #endregion guide:buffers-after

/** The identity of a (target, model) pair. */
export function pairKey(c: { target: string; model: string }): string {
  return `${c.target}/${c.model}`;
}
