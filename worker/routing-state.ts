/**
 * The worker's live routing state: breaker decisions (from the breaker workflows), probe health,
 * observed latency, quotas and 429 cool-downs. It feeds the routing snapshot local activity and
 * receives every call outcome (batched to the breakers).
 */
import type { Client } from '@temporalio/client';
import type { CallHooks, CallOutcome } from '../activities';
import type { RoutingStateSource, TargetOverlay } from '../activities/routing';
import { breakerSettingsFor, type GatewayConfig } from '../config/schema';
import type { BreakerPublished } from '../contracts/breaker';
import { BREAKER_IGNORED, FailureType } from '../contracts/failures';
import type { BreakerState, ProviderCallInput } from '../contracts/routing';
import { BreakerView } from '../shared/breaker-view';
import { ensureBreakers, sendOutcomes, sendSettings, settingsHash, breakerSettings } from '../shared/breakers';
import { DEFAULT_429_COOLDOWN_S, OutcomeBatcher } from './outcome-batcher';
import { QuotaTracker } from './quota';
import { QuotaShareWatcher } from './quota-share';
import { TrialGate } from './trial-gate';
import type { TrafficView } from '../shared/traffic-view';

const LATENCY_ALPHA = 0.2;
/** A latency figure this process has not refreshed for this long gives way to the probe's. */
const LATENCY_FRESH_MS = 60_000;
/** A breaker running other settings is sent this process's at most this often (last writer wins). */
const SETTINGS_RESEND_MS = 10_000;
/** ensureBreakers at start-up: retried with backoff up to this delay until it succeeds. */
const START_RETRY_MAX_MS = 30_000;

export interface RoutingStateOptions {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  workerId: string;
  /** The worker's polling identity: with `routing.quotaShare: auto`, its share is 1 / the live workers. */
  identity?: string;
  onTransition?: (target: string, from: BreakerState | undefined, to: BreakerState, view: BreakerPublished) => void;
  /** Called after an outcome batch reached a target's breaker (stormproof_breaker_signals_total). */
  onBatchSent?: (target: string) => void;
  onError?: (err: unknown) => void;
  /** A breaker view turned unknown (see shared/breaker-view.ts). */
  onStale?: (target: string, ageMs: number, why: string) => void;
  /** The clock (tests pass their own). */
  now?: () => number;
}

interface Ewma {
  value: number;
  at: number;
}

function ewma(map: Map<string, Ewma>, key: string, x: number, now: number): void {
  const prev = map.get(key);
  map.set(key, { value: prev === undefined ? x : LATENCY_ALPHA * x + (1 - LATENCY_ALPHA) * prev.value, at: now });
}

const IGNORED = new Set<string>(BREAKER_IGNORED);

export class RoutingState implements RoutingStateSource, TrafficView {
  readonly view: BreakerView;
  readonly batcher: OutcomeBatcher;
  readonly quota: QuotaTracker;
  readonly trials: TrialGate;
  /** Re-counts the live workers (quotaShare `auto`); undefined with a fixed share. */
  readonly shareWatcher: QuotaShareWatcher | undefined;
  /** Non-streaming call latency and streams' time to first token: what hedging and the router compare. */
  private callLatency = new Map<string, Ewma>();
  private ttft = new Map<string, Ewma>();
  /** This process's own failures in a row per target: what routes it while its breaker view is unknown. */
  private localRun = new Map<string, number>();
  private settingsSentAt = new Map<string, number>();
  private hashes: Map<string, string>;
  private stopped = false;
  private readonly now: () => number;
  /** Resolves once the breakers were ensured (start-up keeps retrying in the background). */
  ready: Promise<void> = Promise.resolve();

