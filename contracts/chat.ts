/**
 * The OpenAI-compatible `POST /v1/chat/completions` body: the standard AiRequest plus OpenAI
 * parameters that clients commonly send and the gateway accepts but does not forward (documented
 * in docs/api.md). Anything else unknown is rejected, as OpenAI itself does. Pure zod.
 */
import { z } from 'zod';
import { AiRequestSchema, type AiRequest } from './request';

/** Accepted for compatibility, not forwarded to providers. */
const IGNORED = {
  n: z.literal(1, 'only n=1 is supported').optional(),
  seed: z.number().int().optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  parallel_tool_calls: z.boolean().optional(),
  logprobs: z.literal(false, 'logprobs are not supported').optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  store: z.boolean().optional(),
} as const;

/** `POST /v1/chat/completions` body. */
export const ChatCompletionRequestSchema = AiRequestSchema.extend(IGNORED).strict();
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

/** The standard request inside a chat completion body (the ignored OpenAI fields dropped). */
export function toAiRequest(body: ChatCompletionRequest): AiRequest {
  const out: Record<string, unknown> = { ...body };
  for (const key of Object.keys(IGNORED)) delete out[key];
  return out as AiRequest;
}
