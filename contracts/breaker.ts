/**
 * Breaker workflow contract: settings, the signals workers and operators send, and what the
 * breaker publishes (its memo) for every worker's router. Pure; shared by workflows and clients.
 */
import type { BreakerState } from './routing';

/** Circuit-breaker settings of one target (all durations in ms). */
export interface BreakerSettings {
  /** Sliding time window over which rates are computed. */
  windowMs: number;
  /** Window resolution: outcomes are counted in buckets this long. */
  bucketMs: number;
  /** Calls needed in the window before the rate rules may trip. */
  minCalls: number;
  /** Failure share (0..1) that trips the breaker. */
  errorRateThreshold: number;
  /** A call slower than this counts as slow. */
  slowCallMs: number;
  /** Slow-call share (0..1) that trips the breaker. */
  slowCallRateThreshold: number;
  /**
   * A short window beside `windowMs`, so a new fault is not diluted by minutes of healthy history
   * (issue 11). Bucketed at min(bucketMs, fastWindowMs / 10). Its error and slow-call rates trip
   * with the same thresholds once it holds `minCalls`, compared by their 99% lower confidence
   * bound (Wilson, z = 2.58), so chance bursts in a small sample do not trip a healthy target.
   *
   * Bound, with n ≥ minCalls calls per fastWindowMs and F the worker flush interval:
   * - a fault that slows (or fails) every call trips within fastWindowMs + fastWindowMs / 10 + F,
   *   provided n / (n + 6.66) ≥ the threshold (n = 10 covers thresholds up to 0.6). A slow call
   *   counts slowCallMs after it starts (its in-flight notice). At the defaults and 40 req/s a
   *   brownout trips 6 s after calls turn slow. (Failing every call trips sooner, by the
   *   consecutive rule, at the first flush.)
   * - a fault failing a share r of the calls trips within the same time once
   *   r − 2.58·√(r(1−r)/n) ≳ the threshold: at the defaults 40% errors need ≥ 16 req/s (tripped
   *   after 9–10 s at 40 req/s), 50% ≥ 4.5 req/s. Below that, `windowMs` trips it as before.
   * Settings without it (recorded before it existed) keep the old rules: no fast window, and
   * batches' run fields ignored, so old histories replay. 0 turns the fast window off.
   */
  fastWindowMs?: number;
  /**
   * This many failures in a row trip at once, whatever the window says: runs inside a batch
   * (`maxFailureRun`) and runs across batches (`trailingFailures` then `leadingFailures`) count.
   */
  consecutiveFailures: number;
  /** First open period; doubles on each re-trip from half-open, up to maxCooldownMs. */
  cooldownMs: number;
  maxCooldownMs: number;
  /**
   * Half-open: known-answer calls per model a probe makes, all of which must pass (when the probe
   * decides), or successful trial calls needed to close (when trials decide).
   */
  halfOpenTrials: number;
  /** Run active health probes at all. */
  probes: boolean;
  /** Probe period while closed, and while open or half-open. */
  probeIntervalMs: number;
  probeOpenIntervalMs: number;
  /** Continue-as-new once history has this many events. */
  continueAsNewAfterEvents: number;
  /**
   * Half-open with no decision for this long ends (absent in inputs recorded before it: no
   * deadline): closed if trial calls succeeded and none failed, else back to open with the same
   * cooldown (the trip count does not grow: a lost trial is no evidence against the target).
   */
  halfOpenTimeoutMs?: number;
  /**
   * The breaker republishes its memo (a new `seq`) at least this often, so a process can tell a
   * breaker that stopped publishing from one with nothing new to say (see BreakerPublished.seq).
   */
  publishIntervalMs?: number;
  /**
   * What this target's probe can judge, set by the worker from the target's config: `model` (a
   * known-answer call of its models), `health` (its health endpoint only), `none`. With `model`
   * (and probes on) the probe alone decides half-open and no user request is a trial; otherwise
   * trial calls decide. Absent in inputs recorded before it: trial calls decide.
   */
  probeEvidence?: ProbeEvidence;
}