  constructor(private opts: RoutingStateOptions) {
    const { client, config, taskQueue } = opts;
    this.now = opts.now ?? Date.now;
    const fixed = config.routing.quotaShare;
    // `auto` starts as if alone and takes its share at the first count (start()).
    this.quota = new QuotaTracker(config.targets, fixed === 'auto' ? 1 : fixed);
    this.shareWatcher =
      fixed === 'auto' && opts.identity
        ? new QuotaShareWatcher({
            client,
            namespace: config.temporal.namespace,
            taskQueue,
            identity: opts.identity,
            intervalMs: config.routing.quotaShareRefreshMs,
            apply: (share) => this.quota.setShare(share),
            onError: opts.onError,
          })
        : undefined;
    this.trials = new TrialGate(config);
    this.hashes = new Map(config.targets.map((t) => [t.id, settingsHash(breakerSettings(config, t.id))]));
    this.batcher = new OutcomeBatcher(
      opts.workerId,
      (t) => breakerSettingsFor(this.opts.config, t).slowCallMs,
      (target, batch) => sendOutcomes(client, this.opts.config, taskQueue, target, batch).then(() => opts.onBatchSent?.(target)),
      opts.onError,
    );
    this.view = new BreakerView(client, config, {
      onTransition: opts.onTransition,
      onError: opts.onError,
      onStale: opts.onStale,
      onMissing: () => void ensureBreakers(client, this.opts.config, taskQueue).catch(opts.onError),
      onRead: (target, view) => this.checkSettings(target, view),
    });
  }

