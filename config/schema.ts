/**
 * The gateway config: targets ("regions"), tiers of equivalent models, routing defaults,
 * timeouts and retry policy. Pure zod, validated once at start-up, then frozen.
 */
import { z } from 'zod';
import { DEFAULT_FAST_WINDOW_MS } from '../contracts/breaker';
import { StrategySchema } from '../contracts/request';
import { RagConfigSchema, ragConfigIssues } from './rag-schema';
import { CodecConfigSchema, LimitsSchema } from './limits-schema';

const port = z.number().int().min(0, 'use 1-65535, or 0 for any free port').max(65535);

/** What a model can do; the selector filters on it. */
export const CapabilitiesSchema = z
  .object({
    tools: z.boolean().default(false),
    vision: z.boolean().default(false),
    json: z.boolean().default(false),
    streaming: z.boolean().default(true),
    contextWindow: z.number().int().positive().default(8192),
  })
  .strict();

/** One model served by a target. */
export const ModelConfigSchema = z
  .object({
    /** The gateway's name for the model (what requests and tiers use). */
    id: z.string().min(1),
    /** The provider's own model name, when it differs (e.g. a dated snapshot). */
    providerModel: z.string().min(1).optional(),
    capabilities: CapabilitiesSchema.prefault({}),
    /** USD per million tokens. */
    pricePerMTok: z
      .object({ input: z.number().nonnegative(), output: z.number().nonnegative() })
      .strict()
      .prefault({ input: 0, output: 0 }),
  })
  .strict();
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

/** Circuit-breaker settings (see contracts/breaker.ts for each field's meaning). */
export const BreakerSettingsSchema = z
  .object({
    windowMs: z.number().int().positive().default(300_000),
    bucketMs: z.number().int().positive().default(5_000),
    minCalls: z.number().int().min(1).default(10),
    errorRateThreshold: z.number().gt(0).max(1).default(0.3),
    slowCallMs: z.number().int().positive().default(5_000),
    slowCallRateThreshold: z.number().gt(0).max(1).default(0.5),
    /** Short window beside windowMs so a new fault trips in seconds; 0 turns it off (bound: contracts/breaker.ts). */
    fastWindowMs: z.number().int().min(0).default(DEFAULT_FAST_WINDOW_MS),
    consecutiveFailures: z.number().int().min(1).default(5),
    cooldownMs: z.number().int().positive().default(10_000),
    maxCooldownMs: z.number().int().positive().default(300_000),
    halfOpenTrials: z.number().int().min(1).default(3),
    /** Half-open with no decision this long ends (closed after good trials, else open again). */
    halfOpenTimeoutMs: z.number().int().positive().default(20_000),
    /** Run active health probes at all. */
    probes: z.boolean().default(true),
    probeIntervalMs: z.number().int().positive().default(15_000),
    probeOpenIntervalMs: z.number().int().positive().default(2_000),
    continueAsNewAfterEvents: z.number().int().min(50).default(2_000),
    /**
     * The breaker republishes its memo at least this often; a view that stops moving is treated as
     * unknown. A change is published at once whatever this is: it bounds only how soon a breaker
     * that stopped working is noticed (this + 10 refresh intervals), and each republish is a
     * workflow task, a timer and a memo write per breaker (5 s was a fifth of an idle stack's CPU).
     */
    publishIntervalMs: z.number().int().min(100).default(15_000),
  })
  .strict();
export type BreakerSettingsConfig = z.infer<typeof BreakerSettingsSchema>;

/** A provider target: one "region" with its own health, latency, cost and quota. */
export const TargetConfigSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes, e.g. openai-us-east-1'),
    kind: z.enum(['openai', 'anthropic', 'openai-compatible']),
    region: z.string().min(1).default('unknown'),
    /** The base URL the provider SDK takes (OpenAI kinds include `/v1`). */
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. http://127.0.0.1:18081/v1' }),
    /** Name of the environment variable holding the API key (never the key itself). */
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'name an environment variable, e.g. OPENAI_API_KEY')
      .optional(),
    /** true: `npm start` runs a mock provider on this baseUrl's port. */
    mock: z.boolean().default(false),
    /** Lower is preferred (active-passive). */
    priority: z.number().int().min(0).default(100),
    /** Share of traffic in active-active (weighted) routing. */
    weight: z.number().min(0).default(1),
    models: z.array(ModelConfigSchema).min(1, 'a target serves at least one model'),
    limits: z
      .object({ requestsPerMinute: z.number().int().positive().optional(), tokensPerMinute: z.number().int().positive().optional() })
      .strict()
      .prefault({}),
    /** Per-target breaker overrides of the top-level `breaker` settings. */
    breaker: BreakerSettingsSchema.partial().optional(),
    /** Health endpoint probed besides the synthetic call (default for mock targets: <origin>/health). */
    healthUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Probe with a tiny synthetic chat call (costs a few tokens on a real provider). */
    syntheticProbe: z.boolean().default(true),
  })
  .strict();
