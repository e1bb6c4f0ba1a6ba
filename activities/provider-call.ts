/**
 * The provider-call activities, built by a factory that takes their dependencies (config, the
 * adapter factories, where streamed chunks go), so tests and chaos drills can pass others.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { breakerSettingsFor, type GatewayConfig, type ModelConfig, type TargetConfig } from '../config/schema';
import { FailureType } from '../contracts/failures';
import type { StreamEvent } from '../contracts/streaming';
import type { HedgeReport, ProviderCallInput, ProviderCallResult, ProviderFailureDetails } from '../contracts/routing';
import { ADAPTERS, classifyProviderError, withDetails, type AdapterFactory, type ProviderAdapter } from './providers';
import type { ProviderActivities } from './types';
import { publishAnswer } from './answer';
import { abortedOrAfter, CANCEL_WAIT_MS, type LocalCancels } from './local-cancels';
import { answerProblem } from './answer-quality';
import { continuationMode, continuationRequest, Seam } from './continuation';
import { streamCall } from './stream-call';

/**
 * Where streamed events go as they arrive (the API process serving the client): per attempt a
 * `start`, the `delta`s, an `end`. `route.streamTo` names the waiting API when it runs elsewhere.
 * Publishing never throws and never blocks the provider stream.
 */
export interface StreamSink {
  publish(jobId: string, event: StreamEvent, route: { streamTo?: string }): void;
  /**
   * The text the job's client has received so far, when an API that serves it can be asked
   * (undefined otherwise). Asking stops that API from relaying the try it was relaying, so a
   * retry of a lost call continues from exactly this text.
   */
  delivered?(jobId: string, route: { streamTo?: string }): Promise<string | undefined>;
}

/** Outcome of one provider call, for metrics and the breakers. */
export interface CallOutcome {
  target: string;
  model: string;
  /** "ok", a failure type, "cancelled", or "slow" for an in-flight call past the slow bound. */
  outcome: string;
  durationMs: number;
  streaming: boolean;
  /** true on the early notice of a call still running past the slow-call bound. */
  inFlight?: boolean;
  /** true on completion of a call already reported slow while in flight. */
  slowReported?: boolean;
  /** Retry-After of a 429, in seconds. */
  retryAfterS?: number;
  /** Streams: time to the first token (what the slow-call rule judges), when one came. */
  firstTokenMs?: number;
}

/** Hooks the worker's routing state provides to the activities. */
export interface CallHooks {
  /** Called when a call starts (quota accounting, failover metrics). */
  onCallStart?: (input: ProviderCallInput, estimatedTokens: number) => void;
  /** Called when it ends: what it reserved and what it used (undefined: no usage reported). */
  onCallEnd?: (input: ProviderCallInput, estimatedTokens: number, usedTokens: number | undefined) => void;
}

export interface ProviderActivityDeps {
  config: GatewayConfig;
  env?: NodeJS.ProcessEnv;
  adapters?: Partial<Record<TargetConfig['kind'], AdapterFactory>>;
  streamSink?: StreamSink;
  onOutcome?: (o: CallOutcome) => void;
  hooks?: CallHooks;
  /** Cancels this process's API announces before Temporal delivers them (see local-cancels.ts). */
  localCancels?: LocalCancels;
}

/** Rough token count of a request (chars / 4 plus the answer budget), for quotas and cost. */
export function estimateTokens(input: ProviderCallInput['request']): number {
  const chars = JSON.stringify(input.messages).length;
  return Math.ceil(chars / 4) + (input.max_tokens ?? input.max_completion_tokens ?? 256);
}

/** Key used for mock targets when their apiKeyEnv is unset. */
const MOCK_KEY = 'mock-key';

/**
 * The request as the provider gets it: for a continuation, the answer so far in the form the
 * target's API supports (a prefill, or a continuation instruction; see continuation.ts).
 */
export function requestFor(input: ProviderCallInput, kind: TargetConfig['kind']): ProviderCallInput['request'] {
  if (!input.continuation) return input.request;
  return continuationRequest(input.request, input.continuation.text, continuationMode(kind));
}

