/**
 * Builders for Anthropic Messages API wire objects: messages, stream
 * events and error bodies.
 */
import {
  continueAnswer,
  contentText,
  contentWords,
  echoAnswer,
  emptyAnswer,
  garbageAnswer,
  textParts,
  wantsTool,
  type EchoAnswer,
} from './echo';
import type { HttpReply } from './openai-format';

type Json = Record<string, unknown>;

/** Anthropic error `type` for an HTTP status. */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

function defaultMessage(type: string, status: number): string {
  switch (type) {
    case 'authentication_error':
      return 'invalid x-api-key';
    case 'rate_limit_error':
      return (
        'This request would exceed the rate limit for your organization of 50 requests per minute. ' +
        'For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. ' +
        'Please reduce the request rate or try again later.'
      );
    case 'overloaded_error':
      return 'Overloaded';
    case 'timeout_error':
      return 'Request timed out';
    case 'request_too_large':
      return 'Request exceeds the maximum allowed number of bytes.';
    case 'api_error':
      return 'Internal server error';
    default:
      return `Request failed with status ${status}.`;
  }
}

/** Anthropic error body `{"type":"error","error":{"type","message"},"request_id"}`. */
export function anthropicError(status: number, message?: string, requestId?: string): HttpReply {
  const type = anthropicErrorType(status);
  const body: Json = { type: 'error', error: { type, message: message ?? defaultMessage(type, status) } };
  if (requestId) body.request_id = requestId;
  return { status, body };
}

/** Context window the mock claims in the prompt-too-long error. */
const CONTEXT_TOKENS = 200000;

/** The real 400 for a prompt over the context window; the reported count always exceeds it. */
export function anthropicContextLengthError(inputTokens: number, requestId?: string): HttpReply {
  const n = CONTEXT_TOKENS + inputTokens + 1;
  return anthropicError(400, `prompt is too long: ${n} tokens > ${CONTEXT_TOKENS} maximum`, requestId);
}

/** What the mock decided to answer for a messages request. */
export interface AnthropicPlan {
  model: string;
  stream: boolean;
  inputTokens: number;
  answer: EchoAnswer;
  maxTokens: number;
  /** Set when the answer is a tool_use of the first tool. */
  toolUse?: { id: string; name: string };
  /** Set by the contentFilter fault: stop_reason "refusal". */
  refused?: boolean;
}

function isToolResultMessage(m: Json | undefined): boolean {
  return Array.isArray(m?.content) && (m.content as Json[]).some((p) => p?.type === 'tool_result');
}

/**
 * Validates a messages request (model, non-empty messages, max_tokens) and
 * computes the deterministic answer, or returns an error reply.
 */
export function planAnthropicMessages(body: unknown, nextToolId: () => number): AnthropicPlan | HttpReply {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return anthropicError(400, 'Request body must be a JSON object.');
  }
  const b = body as Json;
  if (typeof b.model !== 'string' || b.model === '') return anthropicError(400, 'model: Field required');
  if (!Array.isArray(b.messages)) return anthropicError(400, 'messages: Field required');
  if (b.messages.length === 0) return anthropicError(400, 'messages: at least one message is required');
  if (b.max_tokens === undefined) return anthropicError(400, 'max_tokens: Field required');
  if (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens) || b.max_tokens < 1) {
    return anthropicError(400, 'max_tokens: Input should be a valid integer greater than or equal to 1');
  }
  const messages = b.messages as Json[];
  const final = messages[messages.length - 1];
  // The real API refuses a prefill ending in whitespace (the model cannot continue "mid-token").
  if (final?.role === 'assistant' && /\s$/.test(contentText(final.content))) {
    return anthropicError(400, 'messages: final assistant content cannot end with trailing whitespace');
  }
  let inputTokens = contentWords(b.system);
  for (const m of messages) inputTokens += contentWords(m?.content);
  // Last user message that carries text (skips pure tool_result turns).
  let lastUserText = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user' && textParts(messages[i].content).length > 0 && !isToolResultMessage(messages[i])) {
      lastUserText = contentText(messages[i].content);
      break;
    }
  }
  const plan: AnthropicPlan = {
    model: b.model,
    stream: b.stream === true,
    inputTokens,
    answer: echoAnswer(b.model, lastUserText, b.max_tokens),
    maxTokens: b.max_tokens,
  };
  const tools = Array.isArray(b.tools) ? (b.tools as Json[]) : [];
  const toolName = tools[0]?.name;
  const last = messages[messages.length - 1];
  // A trailing assistant message is a prefill: the answer continues from it.
  if (last?.role === 'assistant' && contentText(last.content)) plan.answer = continueAnswer(plan.answer, contentText(last.content));
  const choice = (b.tool_choice as Json | undefined)?.type;
  if (typeof toolName === 'string' && choice !== 'none' && last?.role === 'user' && !isToolResultMessage(last) && wantsTool(lastUserText)) {
    plan.toolUse = { id: `toolu_${nextToolId()}`, name: toolName };
  }
  return plan;
}

