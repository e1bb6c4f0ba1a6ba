/**
 * Fault state for the mock LLM providers: schema, validation and the
 * deterministic decision logic (error accumulator, seeded jitter).
 */
import { z } from 'zod';

/**
 * Fault set accepted by `PUT /__faults` and `MockProvider.setFaults()`.
 * Every key is optional; unknown keys are rejected (strict object).
 */
export const FaultsSchema = z.strictObject({
  /** Reset every connection (TCP RST) instead of answering, /health included. */
  down: z.boolean().optional(),
  /** Fraction of provider calls answered with an injected error (deterministic). */
  errorRate: z.number().min(0).max(1).optional(),
  /** HTTP status of injected errors (default 500, or 429 when retryAfterS is set). */
  errorStatus: z.number().int().min(400).max(599).optional(),
  /** Adds `Retry-After: <n>` to injected error responses. */
  retryAfterS: z.number().int().min(0).optional(),
  /** Delay before answering provider calls. */
  latencyMs: z.number().int().min(0).optional(),
  /** Extra deterministic pseudo-random delay in [0, jitterMs). */
  jitterMs: z.number().int().min(0).optional(),
  /** Streaming only: write this many SSE events, then hang until the client leaves. */
  stallAfterChunks: z.number().int().min(0).optional(),
  /** Streaming only: after the first event send invalid JSON and end without a terminator. */
  malformed: z.boolean().optional(),
  /** Streaming only: after the role chunk / message_start and n content events send invalid JSON and close. */
  malformedAfterChunks: z.number().int().min(0).optional(),
  /** Streaming only: delay before the first content event (headers and role chunk / message_start go at once). */
  ttftMs: z.number().int().min(0).optional(),
  /** Streaming only: close the stream cleanly without the terminator (`data: [DONE]` / `message_stop`). */
  omitDone: z.boolean().optional(),
  /** Answer 400 with the provider's real context-length error. */
  contextLength: z.boolean().optional(),
  /** Answer 200 filtered: finish_reason "content_filter" (OpenAI) / stop_reason "refusal" (Anthropic), no content. */
  contentFilter: z.boolean().optional(),
  /** Answer 200 with empty content, no tool calls, finish_reason "stop" / stop_reason "end_turn". */
  emptyAnswers: z.boolean().optional(),
  /** Answer 200 with deterministic nonsense content (never valid JSON, even in JSON mode). */
  garbageAnswers: z.boolean().optional(),
  /**
   * OpenAI formats: how the model follows an instruction to continue its cut-off reply. Without
   * it, exactly (the rest of its answer); `repeatTail` repeats the reply's last words first,
   * `restart` starts over and repeats the whole reply first (imperfect followers, as real models are).
   */
  continuationFault: z.enum(['repeatTail', 'restart']).optional(),
  /**
   * Restrict every fault to requests whose `model` is listed (one-model outage). When set, /health
   * and requests without a model (GET /v1/models) are never faulted.
   */
  models: z.array(z.string().min(1)).min(1).optional(),
});

/** A validated fault set. */
export type Faults = z.infer<typeof FaultsSchema>;

/** Result of validating an untrusted fault set. */
export type FaultsValidation = { ok: true; faults: Faults } | { ok: false; message: string; keys: string[] };

/**
 * Validates an untrusted value against {@link FaultsSchema}. On failure the
 * result names the offending keys (unknown keys or keys with a bad value).
 */
export function validateFaults(input: unknown): FaultsValidation {
  const parsed = FaultsSchema.safeParse(input ?? {});
  if (parsed.success) return { ok: true, faults: parsed.data };
  const keys: string[] = [];
  const parts: string[] = [];
  for (const issue of parsed.error.issues) {
    const issueKeys = issue.code === 'unrecognized_keys' ? issue.keys : [issue.path.map(String).join('.') || '(root)'];
    keys.push(...issueKeys);
    const label = issue.code === 'unrecognized_keys' ? 'unknown key' : 'invalid value';
    parts.push(`${label} ${issueKeys.map((k) => `'${k}'`).join(', ')}: ${issue.message}`);
  }
  return { ok: false, message: `Invalid faults: ${parts.join('; ')}`, keys };
}

/** Thrown by {@link FaultState.set} for an invalid fault set. */
export class InvalidFaultsError extends Error {
  /** The offending keys. */
  readonly keys: string[];
  constructor(message: string, keys: string[]) {
    super(message);
    this.name = 'InvalidFaultsError';
    this.keys = keys;
  }
}