/** The question of a known-answer probe call; the model must repeat the nonce after it. */
export const PROBE_QUESTION = 'Reply with exactly this code and nothing else: ';

/** Whether a prompt is a probe's known-answer question (so drills can tell probes from users). */
export function isProbeQuestion(text: string): boolean {
  return /^Reply with exactly this code and nothing else: sp[0-9a-f]+$/.test(text.trim());
}

/** What a probe could judge: a model's answer, only a health endpoint, or nothing. */
export type ProbeEvidence = 'model' | 'health' | 'none';

/** Runs of failures in a row among one scope's calls (the target's, or one model's). */
export interface FailureRuns {
  /** Failures of this scope. */
  failures: number;
  /** Completed calls that succeeded (a success ends a run; other outcomes leave it as it is). */
  successes: number;
  trailingFailures: number;
  leadingFailures: number;
  maxFailureRun: number;
}

/** One model's outcomes in a batch: its completed calls and the runs of its model-scoped failures. */
export interface ModelCounts extends FailureRuns {
  calls: number;
}

/** Default of `BreakerSettings.fastWindowMs` (also given to breakers started before it existed, from their next run). */
export const DEFAULT_FAST_WINDOW_MS = 10_000;

/** Outcomes of one target seen by one worker during one flush interval. */
export interface OutcomeBatch {
  worker: string;
  /** Epoch ms of the first and last outcome in the batch. */
  from: number;
  to: number;
  calls: number;
  failures: number;
  slow: number;
  /** Failures in a row at the end of the batch (0 if the last call succeeded). */
  trailingFailures: number;
  /** Failures in a row at the start of the batch (absent from older workers: then unknown). */
  leadingFailures?: number;
  /** The longest run of failures in a row inside the batch (absent from older workers: then unknown). */
  maxFailureRun?: number;
  /** Failure counts by type, for the operator's eyes. */
  byType: Record<string, number>;
  /** Sum of call durations in ms (for the mean). */
  totalMs: number;
  /**
   * Completed calls that succeeded within the slow bound: half-open trial successes. With it, an
   * in-flight slow notice is no longer taken for a success that ends a run. Absent from older workers.
   */
  successes?: number;
  /** Runs of target-scoped failures (model-scoped ones leave them as they are). Absent from older workers. */
  targetRuns?: FailureRuns;
  /** Per model: completed calls and model-scoped failures. Absent from older workers. */
  byModel?: Record<string, ModelCounts>;
  /** Latest end (epoch ms) of a 429 cool-down seen in the batch, so every worker stays away. */
  coolDownUntil?: number;
}

/** One probe result: `ok` is the verdict on the target as a whole. */
export interface ProbeResult {
  at: number;
  ok: boolean;
  /** The judged latency: the slowest model's time to first token (streams) or answer. */
  latencyMs: number;
  error?: string;
  /**
   * What the verdict rests on (absent in results recorded before it). `none` never passes and
   * changes nothing; `health` alone cannot close a breaker (the model may still fail).
   */
  evidence?: ProbeEvidence;
  /** Known-answer calls, per model probed. */
  models?: ModelProbe[];
}

/** The known-answer calls of one model in one probe. */
export interface ModelProbe {
  model: string;
  ok: boolean;
  /** Calls made (all must pass). */
  calls: number;
  /** Slowest time to first token (streams) or to the answer. */
  latencyMs: number;
  error?: string;
}

/** What the breaker asks a probe to check. */
export interface ProbePlan {
  /** Models to call (absent: every model of the target when `allModels`, else its last one). */
  models?: string[];
  allModels?: boolean;
  /** Known-answer calls per model, all of which must pass. */
  calls: number;
  /** A first token (streams) or answer (buffered) later than this fails the call. */
  slowCallMs: number;
}

