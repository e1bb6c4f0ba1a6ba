/**
 * Model degradation, pure: after the requested model and its equivalents failed, which lower
 * models may still answer, and what the request must give up for each (tools, vision, JSON).
 */
import type { AiRequest, Message } from '../contracts/request';
import type { Degradation } from '../contracts/response';
import type { ModelInfo, RoutingSnapshot } from '../contracts/routing';
import { capabilityGap, equivalentModels, needsOf, tierOf } from './selector';

/** One step down the chain: the model and the request as that model gets it. */
export interface DegradationStep {
  model: string;
  request: AiRequest;
  /** What was dropped to fit the model, e.g. ["tools"]. */
  dropped: string[];
}

/** A step that could not be taken, and why (for the error message). */
export interface SkippedStep {
  model: string;
  reason: string;
}

function modelInfo(snapshot: RoutingSnapshot, id: string): ModelInfo | undefined {
  for (const t of snapshot.targets) {
    const m = t.models.find((x) => x.id === id);
    if (m) return m;
  }
  return undefined;
}

function withoutImages(messages: Message[]): Message[] {
  return messages.map((m) =>
    Array.isArray(m.content)
      ? {
          ...m,
          content: m.content.map((p) =>
            p.type === 'image_url' ? { type: 'text' as const, text: '[image omitted: the answering model cannot see images]' } : p,
          ),
        }
      : m,
  );
}

/** The chain configured for `model` (or its tier); empty when none. */
export function chainFor(model: string, snapshot: RoutingSnapshot): string[] {
  const chains = snapshot.degradation?.chains ?? {};
  if (chains[model]) return chains[model];
  const tier = tierOf(model, snapshot.tiers);
  return tier && chains[tier] ? chains[tier] : [];
}

/** Whether this request may be degraded at all. */
export function degradationAllowed(request: AiRequest, snapshot: RoutingSnapshot): boolean {
  // A pinned model means "this model or nothing": no equivalent, and no lower model either.
  if (request.routing?.pinModel) return false;
  return request.routing?.allowDegradation ?? snapshot.defaults.allowDegradation;
}

/** The steps down the chain for `request`, skipping models that cannot serve it. */
export function degradationSteps(request: AiRequest, snapshot: RoutingSnapshot): { steps: DegradationStep[]; skipped: SkippedStep[] } {
  if (!degradationAllowed(request, snapshot)) return { steps: [], skipped: [] };
  const equivalents = new Set(equivalentModels(request.model, snapshot.tiers, request.routing?.pinModel));
  const allowDrop = new Set(request.routing?.allowDrop ?? []);
  const steps: DegradationStep[] = [];
  const skipped: SkippedStep[] = [];
  for (const model of chainFor(request.model, snapshot)) {
    if (equivalents.has(model)) continue;
    const info = modelInfo(snapshot, model);
    if (!info) continue;
    let req: AiRequest = { ...request, model, routing: { ...request.routing, pinModel: true } };
    const dropped: string[] = [];
    const needs = needsOf(req);
    const caps = info.capabilities;
    if (needs.tools && !caps.tools) {
      if (!allowDrop.has('tools')) {
        skipped.push({ model, reason: 'no tool support (allow with routing.allowDrop: ["tools"])' });
        continue;
      }
      const { tools: _tools, tool_choice: _choice, ...rest } = req;
      req = rest;
      dropped.push('tools');
    }
    if (needs.vision && !caps.vision) {
      if (!allowDrop.has('vision')) {
        skipped.push({ model, reason: 'no vision support (allow with routing.allowDrop: ["vision"])' });
        continue;
      }
      req = { ...req, messages: withoutImages(req.messages) };
      dropped.push('vision');
    }
    if (needs.json && !caps.json) {
      if (!allowDrop.has('json')) {
        skipped.push({ model, reason: 'no JSON mode (allow with routing.allowDrop: ["json"])' });
        continue;
      }
      const { response_format: _rf, ...rest } = req;
      req = rest;
      dropped.push('json');
    }
    const gap = capabilityGap(info, needsOf(req));
    if (gap) {
      skipped.push({ model, reason: gap });
      continue;
    }
    steps.push({ model, request: req, dropped });
  }
  return { steps, skipped };
}

/** The degradation record of moving from `from` to a step. */
export function modelDegradation(from: string, step: DegradationStep, why: string): Degradation {
  const dropped = step.dropped.length ? `; dropped ${step.dropped.join(', ')} (the model lacks them)` : '';
  return { kind: 'model', from, to: step.model, reason: `${why}${dropped}` };
}