/**
 * Why an answer that came back with a 200 is useless, if it is (answer-quality.ts). Such answers
 * fail over like errors, and count against the target.
 */
export function badAnswer(result: ProviderCallResult, request: ProviderCallInput['request'], before = ''): string | undefined {
  return answerProblem(result, request, before);
}

/** A continuation's buffered answer, joined at the seam to the text the client has. */
function joinContinuation(input: ProviderCallInput, kind: TargetConfig['kind'], result: ProviderCallResult): ProviderCallResult {
  if (!input.continuation || result.message.content === null) return result;
  const seam = new Seam(input.continuation.text, continuationMode(kind));
  const content = seam.push(result.message.content) + seam.end();
  if (seam.failure)
    throw ApplicationFailure.create({
      type: FailureType.BadAnswer,
      message: `${result.target} (${result.model}): ${seam.failure}`,
      nonRetryable: true,
      details: [{ attempt: 0 }],
    });
  return { ...result, message: { ...result.message, content } };
}

/** Creates `callProvider` and `streamProvider`. */
export function createProviderActivities(deps: ProviderActivityDeps): ProviderActivities {
  const env = deps.env ?? process.env;
  const factories = { ...ADAPTERS, ...deps.adapters };
  const adapters = new Map<string, ProviderAdapter>();

  function resolve(input: ProviderCallInput): { target: TargetConfig; model: ModelConfig; adapter: ProviderAdapter } {
    const target = deps.config.targets.find((t) => t.id === input.target);
    const model = target?.models.find((m) => m.id === input.model);
    if (!target || !model) {
      throw ApplicationFailure.create({
        type: FailureType.NotFound,
        message: `target "${input.target}" with model "${input.model}" is not configured in this worker`,
        nonRetryable: true,
        details: [{ attempt: 1 }],
      });
    }
    let adapter = adapters.get(target.id);
    if (!adapter) {
      const key = (target.apiKeyEnv && env[target.apiKeyEnv]) || (target.mock || !target.apiKeyEnv ? MOCK_KEY : '');
      if (!key)
        throw ApplicationFailure.create({
          type: FailureType.Auth,
          message: `environment variable ${target.apiKeyEnv} is not set in the worker`,
          nonRetryable: true,
          details: [{ attempt: 1 }],
        });
      adapter = factories[target.kind](target, key);
      adapters.set(target.id, adapter);
    }
    return { target, model, adapter };
  }

  async function run(
    input: ProviderCallInput,
    streaming: boolean,
    body: (a: ProviderAdapter, t: TargetConfig, m: ModelConfig, signal: AbortSignal, firstToken: () => void) => Promise<ProviderCallResult>,
    signal?: AbortSignal,
    /** Aborted when this call lost a hedge: reported as a (slow) cancellation, not a fault. */
    lost?: AbortSignal,
    /** Aborted when a stream went silent: reported as a stall (the target's fault), not by the SDK's abort error. */
    stalled?: AbortSignal,
  ): Promise<ProviderCallResult> {
    const ctx = Context.current();
    const { target, model, adapter } = resolve(input);
    const started = performance.now();
    const reserved = estimateTokens(input.request);
    deps.hooks?.onCallStart?.(input, reserved);
    let used: number | undefined;
    // A call past the slow bound (or the hedge delay, when the workflow hedges) is reported at
    // once, so a latency brownout trips the breaker while calls still hang.
    const slowMs = Math.min(breakerSettingsFor(deps.config, target.id).slowCallMs, input.slowAfterMs ?? Infinity);
    let slowReported = false;
    const noticeSlow = () => {
      slowReported = true;
      deps.onOutcome?.({ target: target.id, model: model.id, outcome: 'slow', durationMs: slowMs, streaming, inFlight: true });
    };
    const slowTimer = setTimeout(noticeSlow, slowMs);
    // This try's own time limit: a timeout is the provider's fault (reported and failed over),
    // never confused with a cancellation. Temporal's timeout is only a backstop above it.
    const limitMs = streaming ? undefined : (input.timeoutMs ?? deps.config.timeouts.callMs);
    const expired = new AbortController();
    const limitTimer = limitMs === undefined ? undefined : setTimeout(() => expired.abort(), limitMs);
    let firstTokenMs: number | undefined;
    // A stream's first token ends the slow watch: after it, the answer's length is not slowness.
    const firstToken = () => {
      if (firstTokenMs !== undefined) return;
      firstTokenMs = performance.now() - started;
      clearTimeout(slowTimer);
    };
    const report = (outcome: string, retryAfterS?: number) => {
      clearTimeout(slowTimer);
      clearTimeout(limitTimer);
      // A failed call generated nothing we know of: its answer budget goes back, the prompt does not.
      deps.hooks?.onCallEnd?.(input, reserved, used ?? reserved - (input.request.max_tokens ?? input.request.max_completion_tokens ?? 0));
      const durationMs = performance.now() - started;
      deps.onOutcome?.({
        target: target.id,
        model: model.id,
        outcome,
        durationMs,
        streaming,
        slowReported,
        retryAfterS,
        ...(streaming ? { firstTokenMs: firstTokenMs ?? durationMs } : {}),
      });
    };
    try {
      const signals = [signal ?? ctx.cancellationSignal, expired.signal, ...(lost ? [lost] : [])];
      const result = await body(adapter, target, model, AbortSignal.any(signals), firstToken);
      used = result.usage ? result.usage.prompt_tokens + result.usage.completion_tokens : undefined;
      const bad = badAnswer(result, input.request, input.continuation?.text);
      if (bad) {
        throw ApplicationFailure.create({
          type: FailureType.BadAnswer,
          message: `${target.id} (${model.id}): ${bad}`,
          nonRetryable: true,
          details: [{ attempt: ctx.info.attempt }],
        });
      }
      report('ok');
      return result;
    } catch (err) {
      if (expired.signal.aborted && !ctx.cancellationSignal.aborted) {
        report(FailureType.Timeout);
        throw ApplicationFailure.create({
          type: FailureType.Timeout,
          message: `${target.id} (${model.id}) sent no answer within ${limitMs} ms`,
          nonRetryable: true,
          details: [{ attempt: ctx.info.attempt }],
        });
      }
      if (ctx.cancellationSignal.aborted || lost?.aborted) {
        // A call cancelled because a hedge answered first was slow by the hedge's measure, even
        // if the cancel beat the slow timer by a few ms.
        if (!slowReported && input.slowAfterMs !== undefined && performance.now() - started >= input.slowAfterMs / 2) noticeSlow();
        // Report a cancellation as one, so the workflow does not take it for a provider fault.
        report('cancelled');
        throw new CancelledFailure(`provider call to ${target.id} cancelled`);
      }
      if (stalled?.aborted) {
        report(FailureType.Stalled);
        throw err;
      }
      const failure =
        err instanceof ApplicationFailure
          ? withDetails(err, { attempt: ctx.info.attempt })
          : classifyProviderError(err, ctx.info.attempt, deps.config.retry.maxRetryAfterS);
      report(failure.type ?? 'Error', (failure.details?.[0] as ProviderFailureDetails | undefined)?.retryAfterS);
      throw failure;
    }
  }

  const complete = (input: ProviderCallInput, lost?: AbortSignal) =>
    run(
      input,
      false,
      async (adapter, target, model, signal) =>
        joinContinuation(input, target.kind, await adapter.complete({ target, model, request: requestFor(input, target.kind), signal })),
      undefined,
      lost,
    );

  /**
   * A hedged call, all inside this one activity (no extra Temporal round trip when the first
   * call is quick): after `hedge.afterMs` the second target is called beside the first; the first
   * good answer wins and the other call is aborted. Both sides are reported to the breakers.
   */
  async function hedgedComplete(
    input: ProviderCallInput & { hedge: NonNullable<ProviderCallInput['hedge']> },
  ): Promise<ProviderCallResult> {
    const { hedge, ...rest } = input;
    const abortFirst = new AbortController();
    const abortSecond = new AbortController();
    type Settled = { ok: true; value: ProviderCallResult } | { ok: false; error: unknown };
    const settle = (p: Promise<ProviderCallResult>): Promise<Settled> =>
      p.then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
    const t0 = performance.now();
    const first = settle(complete({ ...rest, slowAfterMs: hedge.afterMs }, abortFirst.signal));
    let timer: NodeJS.Timeout | undefined;
    const due = new Promise<'hedge'>((r) => (timer = setTimeout(() => r('hedge'), hedge.afterMs)));
    const early = await Promise.race([first, due]);
    if (early !== 'hedge') {
      clearTimeout(timer);
      if (early.ok) return early.value;
      throw early.error;
    }
    const started = [t0, performance.now()];
    const secondInput: ProviderCallInput = {
      ...rest,
      target: hedge.target,
      model: hedge.model,
      failoverFrom: { target: input.target, reason: 'slow' },
    };
    const second = settle(complete(secondInput, abortSecond.signal));
    const pair = [
      { target: input.target, model: input.model },
      { target: hedge.target, model: hedge.model },
    ];
    const report = (s: Settled, i: number, outcome?: string): HedgeReport => {
      const e = s.ok ? undefined : s.error;
      return {
        ...pair[i],
        outcome: outcome ?? (e instanceof ApplicationFailure ? (e.type ?? 'Error') : 'Error'),
        ...(e instanceof Error ? { error: e.message } : {}),
        durationMs: performance.now() - started[i],
      };
    };
    const winner = await Promise.race([first.then((s) => ({ s, i: 0 })), second.then((s) => ({ s, i: 1 }))]);
    const otherIndex = 1 - winner.i;
    if (winner.s.ok) {
      (otherIndex === 0 ? abortFirst : abortSecond).abort();
      return { ...winner.s.value, hedge: report(winner.s, otherIndex, 'Hedged') };
    }
    const other = await (otherIndex === 0 ? first : second);
    if (other.ok) return { ...other.value, hedge: report(winner.s, winner.i) };
    if (Context.current().cancellationSignal.aborted) throw winner.s.error;
    // Both failed: the first call's failure, carrying the second's, and no retry of the pair.
    const [a, b] = winner.i === 0 ? [winner.s, other] : [other, winner.s];
    const err = a.ok ? undefined : a.error;
    const base =
      err instanceof ApplicationFailure
        ? err
        : classifyProviderError(err, Context.current().info.attempt, deps.config.retry.maxRetryAfterS);
    throw withDetails(base, { hedge: report(b, 1) }, true);
  }

  return {
    async callProvider(input) {
      const ctx = Context.current();
      // Run as a regular activity (a long call): heartbeat, so a dead worker is noticed and a cancel arrives.
      const beat = ctx.info.isLocal
        ? undefined
        : setInterval(() => ctx.heartbeat(), Math.max(200, Math.floor(deps.config.timeouts.heartbeatMs / 3)));
      // Run as a local activity: a cancel from this process's API aborts the HTTP call at once.
      const watched = ctx.info.isLocal ? deps.localCancels?.watch(input.jobId) : undefined;
      try {
        const result = input.hedge ? await hedgedComplete({ ...input, hedge: input.hedge }) : await complete(input, watched?.signal);
        return publishAnswer(deps.streamSink, input, result, ctx.info.attempt);
      } catch (err) {
        if (!watched?.signal.aborted) throw err;
        // Ended as cancelled once Temporal's cancellation arrives (at the task's next heartbeat).
        await abortedOrAfter(ctx.cancellationSignal, CANCEL_WAIT_MS);
        throw new CancelledFailure(`provider call to ${input.target} cancelled`);
      } finally {
        clearInterval(beat);
        watched?.release();
      }
    },

    async streamProvider(input) {
      const kindOf = (i: ProviderCallInput) => deps.config.targets.find((t) => t.id === i.target)?.kind ?? 'openai';
      return streamCall(input, {
        streamIdleMs: deps.config.timeouts.streamIdleMs,
        heartbeatMs: deps.config.timeouts.heartbeatMs,
        streamSink: deps.streamSink,
        kindOf,
        run,
      });
    },
  };
}
