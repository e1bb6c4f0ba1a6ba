/**
 * Game-day scenario files (YAML), close to the Chaos Toolkit's model: a title, a steady state,
 * open-loop load, a timed method of actions, rollbacks that always run, SLO thresholds and abort
 * conditions. Thresholds default to the project's promises (derived from the method's faults) and
 * a scenario may only make them stricter. Every error names its key, e.g.
 * `method[2].target: unknown target "x"`.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { FaultsSchema } from '../mock-provider/faults';
import { GatewayOverridesSchema, NOT_OVERRIDABLE } from './overrides';

const target = z.string().min(1);
const seconds = z.number().min(0);

/** Toxic types of toxiproxy. */
export const TOXIC_TYPES = ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data'] as const;

// `at` is required in a method (checked below) and ignored in rollbacks.
const at = { at: seconds.optional(), note: z.string().optional() };

/** One timed action of a method (or a rollback: then `at` is ignored). */
export const ActionSchema = z.discriminatedUnion('action', [
  z.strictObject({ ...at, action: z.literal('mock-faults'), target, faults: FaultsSchema }),
  z.strictObject({ ...at, action: z.literal('mock-clear'), target }),
  z.strictObject({
    ...at,
    action: z.literal('toxic'),
    target,
    type: z.enum(TOXIC_TYPES),
    name: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .optional(),
    stream: z.enum(['downstream', 'upstream']).default('downstream'),
    toxicity: z.number().min(0).max(1).default(1),
    attributes: z.record(z.string(), z.number()),
  }),
  z.strictObject({ ...at, action: z.literal('toxic-remove'), target, name: z.string().min(1) }),
  z.strictObject({ ...at, action: z.literal('proxy-down'), target }),
  z.strictObject({ ...at, action: z.literal('proxy-up'), target }),
  z.strictObject({ ...at, action: z.literal('kill-worker'), index: z.number().int().min(0).default(0) }),
  z.strictObject({ ...at, action: z.literal('start-worker'), index: z.number().int().min(0).default(0) }),
  /** Stops the Temporal dev server and starts it again on the same SQLite file and port. */
  z.strictObject({ ...at, action: z.literal('restart-temporal'), downS: seconds.default(0) }),
  /** Kills the API process (SIGKILL) and starts it again on the same port. */
  z.strictObject({ ...at, action: z.literal('restart-api'), downS: seconds.default(0) }),
  z.strictObject({ ...at, action: z.literal('breaker-override'), target, state: z.enum(['open', 'close', 'reset']) }),
]);
/** A validated action. */
export type Action = z.infer<typeof ActionSchema>;
/** The name of an action. */
export type ActionName = Action['action'];

/** Thresholds (SLO probes). `null`: measured and reported, not promised. */
export const ThresholdsSchema = z.strictObject({
  /** Requests that failed as the client saw them (errors, timeouts, error events). */
  maxClientErrors: z.number().int().min(0).nullable(),
  /** Answers that ended normally but were incomplete (truncated, presented as complete). */
  maxTruncated: z.number().int().min(0).nullable(),
  /** Jobs accepted (202) that never reached an outcome. */
  maxLostJobs: z.number().int().min(0).nullable(),
  /** Streams that ended with neither `[DONE]` nor an explicit error event. */
  maxUnendedStreams: z.number().int().min(0).nullable(),
  /** p99 back within 1.5x the steady state's p99 at most this many seconds after the fault starts. */
  recoveryWithinS: z.number().min(0).nullable(),
  /** No provider call to a target that answered 429 with Retry-After before that time passed. */
  respectRetryAfter: z.boolean(),
  /** Provider calls (excluding probes' health checks) sent to a target while its breaker was open. */
  maxCallsAfterBreakerOpen: z.number().int().min(0).nullable(),
  /** Answers from a lower tier, or RAG answers from keyword search after a failed embedding, that did not say so. */
  maxUndeclaredDegradations: z.number().int().min(0).nullable(),
  /** Requests sent with an Idempotency-Key (and sent again) that got more than one job. */
  maxDuplicateJobs: z.number().int().min(0).nullable(),
  /** Provider calls beyond what the answers' attempt traces explain (a crash may repeat one: reported by default). */
  maxDuplicateProviderCalls: z.number().int().min(0).nullable(),
});
/** A full threshold set. */
export type Thresholds = z.infer<typeof ThresholdsSchema>;
/** A threshold key. */
export type ThresholdKey = keyof Thresholds;