/** Small seeded PRNG (mulberry32), returns floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const JITTER_SEED = 0x5eed;

/**
 * Mutable fault state of one mock provider. All decisions are deterministic:
 * errors follow an accumulator (errorRate 0.5 fails exactly every second call)
 * and jitter follows a seeded sequence that restarts whenever faults are set.
 */
export class FaultState {
  private current: Faults = {};
  private acc = 0;
  private rand = mulberry32(JITTER_SEED);

  /** Replaces the whole fault set (validated); resets the accumulator and jitter sequence. */
  set(input: unknown): Faults {
    const v = validateFaults(input);
    if (!v.ok) throw new InvalidFaultsError(v.message, v.keys);
    this.current = v.faults;
    // Errors come first: with errorRate 0.5 the 1st, 3rd, 5th… calls fail.
    this.acc = (v.faults.errorRate ?? 0) > 0 ? 1 - (v.faults.errorRate ?? 0) : 0;
    this.rand = mulberry32(JITTER_SEED);
    return this.get();
  }

  /** Removes all faults. */
  clear(): void {
    this.set({});
  }

  /** A copy of the current fault set. */
  get(): Faults {
    return { ...this.current };
  }

  /** True when faults apply to a request for `model` (always, unless `models` restricts them). */
  appliesTo(model: string | undefined): boolean {
    const only = this.current.models;
    return only === undefined || (model !== undefined && only.includes(model));
  }

  /** True when faults apply to requests that name no model (/health, unknown routes): `models` is unset. */
  appliesToAll(): boolean {
    return this.current.models === undefined;
  }

  /** True when the provider should reset connections (for requests the faults apply to). */
  isDown(): boolean {
    return this.current.down === true;
  }

  /** Delay (latency + deterministic jitter) for the next provider call, in ms. */
  nextDelayMs(): number {
    const base = this.current.latencyMs ?? 0;
    const jitter = this.current.jitterMs ?? 0;
    return base + (jitter > 0 ? Math.floor(this.rand() * jitter) : 0);
  }

  /** Advances the error accumulator; true when this call must fail. */
  nextShouldFail(): boolean {
    const rate = this.current.errorRate ?? 0;
    if (rate <= 0) return false;
    this.acc += rate;
    if (this.acc >= 1 - 1e-9) {
      this.acc -= 1;
      return true;
    }
    return false;
  }

  /** Status of injected errors: errorStatus, else 429 when retryAfterS is set, else 500. */
  errorStatus(): number {
    if (this.current.errorStatus !== undefined) return this.current.errorStatus;
    return this.current.retryAfterS !== undefined ? 429 : 500;
  }

  /** Value for the Retry-After header, if any. */
  retryAfterS(): number | undefined {
    return this.current.retryAfterS;
  }

  /** Number of SSE events after which streams stall, if set. */
  stallAfterChunks(): number | undefined {
    return this.current.stallAfterChunks;
  }

  /** Content events after which streams are corrupted (`malformed` means 0), if set. */
  malformedAfterChunks(): number | undefined {
    if (this.current.malformedAfterChunks !== undefined) return this.current.malformedAfterChunks;
    return this.current.malformed === true ? 0 : undefined;
  }

  /** True when streams should be corrupted. */
  isMalformed(): boolean {
    return this.malformedAfterChunks() !== undefined;
  }

  /** Delay before the first streamed content event, ms. */
  ttftMs(): number {
    return this.current.ttftMs ?? 0;
  }

  /** True when streams end without their terminator. */
  omitDone(): boolean {
    return this.current.omitDone === true;
  }

  /** How continuation instructions are followed, when imperfectly. */
  continuationFault(): Faults['continuationFault'] {
    return this.current.continuationFault;
  }

  /** The fault that replaces a successful answer, if any (contextLength first, then filter, empty, garbage). */
  answerFault(): AnswerFault | undefined {
    if (this.current.contextLength) return 'contextLength';
    if (this.current.contentFilter) return 'contentFilter';
    if (this.current.emptyAnswers) return 'empty';
    if (this.current.garbageAnswers) return 'garbage';
    return undefined;
  }
}

/** A fault that replaces a successful chat answer. */
export type AnswerFault = 'contextLength' | 'contentFilter' | 'empty' | 'garbage';
