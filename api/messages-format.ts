/**
 * The Anthropic Messages wire format at the gateway's edge: the request body (validated, then
 * turned into the standard AiRequest), the `message` answer and the error shape. Fields of the
 * Messages API the gateway does not forward are accepted where clients commonly send them
 * (`top_k`, `metadata`, `service_tier`); anything else unknown is a 400, as the API itself does.
 */
import type { Response } from 'express';
import { z } from 'zod';
import { RagSchema, RoutingSchema, type AiRequest, type ContentPart, type Message } from '../contracts/request';
import type { AiResponse, FinishReason } from '../contracts/response';
import type { ErrorCodeName } from '../contracts/errors';
import { extensionOf } from './openai-format';

const cacheControl = { cache_control: z.unknown().optional() };
const TextBlock = z.object({ type: z.literal('text'), text: z.string(), citations: z.unknown().optional(), ...cacheControl }).strict();
const ImageBlock = z
  .object({
    type: z.literal('image'),
    source: z.discriminatedUnion('type', [
      z.object({ type: z.literal('base64'), media_type: z.string().min(1), data: z.string().min(1) }).strict(),
      z.object({ type: z.literal('url'), url: z.url() }).strict(),
    ]),
    ...cacheControl,
  })
  .strict();
const ToolUseBlock = z
  .object({ type: z.literal('tool_use'), id: z.string().min(1), name: z.string().min(1), input: z.unknown(), ...cacheControl })
  .strict();
const ToolResultBlock = z
  .object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1),
    content: z.union([z.string(), z.array(z.discriminatedUnion('type', [TextBlock, ImageBlock]))]).optional(),
    is_error: z.boolean().optional(),
    ...cacheControl,
  })
  .strict();
const Block = z.discriminatedUnion('type', [TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock]);

/** `POST /v1/messages` body (Anthropic Messages API, plus Stormproof's `routing` and `rag`). */
export const MessagesRequestSchema = z
  .object({
    model: z.string().min(1, 'name a model (e.g. claude-sonnet-4) or a tier (e.g. smart)'),
    max_tokens: z.number().int().positive(),
    messages: z
      .array(z.object({ role: z.enum(['user', 'assistant']), content: z.union([z.string(), z.array(Block)]) }).strict())
      .min(1, 'at least one message is required'),
    system: z.union([z.string(), z.array(TextBlock)]).optional(),
    stop_sequences: z.array(z.string()).optional(),
    stream: z.boolean().optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    tools: z
      .array(
        z
          .object({
            name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
            description: z.string().optional(),
            input_schema: z.record(z.string(), z.unknown()),
            type: z.literal('custom').optional(),
            ...cacheControl,
          })
          .strict(),
      )
      .optional(),
    tool_choice: z
      .object({
        type: z.enum(['auto', 'any', 'tool', 'none']),
        name: z.string().optional(),
        disable_parallel_tool_use: z.boolean().optional(),
      })
      .strict()
      .refine((c) => c.type !== 'tool' || c.name, 'tool_choice of type "tool" names the tool')
      .optional(),
    // Accepted, not forwarded.
    top_k: z.number().int().positive().optional(),
    metadata: z.object({ user_id: z.string().optional() }).strict().optional(),
    service_tier: z.enum(['auto', 'standard_only']).optional(),
    routing: RoutingSchema.optional(),
    rag: RagSchema.optional(),
  })
  .strict();
export type MessagesRequest = z.infer<typeof MessagesRequestSchema>;
type Blocks = Exclude<MessagesRequest['messages'][number]['content'], string>;

const text = (blocks: Array<{ type: string; text?: string }>) => blocks.flatMap((b) => (b.type === 'text' ? [b.text ?? ''] : [])).join('');
const imagePart = (b: z.infer<typeof ImageBlock>): ContentPart => ({
  type: 'image_url',
  image_url: { url: b.source.type === 'url' ? b.source.url : `data:${b.source.media_type};base64,${b.source.data}` },
});

