/** What every answer carries: the result, the attempt trace and the degradations. Pure zod. */
import { z } from 'zod';
import { ToolCallSchema } from './request';

/** Token usage (OpenAI naming). */
export const UsageSchema = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative(),
});
export type Usage = z.infer<typeof UsageSchema>;

// #region guide:attempt-degradation
/** One try of one target, in order. `outcome` is "ok" or the failure type. */
export const AttemptSchema = z.object({
  target: z.string(),
  model: z.string(),
  outcome: z.string(),
  error: z.string().optional(),
  /** Calls made to this target for this attempt beyond the first (Temporal retries). */
  retries: z.number().int().nonnegative().optional(),
  durationMs: z.number().nonnegative(),
});
export type Attempt = z.infer<typeof AttemptSchema>;

/** A change from what was asked, always told to the caller. */
export const DegradationSchema = z.object({
  kind: z.enum(['model', 'mode', 'data']),
  from: z.string(),
  to: z.string(),
  reason: z.string(),
});
export type Degradation = z.infer<typeof DegradationSchema>;
// #endregion guide:attempt-degradation

/**
 * One failover: the request moved from one (target, model) to another after the first failed, was
 * cut, refused a continuation or lost a hedge. A retry of the same target, a stream → buffered
 * switch on the same target and a hedge call the first call beat are not failovers; a cut stream
 * continued elsewhere is one failover (from the cut target to the one that continues).
 */
export const SwitchSchema = z.object({
  from: z.string(),
  fromModel: z.string(),
  to: z.string(),
  toModel: z.string(),
  /** Why the request left `from`: the attempt outcome there (a failure type, or "Hedged"). */
  reason: z.string(),
  /** Index in `attempts` of the first attempt made after the move. */
  attempt: z.number().int().nonnegative(),
});
export type Switch = z.infer<typeof SwitchSchema>;

export const FinishReasonSchema = z.enum(['stop', 'length', 'tool_calls', 'content_filter']);
export type FinishReason = z.infer<typeof FinishReasonSchema>;

/** The provider-neutral answer of one request. */
export const AiResponseSchema = z.object({
  id: z.string(),
  model: z.string(),
  target: z.string(),
  message: z.object({
    role: z.literal('assistant'),
    content: z.string().nullable(),
    tool_calls: z.array(ToolCallSchema).optional(),
  }),
  finishReason: FinishReasonSchema,
  usage: UsageSchema,
  attempts: z.array(AttemptSchema),
  degradations: z.array(DegradationSchema),
  /** How many times the request moved to another (target, model): `switches.length`. */
  failovers: z.number().int().nonnegative(),
  /** The failovers, in order (see SwitchSchema for what counts). */
  switches: z.array(SwitchSchema),
  /** RAG: the sources of the passages put into the prompt, best first. */
  sources: z.array(z.string()).optional(),
});
export type AiResponse = z.infer<typeof AiResponseSchema>;

/**
 * What a failed request carries in its failure's `details[0]`: the trace so far. `failovers` and
 * `switches` are absent in failures of workflows started before they existed.
 */
export interface TraceDetails {
  attempts: Attempt[];
  degradations: Degradation[];
  failovers?: number;
  switches?: Switch[];
}