export type TargetConfig = z.infer<typeof TargetConfigSchema>;

export const GatewayConfigSchema = z
  .object({
    api: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8080),
        bodyLimit: z.string().default('1mb'),
        /** How workers in other processes reach this API to relay streamed chunks (default: http://host:port). */
        internalUrl: z.url({ protocol: /^https?$/ }).optional(),
        /** Environment variable holding the token of the internal stream relay route (worker and API share it). */
        internalTokenEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .default('STORMPROOF_INTERNAL_TOKEN'),
        /** How often `GET /v1/jobs/:id/events` polls a job's state. */
        eventsPollMs: z.number().int().min(50).default(500),
      })
      .strict()
      .prefault({}),
    worker: z
      .object({
        /** Where a worker process serves its metrics (gateway and Temporal SDK series); 0 picks a free port. */
        metricsPort: port.default(9464),
        /** Address that metrics endpoint listens on: 0.0.0.0 in a container, so Prometheus can reach it. */
        metricsHost: z.string().min(1).default('127.0.0.1'),
      })
      .strict()
      .prefault({}),
    /** OpenTelemetry traces (API → workflow → activities → provider call), exported only when configured. */
    tracing: z
      .object({
        /** OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; absent: no tracing. */
        otlpEndpoint: z
          .url({
            protocol: /^https?$/,
            error: 'must be an http(s) URL of an OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces',
          })
          .optional(),
        /** `service.name` of the exported spans. */
        serviceName: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'use letters, digits, dot, dash or underscore, e.g. stormproof')
          .default('stormproof'),
      })
      .strict()
      .prefault({}),
    temporal: z
      .object({
        address: z
          .string()
          .regex(/^[^:\s]+:\d+$/, 'use host:port, e.g. 127.0.0.1:7233')
          .default('127.0.0.1:7233'),
        namespace: z.string().min(1).default('default'),
        taskQueue: z.string().min(1).default('stormproof'),
        /** Run `temporal server start-dev` as part of `npm start`. */
        embedded: z.boolean().default(true),
        uiPort: port.default(8233),
        /** Where the embedded server keeps its SQLite database. */
        dataDir: z.string().default('.data'),
        /** Prefix of fixed workflow ids (breakers), so several gateways can share one namespace. */
        workflowIdPrefix: z
          .string()
          .regex(/^[a-z0-9-]*$/)
          .default(''),
        /**
         * TLS to the frontend (a cluster with TLS, Temporal Cloud): true, or the files of a client
         * certificate for mTLS (paths read at start-up). Default: off, or on with `apiKeyEnv`.
         */
        tls: z
          .union([
            z.boolean(),
            z
              .object({
                clientCertPath: z.string().min(1),
                clientKeyPath: z.string().min(1),
                serverRootCaPath: z.string().min(1).optional(),
                serverName: z.string().min(1).optional(),
              })
              .strict(),
          ])
          .optional(),
        /** Environment variable holding a Temporal Cloud API key (the key itself never goes in the config). */
        apiKeyEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .optional(),
      })
      .strict()
      .prefault({}),
    targets: z
      .array(TargetConfigSchema, {
        error: (iss) => (iss.input === undefined ? 'configure at least one target (a list of provider targets)' : undefined),
      })
      .min(1, 'configure at least one target'),
    /** Tiers of equivalent models, e.g. smart: [gpt-4o, claude-sonnet-4]. */
    tiers: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).default({}),
    routing: z
      .object({
        strategy: StrategySchema.default('priority'),
        allowDegradation: z.boolean().default(true),
        /** Workers send each breaker at most one outcome batch per this interval. */
        flushIntervalMs: z.number().int().min(100).default(1_000),
        /** How often each worker reads the breakers' published decisions. */
        refreshIntervalMs: z.number().int().min(50).default(500),
        /**
         * This worker's share of each target's rate limits: `auto` is 1 / the workers polling the
         * task queue now (read from Temporal every quotaShareRefreshMs), so the shares add up to
         * the limit as workers come and go; a number fixes it (e.g. 0.5 with two workers).
         */
        quotaShare: z
          .union([z.literal('auto'), z.number().gt(0).max(1)], { error: 'quotaShare is "auto" or a number in (0, 1]' })
          .default('auto'),
        /** How often an `auto` quota share re-counts the live workers. */
        quotaShareRefreshMs: z.number().int().min(500).default(10_000),
        /**
         * Hedging of non-streaming calls: when the first candidate has not answered after this
         * long, the next one is started too and the first good answer wins (the other call is
         * aborted). A number of ms fixes the delay (0: never hedge); `auto` waits
         * `hedgeLatencyMultiple` × the target's observed latency, within hedgeMinMs..hedgeMaxMs.
         */
        hedgeAfterMs: z.union([z.number().int().min(0), z.literal('auto')]).default('auto'),
        hedgeMinMs: z.number().int().min(50).default(1_000),
        hedgeMaxMs: z.number().int().min(50).default(15_000),
        hedgeLatencyMultiple: z.number().min(1).default(3),
      })
      .strict()
      .prefault({}),
    breaker: BreakerSettingsSchema.prefault({}),
    /**
     * Model degradation: per model or tier, the models tried (in order) after every equivalent
     * target failed. A model without a chain uses its tier's chain.
     */
    degradation: z
      .object({ chains: z.record(z.string().min(1), z.array(z.string().min(1))).default({}) })
      .strict()
      .prefault({}),
    /** API keys. None configured: the API runs open, and only on a loopback address. */
    auth: z
      .object({
        /** Keys stored hashed: the hex SHA-256 of the key, never the key itself. */
        keys: z
          .array(
            z
              .object({
                id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
                sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the hex SHA-256 of the key (e.g. `printf %s "$KEY" | sha256sum`)'),
                /** May use operator routes (breaker overrides). */
                admin: z.boolean().default(false),
                /** Overrides the default rate limit for this key. */
                rateLimitPerMinute: z.number().int().positive().optional(),
              })
              .strict(),
          )
          .default([]),
        /** Environment variable with more keys: `id:key[:admin]`, comma-separated (hashed at start-up). */
        keysEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .default('STORMPROOF_API_KEYS'),
        /** Requests per minute per key (a batch costs one per item). */
        rateLimitPerMinute: z.number().int().positive().default(600),
        /** Open mode (no keys): Host names accepted besides localhost, 127.0.0.1, [::1] and api.host. */
        openHosts: z.array(z.string().regex(/^[A-Za-z0-9.[\]:-]{1,255}$/, 'a host name without port, e.g. gateway.local')).default([]),
      })
      .strict()
      .prefault({}),
    batches: z
      .object({
        /** Items run at once when the batch does not say. */
        concurrency: z.number().int().min(1).max(64).default(4),
        /** Most items one batch takes (each item is a job; the rate limit charges one per item). */
        maxItems: z.number().int().min(1).max(500).default(500),
        /** Items per page of `GET /v1/batches/:id` (their results are read from the item jobs). */
        pageSize: z.number().int().min(1).max(200).default(50),
      })
      .strict()
      .prefault({}),
    limits: LimitsSchema.prefault({}),
    codec: CodecConfigSchema.prefault({}),
    /** Result callbacks of long jobs (`callbackUrl`). */
    callbacks: z
      .object({
        /** Environment variable (of the worker) holding the HMAC-SHA256 signing secret. */
        secretEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .default('STORMPROOF_CALLBACK_SECRET'),
        /** Deliveries tried at most this often (first included), with exponential backoff. */
        maxAttempts: z.number().int().min(1).max(100).default(10),
        initialIntervalMs: z.number().int().positive().default(1_000),
        maxIntervalMs: z.number().int().positive().default(300_000),
        /** One POST's timeout. */
        timeoutMs: z.number().int().positive().default(10_000),
        /**
         * Address ranges callbacks may reach although they are loopback, private, link-local or
         * otherwise not public (e.g. ["10.1.2.0/24"] for a receiver inside the network). Empty:
         * public addresses only.
         */
        allowedCidrs: z.array(z.union([z.cidrv4(), z.cidrv6()], { error: 'a CIDR range, e.g. 10.1.2.0/24 or fd00::/8' })).default([]),
        /** Plain http:// callbacks (the signed result then crosses the network in cleartext). */
        allowHttp: z.boolean().default(false),
        /** Longest callbackUrl accepted. */
        maxUrlLength: z.number().int().min(32).max(8192).default(2048),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        /** Non-streaming provider call (per try); a try that times out fails over at once. */
        callMs: z.number().int().positive().default(30_000),
        /**
         * Budget of a whole request across all its attempts (per request: routing.latencySloMs).
         * Every attempt is bounded by what is left; none starts after it is spent.
         */
        requestMs: z.number().int().positive().default(60_000),
        /** A whole streaming call. */
        streamMs: z.number().int().positive().default(300_000),
        /** A stream that sends nothing for this long is stalled. */
        streamIdleMs: z.number().int().positive().default(15_000),
        /** Heartbeat timeout of streaming activities. */
        heartbeatMs: z.number().int().positive().default(10_000),
      })
      .strict()
      .prefault({}),
    /** Retrieval-augmented generation: see config/rag-schema.ts. */
    rag: RagConfigSchema.prefault({}),
    retry: z
      .object({
        /** Tries per target, first included. */
        maxAttempts: z.number().int().min(1).max(10).default(3),
        initialIntervalMs: z.number().int().positive().default(200),
        backoffCoefficient: z.number().min(1).default(2),
        maxIntervalMs: z.number().int().positive().default(2_000),
        /** A 429 asking to wait longer than this skips the target instead. */
        maxRetryAfterS: z.number().int().nonnegative().default(5),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.routing.hedgeMinMs > cfg.routing.hedgeMaxMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['routing', 'hedgeMinMs'],
        message: `must not exceed routing.hedgeMaxMs (${cfg.routing.hedgeMaxMs})`,
      });
    }
    const ids = new Set<string>();
    const models = new Set<string>();
    cfg.targets.forEach((t, i) => {
      if (ids.has(t.id)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'id'], message: `duplicate target id "${t.id}"` });
      ids.add(t.id);
      t.models.forEach((m) => models.add(m.id));
    });
    for (const [from, chain] of Object.entries(cfg.degradation.chains)) {
      if (!models.has(from) && !cfg.tiers[from])
        ctx.addIssue({ code: 'custom', path: ['degradation', 'chains', from], message: `"${from}" is neither a served model nor a tier` });
      chain.forEach((m, i) => {
        if (!models.has(m))
          ctx.addIssue({
            code: 'custom',
            path: ['degradation', 'chains', from, i],
            message: `model "${m}" is served by no target; add it to a target's models or remove it`,
          });
      });
    }
    for (const issue of ragConfigIssues(cfg.rag, cfg.targets)) ctx.addIssue({ code: 'custom', ...issue });
    for (const [tier, members] of Object.entries(cfg.tiers)) {
      if (models.has(tier))
        ctx.addIssue({ code: 'custom', path: ['tiers', tier], message: `tier "${tier}" has the name of a model; pick another name` });
      members.forEach((m, i) => {
        if (!models.has(m))
          ctx.addIssue({
            code: 'custom',
            path: ['tiers', tier, i],
            message: `model "${m}" is served by no target; add it to a target's models or remove it`,
          });
      });
    }
  });
export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;

/** Breaker settings of one target: the top-level ones with the target's overrides. */
export function breakerSettingsFor(config: GatewayConfig, targetId: string): BreakerSettingsConfig {
  const t = config.targets.find((x) => x.id === targetId);
  return { ...config.breaker, ...t?.breaker };
}

/** The URL probed for a target's health, if any. */
export function healthUrlFor(t: TargetConfig): string | undefined {
  return t.healthUrl ?? (t.mock ? `${new URL(t.baseUrl).origin}/health` : undefined);
}