/** The project's promises, before the method's faults add theirs. */
export const BASE_THRESHOLDS: Thresholds = {
  maxClientErrors: 0,
  maxTruncated: 0,
  maxLostJobs: 0,
  maxUnendedStreams: 0,
  recoveryWithinS: null,
  respectRetryAfter: false,
  maxCallsAfterBreakerOpen: null,
  maxUndeclaredDegradations: 0,
  maxDuplicateJobs: 0,
  maxDuplicateProviderCalls: null,
};

const weight = z.number().min(0).default(0);

/** Requests sent with an Idempotency-Key by a client that sends them again through errors. */
const IdempotencySchema = z.strictObject({
  /**
   * The kinds whose requests carry a key: `job` (POST /v1/jobs), `chat` (non-streaming chat; the
   * promise holds once the chat endpoint honours the key: one key, one job id in x-stormproof-job-id).
   */
  kinds: z.array(z.enum(['job', 'chat'])).min(1),
  /** A failed send (no answer, 5xx, 429) is sent again with the same key, at most this many sends in all. */
  maxSends: z.number().int().min(1).max(20).default(6),
  /** Pause before sending again, doubled each time. */
  backoffMs: z.number().int().min(0).max(10_000).default(500),
  /** Share of requests sent once more after their answer (a client that lost the answer), 0..1. */
  resendAnswered: z.number().min(0).max(1).default(0),
});

const LoadSchema = z.strictObject({
  /** Requests started per second (open loop: one every 1/rate s whatever the previous did). */
  rate: z.number().positive().max(500),
  /** Load duration, from its start (the steady state included). */
  seconds: z.number().positive().max(3600),
  /** Relative weights of the request kinds: plain chat, streams, long jobs, tool calls, RAG questions. */
  mix: z
    .strictObject({ chat: weight, stream: weight, job: weight, tool: weight, rag: weight })
    .refine((m) => m.chat + m.stream + m.job + m.tool + m.rag > 0, 'give at least one kind a weight > 0')
    .prefault({ chat: 1 }),
  model: z.string().min(1).default('gpt-4o'),
  /** The client gives up after this long (the SDK's timeout; jobs: the wait for their outcome). */
  clientTimeoutS: z.number().positive().default(60),
  /** Words in each prompt (the nonce included): the answer's length. */
  promptWords: z.number().int().min(2).max(2000).default(12),
  /** RAG questions: the collection asked (the stack ingests the default config's sample collection). */
  rag: z
    .strictObject({
      collection: z.string().min(1).default('sample'),
      topK: z.number().int().min(1).max(50).optional(),
      /** Each RAG prompt starts with it (then filler words and the nonce); ask what the collection answers. */
      question: z.string().regex(/\S/, 'ask something the collection answers').default('When does a circuit breaker open?'),
    })
    .prefault({}),
  idempotency: IdempotencySchema.optional(),
  /** `echo`: the mocks echo the prompt. `repeat`: the prompt asks the model to repeat its words (real upstreams). */
  prompt: z.enum(['echo', 'repeat']).default('echo'),
});

