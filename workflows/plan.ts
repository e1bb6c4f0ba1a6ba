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
  /** What this stage's request gave up (tools, vision, json); empty when it keeps the request whole. */
  dropped: string[];
  /** Recorded when the first candidate of this stage is tried (absent for the first stage). */
  degradation?: Degradation;
}

/** One try of the plan: a candidate of a stage. */
export interface Try {
  stage: Stage;
  candidate: PlannedCandidate;
}

/** The whole plan of one request. */
export interface Plan {
  stages: Stage[];
  /** Every candidate of every stage, in the order they are tried. */
  tries: Try[];
  /**
   * Set by {@link deferLastResort}: the last-resort candidates of the stages that keep the request
   * whole come after the healthy candidates of all those stages.
   */
  lastResortDeferred?: boolean;
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
    return canStream
      ? { ...c, mode: 'stream', contextWindow }
      : { ...c, mode: 'buffered', modeSwitch: `${c.target} (${c.model}) does not stream`, contextWindow };
  });
}

/** The plan of `request` (already augmented with RAG passages) from `snapshot`. */
export function makePlan(request: AiRequest, snapshot: RoutingSnapshot, random: () => number = Math.random): Plan {
  const first = planRoute(request, snapshot, random);
  const stages: Stage[] = [
    { model: request.model, request, candidates: plannedCandidates(request, snapshot, first.candidates), dropped: [] },
  ];
  const { steps, skipped } = degradationSteps(request, snapshot);
  for (const step of steps) {
    const from = stages[stages.length - 1].model;
    stages.push({
      model: step.model,
      request: step.request,
      candidates: plannedCandidates(step.request, snapshot, planRoute(step.request, snapshot, random).candidates),
      dropped: step.dropped,
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
    tries: stages.flatMap((stage) => stage.candidates.map((candidate) => ({ stage, candidate }))),
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

// #region guide:defer-last-resort
/**
 * The plan with its last resorts deferred, or undefined when that changes nothing. A candidate
 * behind an open breaker (or a failing probe, a 429 cool-down, a used-up quota) is called only
 * after the healthy candidates of every stage that keeps the request whole: the requested model's
 * equivalents, then each degradation step up to the first one that drops tools, images or JSON.
 * The steps that drop something still come after those last resorts: a sick model that can do
 * the whole request is worth a call before its tools are silently dropped. A request that may not
 * be degraded has one stage, so its last resorts stay where they are.
 */
export function deferLastResort(plan: Plan): Plan | undefined {
  const cut = plan.stages.findIndex((s, i) => i > 0 && s.dropped.length > 0);
  const whole = cut < 0 ? plan.stages.length : cut;
  const stages = plan.stages.map((stage, i): Stage => {
    const before = plan.stages[i - 1];
    const deferred = i > 0 && i < whole ? before.candidates.filter((c) => c.lastResort) : [];
    if (!stage.degradation || deferred.length === 0) return stage;
    const list = deferred.map((c) => `${c.target}/${c.model}: ${c.lastResort}`).join('; ');
    const head =
      deferred.length === before.candidates.length
        ? `every target of ${before.model} is unavailable`
        : `every available target of ${before.model} failed, the others are unavailable`;
    const why = `${head} (${list}); those are tried only if no lower model that keeps the request whole answers`;
    return { ...stage, degradation: modelDegradation(before.model, stage, why) };
  });
  const of = (from: number, to: number, pick: (c: PlannedCandidate) => boolean): Try[] =>
    stages.slice(from, to).flatMap((stage) => stage.candidates.filter(pick).map((candidate) => ({ stage, candidate })));
  const tries = [...of(0, whole, (c) => !c.lastResort), ...of(0, whole, (c) => !!c.lastResort), ...of(whole, stages.length, () => true)];
  const index = (t: Try) => `${stages.indexOf(t.stage)}:${pairKey(t.candidate)}`;
  const old = plan.tries.map((t) => `${plan.stages.indexOf(t.stage)}:${pairKey(t.candidate)}`);
  if (tries.every((t, i) => index(t) === old[i])) return undefined;
  return { ...plan, stages, tries, lastResortDeferred: true };
}
// #endregion guide:defer-last-resort

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
