/**
 * The routing snapshot: everything the selector needs to rank targets for one request. It is
 * read through a local activity so the decision is recorded in history and replays the same way.
 */
import type { Strategy } from './request';

/** A model as the router sees it. */
export interface ModelInfo {
  id: string;
  capabilities: { tools: boolean; vision: boolean; json: boolean; streaming: boolean; contextWindow: number };
  pricePerMTok: { input: number; output: number };
}

/** Breaker position of a target. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** A target as the router sees it: public facts plus live health. No secrets. */
export interface TargetInfo {
  id: string;
  kind: 'openai' | 'anthropic' | 'openai-compatible';
  region: string;
  priority: number;
  weight: number;
  models: ModelInfo[];
  breaker: BreakerState;
  healthy: boolean;
  /** Observed latency (EWMA), when known. */
  latencyMs?: number;
  /** Observed latency of non-streaming calls and time to first token of streams (EWMAs), for hedging. */
  callLatencyMs?: number;
  ttftMs?: number;
  /** Epoch ms until which the target asked us to stay away (429 Retry-After). */
  coolDownUntil?: number;
  /** What this worker's share of the target's rate limits has left right now. */
  quota?: { requests?: number; tokens?: number };
  /**
   * Models of this target whose own breaker is not closed or whose known-answer probe fails (a
   * one-model outage): the selector tries only those models last. Absent: every model as the target.
   */
  modelHealth?: Record<string, { breaker: BreakerState; healthy: boolean }>;
}

/** Timeouts and retry policy in force, copied from the config. */
export interface CallPolicy {
  callMs: number;
  /** Budget of a whole request (absent in snapshots recorded before request deadlines). */
  requestMs?: number;
  /**
   * Hedging of non-streaming calls (absent in older snapshots: no hedging). `afterMs` fixes the
   * delay (0: never); without it the delay is `latencyMultiple` × the target's latency, clamped.
   */
  hedge?: { afterMs?: number; minMs: number; maxMs: number; latencyMultiple: number };
  streamMs: number;
  streamIdleMs: number;
  heartbeatMs: number;
  /**
   * A buffered call to a target whose calls are known to take longer than this runs as a regular
   * activity (no workflow task held open, none repeated by a task timeout); shorter or unknown
   * ones as a local activity (cheaper). Absent in older snapshots: every buffered call is local.
   */
  localCallMaxMs?: number;
  retry: { maxAttempts: number; initialIntervalMs: number; backoffCoefficient: number; maxIntervalMs: number; maxRetryAfterS: number };
}

/** One routing snapshot. */
export interface RoutingSnapshot {
  targets: TargetInfo[];
  tiers: Record<string, string[]>;
  defaults: { strategy: Strategy; allowDegradation: boolean };
  /** Model degradation chains, per model or tier. */
  degradation?: { chains: Record<string, string[]> };
  /** Retrieval settings the workflow needs (absent in snapshots recorded before RAG existed). */
  rag?: { defaultTopK: number; vectorBudgetMs: number };
  policy: CallPolicy;
  /** Epoch ms when the snapshot was taken. */
  takenAt: number;
}

/** One ranked choice: call `model` on `target`. */
export interface Candidate {
  target: string;
  model: string;
  /** Why it is in the list: the requested model, or an equivalent of its tier. */
  reason: 'requested' | 'equivalent';
  /** Set when the target is only tried because nothing better is left (e.g. "breaker open"). */
  lastResort?: string;
}

/**
 * What a provider call needs to answer the waiting client itself, the moment the provider's answer
 * exists (the request's trace so far; see workflows/answer.ts): the workflow then records the
 * same answer, computed by the same function from the same data.
 */
export interface AnswerContext {
  /** Epoch ms (workflow clock) when this attempt began: the answer's duration counts from it. */
  startedAt: number;
  /** The trace before this attempt's outcome (workflows/trace.ts `state()`). */
  trace: {
    attempts: import('./response').Attempt[];
    degradations: import('./response').Degradation[];
    switches: import('./response').Switch[];
    at?: { target: string; model: string };
    leaving?: string;
  };
  /** RAG: the sources the answer lists. */
  sources?: string[];
}

/** Input of one provider call (an activity). The worker resolves the target's URL and key. */
export interface ProviderCallInput {
  target: string;
  model: string;
  request: import('./request').AiRequest;
  /** The request's job id, so streamed chunks can be routed to whoever waits for them. */
  jobId: string;
  /** Where streamed chunks go when the waiting API runs in another process (see RequestWorkflowInput). */
  streamTo?: string;
  /** Set when this call is a failover: the target it moves away from and why. */
  failoverFrom?: { target: string; reason: string };
  /** Set when the candidate is only tried because nothing better is left (Candidate.lastResort): no half-open trial budget refuses it. */
  lastResort?: string;
  /** Mid-stream failover: the answer so far, already sent to the client; the target continues it. */
  continuation?: { text: string };
  /** This try's time limit (what is left of the request's budget, at most callMs). */
  timeoutMs?: number;
  /** Report the call slow to the breaker once it runs this long (the hedge delay). */
  slowAfterMs?: number;
  /** Streams: no first token within this long is a stall (fail over); default streamIdleMs. */
  firstTokenMs?: number;
  /**
   * Hedging (non-streaming): when this call has not answered after `afterMs`, the worker calls
   * `target`/`model` beside it and keeps the first good answer, aborting the other call.
   */
  hedge?: { target: string; model: string; afterMs: number };
  /** Publish the request's answer to its waiting client as soon as this call has it (see AnswerContext). */
  answerTo?: AnswerContext;
}

/** What became of the other call of a hedged pair (see ProviderCallInput.hedge). */
export interface HedgeReport {
  target: string;
  model: string;
  /** "Hedged" (aborted: the other answered first) or the failure type it ended with. */
  outcome: string;
  error?: string;
  durationMs: number;
}

/** What a provider call returns: the answer without the trace. */
export interface ProviderCallResult {
  target: string;
  model: string;
  message: { role: 'assistant'; content: string | null; tool_calls?: import('./request').ToolCall[] };
  finishReason: 'stop' | 'length' | 'tool_calls' | 'content_filter';
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** Provider's own answer id. */
  providerId?: string;
  /** Set when a hedge was started: the other call of the pair. */
  hedge?: HedgeReport;
  /**
   * Epoch ms (worker clock) when the answer was complete and published to the waiting client
   * (calls with `answerTo`): the attempt's duration is `answeredAt − answerTo.startedAt`.
   */
  answeredAt?: number;
}

/** Details an adapter attaches to a provider failure (first element of `details`). */
export interface ProviderFailureDetails {
  attempt: number;
  status?: number;
  retryAfterS?: number;
  /** Streaming only: chunks received before the failure, and their text. */
  chunks?: number;
  partialText?: string;
  /** A hedged pair that failed on both sides: how the hedge call failed. */
  hedge?: HedgeReport;
}