/** The whole scenario file. */
export const ScenarioSchema = z.strictObject({
  title: z.string().min(1),
  description: z.string().default(''),
  steadyState: z
    .strictObject({
      seconds: seconds.default(10),
      /** The hypothesis: no client error and p99 at most this (default: the breakers' slowCallMs, 5 s); only stricter. */
      maxP99S: z.number().positive().max(5, "may only be stricter than the default 5 s (the breakers' slow-call limit)").default(5),
      /** Further tolerances of the hypothesis (none by default). */
      maxP95S: z.number().positive().optional(),
      maxP50S: z.number().positive().optional(),
    })
    .prefault({}),
  load: LoadSchema,
  /** The one config choice a drill may make: `routing.strategy` (active-passive or active-active). */
  gateway: GatewayOverridesSchema.optional(),
  /** The stack: workers and the mock providers' pace. */
  stack: z
    .strictObject({
      workers: z.number().int().min(1).max(8).default(1),
      /** Pause between streamed events of the mock providers, ms. */
      chunkDelayMs: z.number().int().min(0).max(5000).default(10),
    })
    .prefault({}),
  method: z.array(ActionSchema).default([]),
  rollbacks: z.array(ActionSchema).default([]),
  thresholds: ThresholdsSchema.partial().default({}),
  /** Stop the load early (then the verdict is red) when the client error rate stays above this. */
  abort: z
    .strictObject({
      errorRateAbove: z.number().gt(0).max(1).default(0.5),
      /** Also stop when the p99 of the requests that ended in the last 5 s stays above this. */
      p99AboveS: z.number().positive().optional(),
      forS: z.number().positive().default(10),
    })
    .prefault({}),
});
/** A validated scenario. */
export type Scenario = z.infer<typeof ScenarioSchema> & {
  name: string;
  thresholds: Thresholds;
  thresholdReasons: Partial<Record<ThresholdKey, string>>;
};

/** Actions that inject a fault (the others remove one or steer). */
export const FAULT_ACTIONS: ReadonlySet<ActionName> = new Set([
  'mock-faults',
  'toxic',
  'proxy-down',
  'kill-worker',
  'restart-temporal',
  'restart-api',
  'breaker-override',
]);
const DISRUPTIONS: ReadonlySet<ActionName> = new Set(['kill-worker', 'restart-temporal', 'restart-api']);

/** The default thresholds a method implies (the issue's promises) and why each differs from the base. */
export function defaultThresholds(method: Action[]): { thresholds: Thresholds; reasons: Partial<Record<ThresholdKey, string>> } {
  const t: Thresholds = { ...BASE_THRESHOLDS };
  const reasons: Partial<Record<ThresholdKey, string>> = {};
  method.forEach((a, i) => {
    const where = `method[${i}] (${a.action})`;
    const slow =
      (a.action === 'toxic' && a.type === 'latency') ||
      (a.action === 'mock-faults' && ((a.faults.latencyMs ?? 0) > 0 || (a.faults.ttftMs ?? 0) > 0));
    if (slow && t.recoveryWithinS === null) {
      t.recoveryWithinS = 10;
      reasons.recoveryWithinS = `brownout at ${where}`;
    }
    if (a.action === 'mock-faults' && a.faults.retryAfterS !== undefined && !t.respectRetryAfter) {
      t.respectRetryAfter = true;
      reasons.respectRetryAfter = `429 with Retry-After at ${where}`;
    }
  });
  const disruption = method.findIndex((a) => DISRUPTIONS.has(a.action));
  const otherFault = method.some((a) => FAULT_ACTIONS.has(a.action) && !DISRUPTIONS.has(a.action));
  if (disruption >= 0 && !otherFault) {
    // Kills and restarts promise no lost job and an explicit end to every stream, not zero errors.
    t.maxClientErrors = null;
    reasons.maxClientErrors = `kill/restart at method[${disruption}] (${method[disruption].action}): explicit errors allowed`;
  }
  return { thresholds: t, reasons };
}

/** True when `value` is at least as strict as `base` for this key. */
function stricter(key: ThresholdKey, value: unknown, base: unknown): boolean {
  if (key === 'respectRetryAfter') return value === true || base === false;
  if (base === null) return true;
  return value !== null && typeof value === 'number' && value <= (base as number);
}

