/**
 * Active health probe of one target: its health endpoint (if any), then known-answer calls of its
 * models: each call asks the model to repeat a random nonce and passes only if the answer holds it
 * in time. A passing health endpoint alone proves the server, not the model; a probe that can
 * judge nothing (no health URL, no synthetic call) never passes.
 */
import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { breakerSettingsFor, healthUrlFor, type GatewayConfig, type ModelConfig, type TargetConfig } from '../config/schema';
import { PROBE_QUESTION, type ModelProbe, type ProbePlan, type ProbeResult } from '../contracts/breaker';
import { FailureType } from '../contracts/failures';
import { ADAPTERS, classifyProviderError, type AdapterFactory, type ProviderAdapter } from './providers';
import type { ProbeActivities } from './types';

/** The health endpoint's own time limit. */
const HEALTH_TIMEOUT_MS = 5_000;
/** No probe runs past this, below the probe activity's 10 s start-to-close timeout. */
const PROBE_CAP_MS = 9_000;
/** Room for the nonce in any model's answer (the mocks echo the whole question back). */
const PROBE_MAX_TOKENS = 32;

/** The question of a known-answer call. */
export function knownAnswerQuestion(nonce: string): string {
  return `${PROBE_QUESTION}${nonce}`;
}

/** One model's verdict, plus whether its failure says something about the whole target. */
type ModelVerdict = ModelProbe & { targetWide?: boolean };

export interface ProbeDeps {
  config: GatewayConfig;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  adapters?: Partial<Record<TargetConfig['kind'], AdapterFactory>>;
  /** A fresh nonce per call (tests pass their own). */
  nonce?: () => string;
}