/** Operator override. */
export type BreakerAction = 'open' | 'close' | 'reset';

/** One recorded transition (of the target, or of one of its models). */
export interface BreakerTransition {
  at: number;
  from: BreakerState;
  to: BreakerState;
  reason: string;
  /** Order of the transition among all of this breaker's transitions (absent in runs recorded before it). */
  seq?: number;
  /** Trips after the transition. */
  trips?: number;
}

/** One model's breaker, as published (only models seen in traffic or probes). */
export interface ModelPublished {
  state: BreakerState;
  since: number;
  retryAt?: number;
  trips: number;
  /** Last known-answer probe of the model passed (true until one fails). */
  healthy: boolean;
  lastError?: string;
  consecutiveFailures: number;
  /** Recent transitions, newest last (bounded). */
  transitions: BreakerTransition[];
}

/** How a half-open breaker is being judged. */
export interface HalfOpenPublished {
  /** `probe`: the probe alone decides, no user request is a trial; `trials`: trial calls decide. */
  mode: 'probe' | 'trials';
  /** Successful trials that close it (trials mode). */
  trials: number;
  /** When half-open ends without a decision (see BreakerSettings.halfOpenTimeoutMs). */
  until?: number;
}

/** What the breaker publishes in its memo (and answers to the state query). */
export interface BreakerPublished {
  target: string;
  /**
   * Publication number, one up each time the memo is written (at least every publishIntervalMs);
   * absent from breakers running older rules. A process whose view has not moved on for long
   * treats the breaker as unknown (shared/breaker-view.ts).
   */
  seq?: number;
  /** Workflow-clock ms of this publication. */
  publishedAt?: number;
  /** Hash of the settings in force (shared/breakers.ts settingsHash); a worker with others sends its own. */
  settingsHash?: string;
  state: BreakerState;
  /** Set while an operator override holds the state. */
  forced?: 'open' | 'close';
  since: number;
  /** When an open breaker moves to half-open. */
  retryAt?: number;
  trips: number;
  window: { calls: number; failures: number; slow: number; errorRate: number; slowRate: number; meanMs: number };
  consecutiveFailures: number;
  probe: { healthy: boolean; lastAt?: number; lastError?: string; latencyEwmaMs?: number; p50Ms?: number; p95Ms?: number };
  /** Recent transitions, newest last (bounded). */
  transitions: BreakerTransition[];
  /** Set while half-open (and published by breakers running current rules). */
  halfOpen?: HalfOpenPublished;
  /** Workers that sent outcomes within the window: each grants its share of half-open trials. */
  workers?: number;
  /** A 429's Retry-After reported by any worker: every worker keeps new requests away until then. */
  coolDownUntil?: number;
  /** When that cool-down was last reported (a worker that cleared its cool-downs since ignores it). */
  coolDownSince?: number;
  /** Per-model breakers of the models seen (a one-model outage opens the model, not the target). */
  models?: Record<string, ModelPublished>;
}

/** Input of the breaker workflow; `carry` is the state handed over by continue-as-new. */
export interface BreakerWorkflowInput {
  target: string;
  settings: BreakerSettings;
  /** Hash of `settings`, published so workers can tell that theirs differ (absent from older workers). */
  settingsHash?: string;
  carry?: unknown;
}

/** New settings for a running breaker (the `settings` signal): applied at once, carried on continue-as-new. */
export interface BreakerSettingsUpdate {
  settings: BreakerSettings;
  hash: string;
}

export const BREAKER_WORKFLOW = 'breakerWorkflow';
export const OUTCOMES_SIGNAL = 'outcomes';
export const OVERRIDE_SIGNAL = 'override';
export const SETTINGS_SIGNAL = 'settings';
export const BREAKER_STATE_QUERY = 'breakerState';
export const BREAKER_MEMO_KEY = 'breaker';

/** Fixed workflow id of a target's breaker. */
export function breakerWorkflowId(target: string): string {
  return `breaker-${target}`;
}
