/** The `limits` and `codec` sections of the gateway config: where input can grow, and payload encryption. */
import { z } from 'zod';

/** Bounds on everything a caller can make grow; each refusal is a 4xx with a stable code. */
export const LimitsSchema = z
  .object({
    /** Deepest nesting of a JSON body (objects and arrays); deeper is a 400 before anything else reads it. */
    jsonDepth: z.number().int().min(8).max(512).default(64),
    /** Longest explicit RAG query (`rag.query`, `POST /v1/collections/:name/query`). */
    ragQueryChars: z.number().int().min(16).max(100_000).default(4_000),
    /** Jobs (and batch items) one non-admin key may have running at once; more is a 429. */
    jobsInFlightPerKey: z.number().int().min(1).default(500),
    /** Batches one non-admin key may have running at once. */
    batchesInFlightPerKey: z.number().int().min(1).default(4),
    /** Open `GET /v1/jobs/:id/events` streams per non-admin key. */
    eventStreamsPerKey: z.number().int().min(1).default(8),
    /** An event stream is ended after this long (the client resumes with Last-Event-ID). */
    eventStreamMaxMs: z.number().int().min(1_000).default(600_000),
    /** The API's own calls to Temporal: per-call timeout, retries, and a breaker that fails fast with 503. */
    temporal: z
      .object({
        /** One call (start, describe, query, cancel, list); a slower one counts as a failure. */
        callTimeoutMs: z.number().int().min(100).default(5_000),
        /** Retries of a call that found Temporal unavailable (with a short backoff). */
        retries: z.number().int().min(0).max(5).default(1),
        /** Consecutive unavailable calls that open the breaker (then every call is a 503 at once). */
        breakerFailures: z.number().int().min(1).default(5),
        /** How long the breaker stays open before one call tries again; also the 503's Retry-After. */
        breakerOpenMs: z.number().int().min(100).default(5_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();
export type LimitsConfig = z.infer<typeof LimitsSchema>;

/**
 * The payload codec: AES-256-GCM over the workflow payloads (requests, answers, callback URLs) in
 * Temporal's history. Keys come from the environment, never from this file.
 */
export const CodecConfigSchema = z
  .object({
    /**
     * Environment variable with the keys: `id:<base64 of 32 bytes>`, comma-separated. The first
     * encrypts; all decrypt (rotation: put the new key first, keep the old ones). Unset or empty:
     * payloads are stored as plain JSON.
     */
    keysEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .default('STORMPROOF_CODEC_KEYS'),
    /** Refuse to start without codec keys (production). */
    required: z.boolean().default(false),
    /** Origins (the Temporal Web UI) allowed to call `POST /v1/codec/decode` from a browser. */
    corsOrigins: z.array(z.url({ protocol: /^https?$/ })).default(['http://127.0.0.1:8233', 'http://localhost:8233']),
  })
  .strict();
export type CodecConfig = z.infer<typeof CodecConfigSchema>;