/** Thrown for an invalid scenario; `issues` are `key: message` lines. */
export class ScenarioError extends Error {
  constructor(
    readonly source: string,
    readonly issues: string[],
  ) {
    super(`invalid scenario ${source}:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ScenarioError';
  }
}

/** `method[2].target` from a zod path. */
export function keyOf(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(root)';
}

/**
 * Validates a parsed scenario against the stack's target ids (`realTargets`: those that are real
 * upstreams, without mock faults); throws {@link ScenarioError}.
 */
export function parseScenario(raw: unknown, opts: { targets: string[]; name: string; source?: string; realTargets?: string[] }): Scenario {
  const source = opts.source ?? opts.name;
  const parsed = ScenarioSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ScenarioError(
      source,
      parsed.error.issues.flatMap((i) =>
        // Under gateway, each key that may not be overridden is named on its own line.
        i.code === 'unrecognized_keys' && i.path[0] === 'gateway'
          ? i.keys.map((k) => `${keyOf([...i.path, k])}: ${NOT_OVERRIDABLE}`)
          : [`${keyOf(i.path)}: ${i.message}`],
      ),
    );
  }
  const s = parsed.data;
  const issues: string[] = [];
  const checkActions = (list: Action[], key: 'method' | 'rollbacks') =>
    list.forEach((a, i) => {
      if ('target' in a && !opts.targets.includes(a.target)) {
        issues.push(`${key}[${i}].target: unknown target "${a.target}"; known: ${opts.targets.join(', ')}`);
      }
      if ((a.action === 'mock-faults' || a.action === 'mock-clear') && opts.realTargets?.includes(a.target)) {
        issues.push(`${key}[${i}].target: "${a.target}" is a real upstream (not mock: true in the config); use toxic or proxy-down on it`);
      }
      if ((a.action === 'kill-worker' || a.action === 'start-worker') && a.index >= s.stack.workers) {
        issues.push(`${key}[${i}].index: worker ${a.index} does not exist (stack.workers is ${s.stack.workers})`);
      }
      if (key === 'method' && a.at === undefined) issues.push(`${key}[${i}].at: required in a method (seconds from the load's start)`);
      if (key === 'method' && (a.at ?? 0) > s.load.seconds)
        issues.push(`${key}[${i}].at: ${a.at} s is after the load ends (load.seconds ${s.load.seconds})`);
      if (key === 'method' && FAULT_ACTIONS.has(a.action) && (a.at ?? 0) < s.steadyState.seconds) {
        issues.push(
          `${key}[${i}].at: ${a.at} s is inside the steady state (the first ${s.steadyState.seconds} s); ` +
            'move it or shorten steadyState.seconds',
        );
      }
    });
  checkActions(s.method, 'method');
  checkActions(s.rollbacks, 'rollbacks');
  if (s.method.some((a, i) => i > 0 && (a.at ?? 0) < (s.method[i - 1].at ?? 0)))
    issues.push('method: actions must be in time order (by "at")');
  for (const p of ['maxP95S', 'maxP50S'] as const) {
    const v = s.steadyState[p];
    if (v !== undefined && v > s.steadyState.maxP99S)
      issues.push(`steadyState.${p}: ${v} s is above steadyState.maxP99S (${s.steadyState.maxP99S} s)`);
  }
  s.load.idempotency?.kinds.forEach((k, i) => {
    if (s.load.mix[k] === 0) issues.push(`load.idempotency.kinds[${i}]: "${k}" has no weight in load.mix`);
  });
  if (s.steadyState.seconds > 0 && s.steadyState.seconds >= s.load.seconds) {
    issues.push(`steadyState.seconds: ${s.steadyState.seconds} s leaves no time for the method (load.seconds ${s.load.seconds})`);
  }
  const { thresholds: defaults, reasons } = defaultThresholds(s.method);
  const thresholds = { ...defaults };
  for (const [k, v] of Object.entries(s.thresholds) as Array<[ThresholdKey, unknown]>) {
    if (v === undefined) continue;
    if (!stricter(k, v, defaults[k])) {
      issues.push(
        `thresholds.${k}: ${JSON.stringify(v)} is looser than the default ${JSON.stringify(defaults[k])}; ` +
          'a scenario may only make a threshold stricter',
      );
      continue;
    }
    (thresholds as Record<string, unknown>)[k] = v;
    reasons[k] = 'set by the scenario';
  }
  if (issues.length) throw new ScenarioError(source, issues);
  return { ...s, name: opts.name, thresholds, thresholdReasons: reasons };
}

/** Reads and validates one scenario file. */
export function loadScenario(path: string, targets: string[], realTargets: string[] = []): Scenario {
  let raw: unknown;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ScenarioError(path, [`(file): ${(err as Error).message.split('\n')[0]}`]);
  }
  const name = path.replace(/^.*\//, '').replace(/\.ya?ml$/, '');
  return parseScenario(raw, { targets, name, source: path, realTargets });
}