/**
 * Replaces a planned answer by a faulty one: refused (stop_reason "refusal", no content blocks), empty
 * (no content blocks, end_turn, as the real API answers when the model says nothing) or garbage text.
 */
export function applyAnthropicAnswerFault(plan: AnthropicPlan, fault: 'contentFilter' | 'empty' | 'garbage'): void {
  plan.toolUse = undefined;
  plan.answer = fault === 'garbage' ? garbageAnswer(plan.maxTokens) : emptyAnswer();
  if (fault === 'contentFilter') plan.refused = true;
}

function stopReason(plan: AnthropicPlan): string {
  if (plan.refused) return 'refusal';
  if (plan.toolUse) return 'tool_use';
  return plan.answer.truncated ? 'max_tokens' : 'end_turn';
}

function outputTokens(plan: AnthropicPlan): number {
  return plan.toolUse ? 1 : plan.answer.tokens;
}

/** Non-streaming `message` object. */
export function anthropicMessage(plan: AnthropicPlan, id: string): Json {
  const content = plan.toolUse
    ? [{ type: 'tool_use', id: plan.toolUse.id, name: plan.toolUse.name, input: {} }]
    : hasText(plan)
      ? [{ type: 'text', text: plan.answer.text }]
      : [];
  const msg: Json = {
    id,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content,
    stop_reason: stopReason(plan),
    stop_sequence: null,
    usage: { input_tokens: plan.inputTokens, output_tokens: outputTokens(plan) },
  };
  if (plan.refused) msg.stop_details = REFUSAL_DETAILS;
  return msg;
}

/** `stop_details` of a refusal (the category is not always named). */
const REFUSAL_DETAILS = { type: 'refusal', category: null, explanation: null };

/** False for empty and refused answers: the real API then sends no content block at all. */
function hasText(plan: AnthropicPlan): boolean {
  return !plan.refused && plan.answer.pieces.length > 0;
}

/** One server-sent event of the Anthropic stream. */
export interface AnthropicEvent {
  event: string;
  data: Json;
}

/**
 * The SSE events of a streamed answer, in order: message_start,
 * content_block_start, ping, content_block_delta*, content_block_stop,
 * message_delta, message_stop.
 */
export function anthropicStreamEvents(plan: AnthropicPlan, id: string): AnthropicEvent[] {
  const ev = (event: string, data: Json): AnthropicEvent => ({ event, data: { type: event, ...data } });
  const out: AnthropicEvent[] = [
    ev('message_start', {
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model: plan.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: plan.inputTokens, output_tokens: 1 },
      },
    }),
  ];
  if (plan.toolUse) {
    out.push(
      ev('content_block_start', { index: 0, content_block: { type: 'tool_use', id: plan.toolUse.id, name: plan.toolUse.name, input: {} } }),
    );
    out.push(ev('ping', {}));
    out.push(ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '' } }));
    out.push(ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{}' } }));
  } else if (hasText(plan)) {
    out.push(ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }));
    out.push(ev('ping', {}));
    for (const piece of plan.answer.pieces) {
      out.push(ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: piece } }));
    }
  } else {
    out.push(ev('ping', {}));
  }
  if (plan.toolUse || hasText(plan)) out.push(ev('content_block_stop', { index: 0 }));
  const delta: Json = { stop_reason: stopReason(plan), stop_sequence: null };
  if (plan.refused) delta.stop_details = REFUSAL_DETAILS;
  out.push(ev('message_delta', { delta, usage: { output_tokens: outputTokens(plan) } }));
  out.push(ev('message_stop', {}));
  return out;
}