const describeError = (err: unknown) => {
  const e = err as { message?: string; cause?: { message?: string } };
  return `${e.message ?? String(err)}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
};

export function createProbeActivities(deps: ProbeDeps): ProbeActivities {
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const nonce = deps.nonce ?? (() => `sp${randomBytes(5).toString('hex')}`);
  const factories = { ...ADAPTERS, ...deps.adapters };
  const adapters = new Map<string, ProviderAdapter>();

  const adapterFor = (target: TargetConfig) => {
    let adapter = adapters.get(target.id);
    if (!adapter) {
      adapter = factories[target.kind](target, (target.apiKeyEnv && env[target.apiKeyEnv]) || 'mock-key');
      adapters.set(target.id, adapter);
    }
    return adapter;
  };

  // #region guide:known-answer
  /** One known-answer call: the answer must hold the nonce, its first token (or answer) must come within slowMs. */
  async function knownAnswer(
    target: TargetConfig,
    model: ModelConfig,
    slowMs: number,
    outer: AbortSignal,
    capMs: number,
  ): Promise<{ ok: boolean; latencyMs: number; error?: string; targetWide?: boolean }> {
    const code = nonce();
    const late = new AbortController();
    const signal = AbortSignal.any([outer, late.signal, AbortSignal.timeout(Math.max(1, Math.floor(capMs)))]);
    const request = {
      model: model.id,
      messages: [{ role: 'user' as const, content: knownAnswerQuestion(code) }],
      max_tokens: PROBE_MAX_TOKENS,
      temperature: 0,
    };
    const streams = model.capabilities.streaming;
    const t0 = performance.now();
    let firstMs: number | undefined;
    const timer = setTimeout(() => late.abort(), slowMs);
    try {
      const call = { target, model, request: { ...request, stream: streams }, signal };
      // A model that streams is probed streaming: a slow first token is what its users would wait for.
      const result = streams
        ? await adapterFor(target).stream(call, (d) => {
            if (d.content && firstMs === undefined) {
              firstMs = performance.now() - t0;
              clearTimeout(timer);
            }
          })
        : await adapterFor(target).complete(call);
      const latencyMs = firstMs ?? performance.now() - t0;
      if (!streams && latencyMs > slowMs)
        return { ok: false, latencyMs, error: `${model.id} answered after ${Math.round(latencyMs)} ms (> ${slowMs} ms)` };
      const content = result.message.content ?? '';
      if (!content.toLowerCase().includes(code.toLowerCase())) {
        return {
          ok: false,
          latencyMs,
          error: `${model.id} failed the known-answer check: asked to repeat ${code}, answered ${JSON.stringify(content.slice(0, 60))}`,
        };
      }
      return { ok: true, latencyMs };
    } catch (err) {
      const latencyMs = performance.now() - t0;
      if (late.signal.aborted && !outer.aborted)
        return { ok: false, latencyMs, error: `${model.id}: no ${streams ? 'first token' : 'answer'} within ${slowMs} ms` };
      const type = classifyProviderError(err, 1, 0).type;
      return {
        ok: false,
        latencyMs,
        error: `${model.id}: ${type ?? 'error'}: ${describeError(err)}`,
        targetWide: type === FailureType.Unavailable,
      };
    } finally {
      clearTimeout(timer);
    }
  }
  // #endregion guide:known-answer

  async function probeModel(
    target: TargetConfig,
    model: ModelConfig,
    calls: number,
    slowMs: number,
    signal: AbortSignal,
    capMs: number,
  ): Promise<ModelVerdict> {
    const runs = await Promise.all(Array.from({ length: calls }, () => knownAnswer(target, model, slowMs, signal, capMs)));
    const failed = runs.find((r) => !r.ok);
    return {
      model: model.id,
      ok: !failed,
      calls,
      latencyMs: Math.max(...runs.map((r) => r.latencyMs)),
      ...(failed ? { error: failed.error } : {}),
      ...(runs.some((r) => r.targetWide) ? { targetWide: true } : {}),
    };
  }

  function modelsOf(target: TargetConfig, plan: ProbePlan | undefined): ModelConfig[] {
    if (plan?.allModels) return target.models;
    const named = (plan?.models ?? []).map((id) => target.models.find((m) => m.id === id)).filter((m): m is ModelConfig => m !== undefined);
    return named.length ? named : [target.models[target.models.length - 1]];
  }

  return {
    async probeTarget(targetId: string, plan?: ProbePlan): Promise<ProbeResult> {
      const at = now();
      const t0 = performance.now();
      const target = deps.config.targets.find((t) => t.id === targetId);
      if (!target) return { at, ok: false, latencyMs: 0, error: `target ${targetId} is not configured in this worker` };
      const cancelled = Context.current().cancellationSignal;
      const health = healthUrlFor(target);
      if (health) {
        try {
          const res = await fetch(health, { signal: AbortSignal.any([cancelled, AbortSignal.timeout(HEALTH_TIMEOUT_MS)]) });
          await res.arrayBuffer();
          if (!res.ok)
            return {
              at,
              ok: false,
              latencyMs: performance.now() - t0,
              evidence: 'health',
              error: `health endpoint answered ${res.status}`,
            };
        } catch (err) {
          return { at, ok: false, latencyMs: performance.now() - t0, evidence: 'health', error: `health endpoint: ${describeError(err)}` };
        }
      }
      if (!target.syntheticProbe) {
        if (health) return { at, ok: true, latencyMs: performance.now() - t0, evidence: 'health' };
        return {
          at,
          ok: false,
          latencyMs: 0,
          evidence: 'none',
          error: 'nothing to probe: no health URL and syntheticProbe is off (unknown, never a pass)',
        };
      }
      const slowMs = plan?.slowCallMs ?? breakerSettingsFor(deps.config, target.id).slowCallMs;
      // The whole probe stays within PROBE_CAP_MS, health check included.
      const capMs = PROBE_CAP_MS - (performance.now() - t0);
      const verdicts = await Promise.all(
        modelsOf(target, plan).map((m) => probeModel(target, m, Math.max(1, plan?.calls ?? 1), slowMs, cancelled, capMs)),
      );
      const models: ModelProbe[] = verdicts.map(({ targetWide: _t, ...v }) => v);
      // The target fails on a connection-level failure, or when every model probed failed; one
      // model failing while another answers is that model's fault (ProbeResult.models says which).
      const wide = verdicts.find((v) => v.targetWide) ?? (verdicts.every((v) => !v.ok) ? verdicts[0] : undefined);
      const passing = verdicts.filter((v) => v.ok);
      return {
        at,
        ok: wide === undefined,
        latencyMs: passing.length ? Math.max(...passing.map((v) => v.latencyMs)) : performance.now() - t0,
        evidence: 'model',
        models,
        ...(wide ? { error: wide.error } : {}),
      };
    },
  };
}