/** One Anthropic message as OpenAI-shaped messages (tool results become `tool` messages). */
function toMessages(role: 'user' | 'assistant', content: string | Blocks): Message[] {
  if (typeof content === 'string') return [{ role, content }];
  if (role === 'assistant') {
    const calls = content.flatMap((b) =>
      b.type === 'tool_use'
        ? [{ id: b.id, type: 'function' as const, function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } }]
        : [],
    );
    return [{ role, content: text(content) || (calls.length ? null : ''), ...(calls.length ? { tool_calls: calls } : {}) }];
  }
  const out: Message[] = [];
  for (const b of content) {
    if (b.type !== 'tool_result') continue;
    const body = typeof b.content === 'string' ? b.content : text(b.content ?? []);
    // OpenAI-shaped tool messages have no error flag: the text says it.
    out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: b.is_error ? `Error: ${body}` : body });
  }
  const parts = content.flatMap((b): ContentPart[] =>
    b.type === 'text' ? [{ type: 'text', text: b.text }] : b.type === 'image' ? [imagePart(b)] : [],
  );
  if (parts.length) out.push({ role, content: parts.every((p) => p.type === 'text') ? text(content) : parts });
  return out;
}

const CHOICE = { auto: 'auto', any: 'required', none: 'none' } as const;

/** The standard request inside a Messages body. */
export function toAiRequest(body: MessagesRequest): AiRequest {
  const system = typeof body.system === 'string' ? body.system : body.system ? text(body.system) : undefined;
  return {
    model: body.model,
    messages: [
      ...(system ? [{ role: 'system' as const, content: system }] : []),
      ...body.messages.flatMap((m) => toMessages(m.role, m.content)),
    ],
    max_tokens: body.max_tokens,
    ...(body.stream ? { stream: true } : {}),
    ...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
    ...(body.top_p !== undefined ? { top_p: body.top_p } : {}),
    ...(body.stop_sequences?.length ? { stop: body.stop_sequences } : {}),
    ...(body.tools?.length
      ? {
          tools: body.tools.map((t) => ({
            type: 'function' as const,
            function: { name: t.name, description: t.description, parameters: t.input_schema },
          })),
        }
      : {}),
    ...(body.tool_choice
      ? {
          tool_choice:
            body.tool_choice.type === 'tool'
              ? { type: 'function' as const, function: { name: body.tool_choice.name! } }
              : CHOICE[body.tool_choice.type],
        }
      : {}),
    ...(body.routing ? { routing: body.routing } : {}),
    ...(body.rag ? { rag: body.rag } : {}),
  };
}

/** Anthropic's `stop_reason` for a finish reason (a stop sequence reads as end_turn: not told apart). */
export function stopReason(f: FinishReason): 'end_turn' | 'max_tokens' | 'tool_use' | 'refusal' {
  return ({ stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', content_filter: 'refusal' } as const)[f];
}

/** The message id of a job. */
export const messageId = (jobId: string) => `msg_${jobId}`;

function parseInput(args: string): unknown {
  try {
    return JSON.parse(args || '{}');
  } catch {
    return {};
  }
}

/** A non-streaming `message`. */
export function messageBody(jobId: string, r: AiResponse) {
  const content = [
    ...(r.message.content ? [{ type: 'text' as const, text: r.message.content }] : []),
    ...(r.message.tool_calls ?? []).map((c) => ({
      type: 'tool_use' as const,
      id: c.id,
      name: c.function.name,
      input: parseInput(c.function.arguments),
    })),
  ];
  return {
    id: messageId(jobId),
    type: 'message' as const,
    role: 'assistant' as const,
    model: r.model,
    content,
    stop_reason: stopReason(r.finishReason),
    stop_sequence: null,
    usage: { input_tokens: r.usage.prompt_tokens, output_tokens: r.usage.completion_tokens },
    stormproof: extensionOf(jobId, r),
  };
}

/** Anthropic's error `type` for an HTTP status. */
export function anthropicErrorType(status: number): string {
  const byStatus: Record<number, string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    403: 'permission_error',
    404: 'not_found_error',
    413: 'request_too_large',
    429: 'rate_limit_error',
    529: 'overloaded_error',
  };
  return byStatus[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** The Anthropic error object, with Stormproof's stable code and anything else under `stormproof`. */
export function anthropicError(status: number, code: ErrorCodeName | string, message: string, extra: Record<string, unknown> = {}) {
  return { type: 'error' as const, error: { type: anthropicErrorType(status), message }, stormproof: { code, ...extra } };
}

/** Sends an Anthropic-shaped error. */
export function sendAnthropicError(
  res: Response,
  status: number,
  code: ErrorCodeName | string,
  message: string,
  extra: Record<string, unknown> = {},
): void {
  res.status(status).json(anthropicError(status, code, message, extra));
}