  /**
   * Starts the timers at once (outcomes are flushed and breakers read from the first second, and
   * a missing breaker is created by the first batch's signal-with-start), then ensures the
   * breakers, retrying with backoff until that succeeds: a Temporal hiccup at start-up must not
   * leave this worker without breakers for its life.
   */
  async start(): Promise<void> {
    this.view.start(this.opts.config.routing.refreshIntervalMs);
    this.batcher.start(this.opts.config.routing.flushIntervalMs);
    const { client, taskQueue } = this.opts;
    const counted = this.shareWatcher?.start();
    this.ready = (async () => {
      await counted;
      for (let delay = 500; !this.stopped; delay = Math.min(START_RETRY_MAX_MS, delay * 2)) {
        try {
          await ensureBreakers(client, this.opts.config, taskQueue);
          await this.view.refresh();
          return;
        } catch (err) {
          this.opts.onError?.(err);
          await new Promise((r) => setTimeout(r, delay).unref());
        }
      }
    })();
    // The first attempt is awaited (callers log its outcome); later ones run on in the background.
    await Promise.race([this.ready, new Promise((r) => setTimeout(r, 2_000).unref())]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.view.stop();
    this.shareWatcher?.stop();
    await this.batcher.stop().catch(this.opts.onError);
  }

  /**
   * Takes a live config reload (config/live.ts): new limits, breaker settings and routing read
   * from now on; a breaker still running other settings is sent these at its next read.
   */
  applyConfig(config: GatewayConfig): void {
    this.opts = { ...this.opts, config };
    this.quota.setTargets(config.targets);
    this.trials.setConfig(config);
    this.view.setConfig(config);
    this.hashes = new Map(config.targets.map((t) => [t.id, settingsHash(breakerSettings(config, t.id))]));
    this.settingsSentAt.clear();
  }

  /** The config this routing state runs on. */
  get config(): GatewayConfig {
    return this.opts.config;
  }

  /** A breaker publishing other settings than this process's config gets this process's (rate-limited). */
  private checkSettings(target: string, view: BreakerPublished): void {
    const mine = this.hashes.get(target);
    // Only breakers that publish a hash run code that understands the settings signal.
    if (view.settingsHash === undefined || view.settingsHash === mine) return;
    const now = this.now();
    if (now - (this.settingsSentAt.get(target) ?? 0) < SETTINGS_RESEND_MS) return;
    this.settingsSentAt.set(target, now);
    sendSettings(this.opts.client, this.opts.config, target).catch((err: unknown) => this.opts.onError?.(err));
  }

  /** Every call outcome passes here. */
  record(o: CallOutcome): void {
    this.batcher.record(o);
    const now = this.now();
    if (o.outcome === 'ok' && !o.inFlight) {
      if (!o.streaming) ewma(this.callLatency, o.target, o.durationMs, now);
      else if (o.firstTokenMs !== undefined) ewma(this.ttft, o.target, o.firstTokenMs, now);
    }
    if (!o.inFlight && !IGNORED.has(o.outcome))
      this.localRun.set(o.target, o.outcome === 'ok' ? 0 : (this.localRun.get(o.target) ?? 0) + 1);
    if (o.outcome === FailureType.RateLimited) this.quota.coolDownFor(o.target, o.retryAfterS ?? DEFAULT_429_COOLDOWN_S);
  }

  readonly hooks: CallHooks = {
    onCallStart: (input, tokens) => {
      // A trial refused throws (ProviderUnavailable, non-retryable): the workflow fails over at once.
      this.trials.admit(input as ProviderCallInput, this.view.get(input.target));
      this.quota.take(input.target, tokens);
    },
    onCallEnd: (input, reserved, used) => this.quota.refund(input.target, reserved - (used ?? reserved)),
  };

  /** The breaker state routers see: the published one, or this process's own evidence when the view is unknown. */
  private breakerFor(target: string, view: BreakerPublished | undefined): BreakerState {
    if (view) return this.trials.routedState(target, undefined, view.state, view);
    const run = this.localRun.get(target) ?? 0;
    return run >= breakerSettingsFor(this.opts.config, target).consecutiveFailures ? 'open' : 'closed';
  }

  private fresh(map: Map<string, Ewma>, target: string): number | undefined {
    const e = map.get(target);
    return e && this.now() - e.at < LATENCY_FRESH_MS ? e.value : undefined;
  }

  overlay(target: string): TargetOverlay {
    const view = this.view.get(target);
    const callLatency = this.fresh(this.callLatency, target);
    const ttft = this.fresh(this.ttft, target);
    // Fresh local figures first (non-streaming calls; else first tokens); else the probe's.
    const latencyMs = callLatency ?? ttft ?? view?.probe.latencyEwmaMs;
    const coolDownUntil = this.coolDownUntil(target, view);
    const modelHealth = this.modelHealth(target, view);
    return {
      breaker: this.breakerFor(target, view),
      healthy: view?.probe.healthy ?? true,
      ...(latencyMs !== undefined ? { latencyMs: Math.round(latencyMs) } : {}),
      ...(callLatency !== undefined ? { callLatencyMs: Math.round(callLatency) } : {}),
      ...(ttft !== undefined ? { ttftMs: Math.round(ttft) } : {}),
      ...(coolDownUntil !== undefined ? { coolDownUntil } : {}),
      quota: this.quota.left(target),
      ...(modelHealth ? { modelHealth } : {}),
    };
  }

  /** This worker's 429 cool-down or one another worker reported through the breaker (unless cleared since), the later. */
  private coolDownUntil(target: string, view: BreakerPublished | undefined): number | undefined {
    const local = this.quota.coolDownUntil(target);
    const reported = view?.coolDownUntil !== undefined && (view.coolDownSince ?? Infinity) > this.quota.clearedAt;
    const shared = reported && view.coolDownUntil! > this.now() ? view.coolDownUntil : undefined;
    return local === undefined ? shared : shared === undefined ? local : Math.max(local, shared);
  }

  /** Per-model states that differ from "closed and healthy" (the selector skips only those models). */
  private modelHealth(target: string, view: BreakerPublished | undefined): TargetOverlay['modelHealth'] {
    const out: NonNullable<TargetOverlay['modelHealth']> = {};
    for (const [model, m] of Object.entries(view?.models ?? {})) {
      const breaker = this.trials.routedState(target, model, m.state, view!);
      if (breaker !== 'closed' || !m.healthy) out[model] = { breaker, healthy: m.healthy };
    }
    return Object.keys(out).length ? out : undefined;
  }

  /** For GET /v1/providers: the state without routing effects, and whether the view is unknown. */
  describe(target: string) {
    const view = this.view.get(target);
    const stale = this.view.staleness(target);
    const latency = this.fresh(this.callLatency, target) ?? this.fresh(this.ttft, target);
    return {
      view,
      stale,
      lastView: this.view.last(target),
      latencyMs: latency,
      coolDownUntil: this.coolDownUntil(target, view),
      quota: this.quota.left(target),
      quotaShare: this.quota.share,
    };
  }
}
