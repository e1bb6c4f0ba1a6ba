/**
 * What a game-day run records: each client request as the load generator saw it, each call that
 * reached a provider (seen by the recorder between toxiproxy and the mock), breaker samples and
 * executed actions. Every time is in ms since the load started.
 */
import type { ActionName } from './schema';

/** Request kinds of the load. */
export const REQUEST_KINDS = ['chat', 'stream', 'job', 'tool', 'rag'] as const;
/** A request kind: plain chat, a stream, a long job, a tool call, a RAG question. */
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** One try of the answer's trace (`attempts` of the answer, the stream's last chunk or the job). */
export interface TraceAttempt {
  target: string;
  model: string;
  outcome: string;
  retries?: number;
}

/** One client request as the load generator saw it. */
export interface RequestRecord {
  id: number;
  kind: RequestKind;
  nonce: string;
  startedAt: number;
  endedAt?: number;
  /** Streams: first content token. */
  ttftMs?: number;
  ok: boolean;
  error?: {
    message: string;
    status?: number;
    code?: string;
    /** an error answer or error event, not a cut connection */ explicit: boolean;
  };
  /** Target and model that served the answer (from the x-stormproof-* headers or the body). */
  target?: string;
  model?: string;
  failovers?: number;
  /** Degradation kinds the answer declared (`x-stormproof-degraded`, or the answer's `degradations`). */
  degraded?: string;
  /** The answer's attempt trace, when it carried one (success or error). */
  attempts?: TraceAttempt[];
  /** RAG: the sources the answer named. */
  sources?: string[];
  /** The answer is whole: it ends with its nonce (a tool call: it calls the request's own tool, with JSON arguments). */
  complete: boolean;
  /** Ended normally (no error) with an incomplete answer: truncated but presented as complete. */
  truncated: boolean;
  /** Streams: `[DONE]` was received. */
  sawDone?: boolean;
  /** Jobs: 202 received, final status, and whether it never reached an outcome. */
  job?: { accepted: boolean; id?: string; status?: string; lost: boolean };
  /** Requests sent with an Idempotency-Key: the key, how many times it was sent, and each answer's job id. */
  idempotency?: { key: string; sends: number; jobIds: string[] };
}

/** One call that reached a provider (recorded between toxiproxy and the mock). */
export interface ProviderCall {
  target: string;
  at: number;
  endedAt?: number;
  route: string;
  /** The request's nonce, when the prompt (or the embedded text) carried one. */
  nonce?: string;
  /** The config's model id the call asked for (the provider's model name mapped back), when it named one. */
  model?: string;
  /** A health probe or synthetic probe call (not a client request). */
  probe: boolean;
  status?: number;
  retryAfterS?: number;
  /** The answer was written completely with a 2xx status. */
  completed: boolean;
}

/**
 * True when an answer ends with its nonce, the prompt's last word. Closing punctuation or quotes a
 * real model may add after it are ignored; a cut answer still lacks the nonce itself.
 */
export function endsWithNonce(text: string | null | undefined, nonce: string): boolean {
  return (text ?? '').replace(/[\s.,;:!?"'`)\]]+$/u, '').endsWith(nonce);
}

/** True for an embeddings call (RAG retrieval), as opposed to a chat call. */
export const isEmbeddingsCall = (c: Pick<ProviderCall, 'route'>): boolean => c.route.endsWith('/embeddings');

/** Every target's breaker state at one instant, and its models' breakers. */
export interface BreakerSample {
  at: number;
  states: Record<string, string>;
  /** Per-model breakers by `<target>/<model>` (models a breaker published in this run; absent in older reports). */
  models?: Record<string, string>;
}

/** One executed action. */
export interface ActionLog {
  at: number;
  /** When the action returned. */
  doneAt: number;
  action: ActionName | 'reset';
  label: string;
  phase: 'method' | 'rollback';
  ok: boolean;
  error?: string;
}

/** A fault's time span (for recovery and the chart). */
export interface FaultWindow {
  start: number;
  end: number;
  label: string;
}
