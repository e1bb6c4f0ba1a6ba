/**
 * Sampling the breakers during a run: each target's breaker and the per-model breakers beside it
 * (workflows/breaker-models.ts), so a one-model outage shows as `openai-us-east-1/gpt-4o` opening
 * while the target stays closed.
 */
import type { BreakerPublished } from '../../contracts/breaker';
import type { BreakerSample } from './records';

/** The name of a model's breaker in samples, transitions and reports: `<target>/<model>`. */
export const breakerKey = (target: string, model?: string): string => (model === undefined ? target : `${target}/${model}`);

/** The target of a breaker key (target ids hold no `/`; model ids may). */
export const targetOfKey = (key: string): string => key.split('/')[0];

/** A transition as a breaker recorded it (with its reason), ms since the load started. */
export interface RecordedTransition {
  target: string;
  at: number;
  from: string;
  to: string;
  reason: string;
}

/**
 * One sample. A model a breaker stopped publishing (a healthy, idle model is forgotten) after it
 * was seen in this run reads `closed`; while a target's view is unknown its models are left out.
 */
export function sampleOf(
  at: number,
  targets: string[],
  view: (target: string) => BreakerPublished | undefined,
  seen: Set<string>,
): BreakerSample {
  const states: Record<string, string> = {};
  const models: Record<string, string> = {};
  for (const t of targets) {
    const v = view(t);
    states[t] = v?.state ?? 'unknown';
    if (!v) continue;
    for (const [model, m] of Object.entries(v.models ?? {})) {
      const key = breakerKey(t, model);
      models[key] = m.state;
      seen.add(key);
    }
    for (const key of seen) if (targetOfKey(key) === t && !(key in models)) models[key] = 'closed';
  }
  return { at, states, models };
}

/**
 * Adds the transitions a view holds (the target's and each model's) to `into`, once each; `t0`
 * is the load's start (epoch ms). Read at every sample, so a model forgotten before the run ends
 * keeps its transitions in the report.
 */
export function collectTransitions(
  into: Map<string, RecordedTransition>,
  target: string,
  view: BreakerPublished | undefined,
  t0: number,
): void {
  if (!view) return;
  const add = (key: string, list: BreakerPublished['transitions']) => {
    for (const x of list) into.set(`${key} ${x.at} ${x.to}`, { target: key, at: x.at - t0, from: x.from, to: x.to, reason: x.reason });
  };
  add(target, view.transitions);
  for (const [model, m] of Object.entries(view.models ?? {})) add(breakerKey(target, model), m.transitions);
}
