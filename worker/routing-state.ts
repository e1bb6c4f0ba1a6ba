/**
 * The worker's live routing state: breaker decisions (from the breaker workflows), probe health,
 * observed latency, quotas and 429 cool-downs. It feeds the routing snapshot local activity and
 * receives every call outcome (batched to the breakers).
 */
import type { Client } from '@temporalio/client';
import type { CallHooks, CallOutcome } from '../activities';
import type { RoutingStateSource } from '../activities/routing';
import { breakerSettingsFor, type GatewayConfig } from '../config/schema';
import type { BreakerPublished } from '../contracts/breaker';
import { FailureType } from '../contracts/failures';
import type { BreakerState, TargetInfo } from '../contracts/routing';
import { BreakerView } from './breaker-view';
import { ensureBreakers, sendOutcomes } from './breakers';
import { OutcomeBatcher } from './outcome-batcher';
import { QuotaTracker } from './quota';

const LATENCY_ALPHA = 0.2;
/** A 429 without Retry-After keeps new requests away this long. */
const DEFAULT_COOLDOWN_S = 5;

export interface RoutingStateOptions {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  workerId: string;
  onTransition?: (target: string, from: BreakerState | undefined, to: BreakerState, view: BreakerPublished) => void;
  /** Called after an outcome batch reached a target's breaker (stormproof_breaker_signals_total). */
  onBatchSent?: (target: string) => void;
  onError?: (err: unknown) => void;
}

function ewma(map: Map<string, number>, key: string, x: number): void {
  const prev = map.get(key);
  map.set(key, prev === undefined ? x : LATENCY_ALPHA * x + (1 - LATENCY_ALPHA) * prev);
}

export class RoutingState implements RoutingStateSource {
  readonly view: BreakerView;
  readonly batcher: OutcomeBatcher;
  readonly quota: QuotaTracker;
  private latency = new Map<string, number>();
  /** Non-streaming call latency and streams' time to first token: what hedging compares with. */
  private callLatency = new Map<string, number>();
  private ttft = new Map<string, number>();
  /** Trial calls this worker has let through per half-open period (keyed by the period's start). */
  private trials = new Map<string, { since: number; issued: number }>();

  constructor(private readonly opts: RoutingStateOptions) {
    const { client, config, taskQueue } = opts;
    this.quota = new QuotaTracker(config.targets, config.routing.quotaShare);
    this.batcher = new OutcomeBatcher(
      opts.workerId,
      (t) => breakerSettingsFor(config, t).slowCallMs,
      (target, batch) => sendOutcomes(client, config, taskQueue, target, batch).then(() => opts.onBatchSent?.(target)),
      opts.onError,
    );
    this.view = new BreakerView(client, config, {
      onTransition: opts.onTransition,
      onError: opts.onError,
      onMissing: () => void ensureBreakers(client, config, taskQueue).catch(opts.onError),
    });
  }

  async start(): Promise<void> {
    await ensureBreakers(this.opts.client, this.opts.config, this.opts.taskQueue);
    await this.view.refresh();
    this.view.start(this.opts.config.routing.refreshIntervalMs);
    this.batcher.start(this.opts.config.routing.flushIntervalMs);
  }

  async stop(): Promise<void> {
    this.view.stop();
    await this.batcher.stop().catch(this.opts.onError);
  }

  /** Every call outcome passes here. */
  record(o: CallOutcome): void {
    this.batcher.record(o);
    if (o.outcome === 'ok' && !o.inFlight) {
      ewma(this.latency, o.target, o.durationMs);
      if (!o.streaming) ewma(this.callLatency, o.target, o.durationMs);
      else if (o.firstTokenMs !== undefined) ewma(this.ttft, o.target, o.firstTokenMs);
    }
    if (o.outcome === FailureType.RateLimited) this.quota.coolDownFor(o.target, o.retryAfterS ?? DEFAULT_COOLDOWN_S);
  }

  readonly hooks: CallHooks = {
    onCallStart: (input, tokens) => this.quota.take(input.target, tokens),
  };

  private breakerFor(target: string, view: BreakerPublished | undefined): BreakerState {
    if (!view) return 'closed';
    if (view.state !== 'half-open') return view.state;
    const limit = breakerSettingsFor(this.opts.config, target).halfOpenTrials;
    const t = this.trials.get(target);
    const cur = t && t.since === view.since ? t : { since: view.since, issued: 0 };
    if (cur.issued >= limit) return 'open';
    cur.issued += 1;
    this.trials.set(target, cur);
    return 'half-open';
  }

  overlay(target: string): Partial<Pick<TargetInfo, 'breaker' | 'healthy' | 'latencyMs' | 'callLatencyMs' | 'ttftMs' | 'coolDownUntil' | 'quota'>> {
    const view = this.view.get(target);
    const latencyMs = this.latency.get(target) ?? view?.probe.latencyEwmaMs;
    const coolDownUntil = this.quota.coolDownUntil(target);
    return {
      breaker: this.breakerFor(target, view),
      healthy: view?.probe.healthy ?? true,
      ...(latencyMs !== undefined ? { latencyMs: Math.round(latencyMs) } : {}),
      ...(this.callLatency.has(target) ? { callLatencyMs: Math.round(this.callLatency.get(target)!) } : {}),
      ...(this.ttft.has(target) ? { ttftMs: Math.round(this.ttft.get(target)!) } : {}),
      ...(coolDownUntil !== undefined ? { coolDownUntil } : {}),
      quota: this.quota.left(target),
    };
  }

  /** For GET /v1/providers: the overlay without consuming a half-open trial. */
  describe(target: string) {
    const view = this.view.get(target);
    return { view, latencyMs: this.latency.get(target), coolDownUntil: this.quota.coolDownUntil(target), quota: this.quota.left(target) };
  }
}
