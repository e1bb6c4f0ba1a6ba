/**
 * Half-open trials, handed out by calls, not by routing snapshots: a request that never calls a
 * half-open target uses nothing. When the probe decides half-open (probes on, and they call the
 * target's models: the default), no user request is a trial at all: routers treat the target as
 * open (a last resort) until the probe closes it. Otherwise each worker lets through its share of
 * `halfOpenTrials` per half-open period, ⌈trials ÷ workers the breaker saw⌉, so all workers together
 * let through at most trials + workers − 1; a call beyond the share is refused at once
 * (ProviderUnavailable, non-retryable), and the workflow fails over without waiting.
 * A call to a target or model whose breaker is open (routed just before it tripped, or a Temporal
 * retry of such a try) is refused the same way, unless it is a last resort.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { breakerSettingsFor, type GatewayConfig } from '../config/schema';
import type { BreakerPublished } from '../contracts/breaker';
import { FailureType } from '../contracts/failures';
import type { BreakerState, ProviderCallInput } from '../contracts/routing';
import { breakerSettings } from '../shared/breakers';

export class TrialGate {
  /** Trials let through per half-open period, keyed by target or target/model (the period is its `since`). */
  private issued = new Map<string, { since: number; issued: number }>();

  constructor(private config: GatewayConfig) {}

  /** The config in force after a live reload (half-open trial counts are breaker settings). */
  setConfig(config: GatewayConfig): void {
    this.config = config;
  }

  /** Whether the probe alone decides this breaker's half-open (then no call is a trial). */
  probeDecides(target: string, view: BreakerPublished): boolean {
    if (view.halfOpen) return view.halfOpen.mode === 'probe';
    const s = breakerSettings(this.config, target);
    return s.probes && s.probeEvidence === 'model';
  }

  /** This worker's share of the trials of one half-open period. */
  share(target: string, view: BreakerPublished): number {
    const trials = view.halfOpen?.trials ?? breakerSettingsFor(this.config, target).halfOpenTrials;
    return Math.max(1, Math.ceil(trials / Math.max(1, view.workers ?? 1)));
  }

  private counter(key: string, since: number) {
    const t = this.issued.get(key);
    const cur = t && t.since === since ? t : { since, issued: 0 };
    this.issued.set(key, cur);
    return cur;
  }

  /**
   * How routers should see a breaker (the target's, or one model's): half-open only while this
   * worker still has a trial to give; reading it takes nothing.
   */
  routedState(target: string, model: string | undefined, state: BreakerState, view: BreakerPublished): BreakerState {
    if (state !== 'half-open') return state;
    if (this.probeDecides(target, view)) return 'open';
    const since = model ? view.models?.[model]?.since : view.since;
    if (since === undefined) return state;
    return this.counter(model ? `${target}/${model}` : target, since).issued < this.share(target, view) ? 'half-open' : 'open';
  }

  /**
   * At call time: takes a trial for a call to a half-open target (or model) decided by trials, or
   * refuses the call when this worker's share is spent. A call marked as a last resort always
   * goes (an open breaker lets those through too).
   */
  admit(input: Pick<ProviderCallInput, 'target' | 'model' | 'lastResort'>, view: BreakerPublished | undefined): void {
    if (!view) return;
    // A call routed before the breaker tripped (or a Temporal retry of one) does not go to an open
    // target or model: it is refused at once, so the workflow fails over (attempts on an open
    // breaker stay 0). A last resort goes, as the selector meant.
    const openOne =
      view.state === 'open' ? input.target : view.models?.[input.model]?.state === 'open' ? `${input.target} (${input.model})` : undefined;
    if (openOne && !input.lastResort) refuse(`the breaker of ${openOne} is open (it tripped after this request was routed); failing over`);
    if (this.probeDecides(input.target, view)) return;
    const gates: Array<{ key: string; since: number; what: string }> = [];
    if (view.state === 'half-open') gates.push({ key: input.target, since: view.since, what: `${input.target}` });
    const m = view.models?.[input.model];
    if (m?.state === 'half-open')
      gates.push({ key: `${input.target}/${input.model}`, since: m.since, what: `${input.target} (${input.model})` });
    const share = this.share(input.target, view);
    const counters = gates.map((g) => ({ ...g, c: this.counter(g.key, g.since) }));
    const spent = counters.find((g) => g.c.issued >= share);
    if (spent && !input.lastResort)
      refuse(`the breaker of ${spent.what} is half-open and this worker's ${share} trial call(s) for it are taken; failing over`);
    for (const g of counters) g.c.issued += 1;
  }
}

/** Refuses a call before it starts: non-retryable, so the workflow fails over without waiting. */
function refuse(message: string): never {
  let attempt = 1;
  try {
    attempt = Context.current().info.attempt;
  } catch {
    // Not inside an activity (unit tests).
  }
  throw ApplicationFailure.create({ type: FailureType.Unavailable, message, nonRetryable: true, details: [{ attempt }] });
}
