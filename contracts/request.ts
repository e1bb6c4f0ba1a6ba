/**
 * The standard interface every request enters by: shaped like an OpenAI chat request, plus
 * Stormproof's own `rag` and `routing`. Pure zod; imports nothing from Node, so workflows may use it.
 */
import { z } from 'zod';

/** A text part of a multi-part message. */
export const TextPartSchema = z.object({ type: z.literal('text'), text: z.string() });
/** An image part (vision); a URL or a data: URI. */
export const ImagePartSchema = z.object({
  type: z.literal('image_url'),
  image_url: z.object({ url: z.string().min(1), detail: z.enum(['auto', 'low', 'high']).optional() }),
});
export const ContentPartSchema = z.discriminatedUnion('type', [TextPartSchema, ImagePartSchema]);
export type ContentPart = z.infer<typeof ContentPartSchema>;

/** A tool call the assistant asked for (OpenAI shape). */
export const ToolCallSchema = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});
export type ToolCall = z.infer<typeof ToolCallSchema>;

/** One chat message (OpenAI shape). */
export const MessageSchema = z.object({
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(ContentPartSchema), z.null()]),
  name: z.string().optional(),
  tool_calls: z.array(ToolCallSchema).optional(),
  tool_call_id: z.string().optional(),
});
export type Message = z.infer<typeof MessageSchema>;

/** A function tool the model may call (OpenAI shape). */
export const ToolSchema = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'tool names are 1-64 letters, digits, _ or -'),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type Tool = z.infer<typeof ToolSchema>;

/** Routing strategies the selector knows. */
export const StrategySchema = z.enum(['priority', 'weighted', 'latency', 'cost']);
export type Strategy = z.infer<typeof StrategySchema>;

// #region guide:request-routing
/** Stormproof's per-request routing options. */
export const RoutingSchema = z
  .object({
    strategy: StrategySchema.optional(),
    maxCostUsd: z.number().positive().optional(),
    latencySloMs: z.number().int().positive().optional(),
    /** false: never answer with a lower tier, a different mode or degraded data. */
    allowDegradation: z.boolean().optional(),
    /**
     * Capabilities the caller accepts losing when only a lower model can answer (e.g. ["tools"]:
     * a tool-less model may answer without the tools). The answer's degradations say so.
     */
    allowDrop: z.array(z.enum(['tools', 'vision', 'json'])).optional(),
    /** true: only the named model may answer, not an equivalent of its tier. */
    pinModel: z.boolean().optional(),
  })
  .strict();
// #endregion guide:request-routing
export type Routing = z.infer<typeof RoutingSchema>;

/** Retrieval-augmented generation: passages from `collection` go into the prompt. */
export const RagSchema = z
  .object({
    collection: z.string().min(1),
    query: z.string().min(1).optional(),
    topK: z.number().int().min(1).max(50).optional(),
  })
  .strict();
export type Rag = z.infer<typeof RagSchema>;

/**
 * An AI request. Unknown top-level fields are rejected (a typo must not silently change
 * behaviour); the OpenAI fields a client commonly sends are accepted.
 */
export const AiRequestSchema = z
  .object({
    model: z.string().min(1, 'name a model (e.g. gpt-4o) or a tier (e.g. smart)'),
    messages: z.array(MessageSchema).min(1, 'at least one message is required'),
    tools: z.array(ToolSchema).optional(),
    tool_choice: z
      .union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })])
      .optional(),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).optional(),
    max_tokens: z.number().int().positive().optional(),
    max_completion_tokens: z.number().int().positive().optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    stop: z.union([z.string(), z.array(z.string())]).optional(),
    response_format: z
      .object({ type: z.enum(['text', 'json_object', 'json_schema']) })
      .passthrough()
      .optional(),
    user: z.string().optional(),
    rag: RagSchema.optional(),
    routing: RoutingSchema.optional(),
  })
  .strict();
export type AiRequest = z.infer<typeof AiRequestSchema>;
