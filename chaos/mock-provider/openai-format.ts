/**
 * Builders for OpenAI wire objects: chat completions, stream chunks,
 * embeddings, model lists and error bodies.
 */
import {
  continueAnswer,
  contentText,
  contentWords,
  countWords,
  echoAnswer,
  embed,
  emptyAnswer,
  floatsToBase64,
  garbageAnswer,
  imperfectContinuation,
  textAnswer,
  wantsTool,
  type ContinuationFault,
  type EchoAnswer,
} from './echo';

type Json = Record<string, unknown>;

/** An HTTP status plus JSON body ready to send. */
export interface HttpReply {
  status: number;
  body: unknown;
}

/** OpenAI error `type` and `code` for a status. */
function openaiErrorKind(status: number): { type: string; code: string | null } {
  if (status === 401) return { type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 429) return { type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { type: 'server_error', code: null };
  return { type: 'invalid_request_error', code: null };
}

/** Default message for an injected/status-only error (the texts the real API sends). */
function defaultMessage(status: number): string {
  if (status === 401) return 'Incorrect API key provided.';
  if (status === 429) return openaiRateLimitMessage(undefined);
  if (status === 502) return 'Bad gateway.';
  if (status === 503) return 'The server is overloaded or not ready yet.';
  if (status >= 500) return 'The server had an error while processing your request. Sorry about that!';
  return `Request failed with status ${status}.`;
}

/** The real 429 message (requests-per-minute limit), naming the model when known. */
export function openaiRateLimitMessage(model: string | undefined): string {
  return (
    `Rate limit reached for ${model ?? 'requests'} in organization org-mock on requests per min (RPM): Limit 500, Used 500, ` +
    'Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.'
  );
}

/** Context window the mock claims for chat models in the context-length error. */
const CHAT_CONTEXT_TOKENS = 128000;
/** Context window the mock claims for embedding models. */
const EMBEDDING_CONTEXT_TOKENS = 8192;

/**
 * The real 400 for a prompt over the context window: chat completions say `code: context_length_exceeded`,
 * `param: messages`; embeddings use the older text with `param`/`code` null. `promptTokens` is what the
 * mock counted; the reported total always exceeds the window.
 */
export function openaiContextLengthError(route: 'chat' | 'embeddings', promptTokens: number): HttpReply {
  if (route === 'embeddings') {
    const n = EMBEDDING_CONTEXT_TOKENS + promptTokens + 1;
    const msg =
      `This model's maximum context length is ${EMBEDDING_CONTEXT_TOKENS} tokens, however you requested ${n} tokens ` +
      `(${n} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`;
    return openaiError(400, msg, null, null);
  }
  const n = CHAT_CONTEXT_TOKENS + promptTokens + 1;
  const msg =
    `This model's maximum context length is ${CHAT_CONTEXT_TOKENS} tokens. However, your messages resulted in ${n} tokens. ` +
    'Please reduce the length of the messages.';
  return openaiError(400, msg, 'messages', 'context_length_exceeded');
}

/**
 * OpenAI error body `{"error":{"message","type","param","code"}}` for `status`.
 */
export function openaiError(status: number, message?: string, param: string | null = null, code?: string | null): HttpReply {
  const kind = openaiErrorKind(status);
  return {
    status,
    body: {
      error: { message: message ?? defaultMessage(status), type: kind.type, param, code: code === undefined ? kind.code : code },
    },
  };
}

/**
 * The text of a cut-off reply the model is asked to continue: the conversation ends with that
 * reply as the assistant's turn and a user message asking to continue it. Undefined otherwise.
 */
function continuationAsked(messages: Json[]): string | undefined {
  const [reply, ask] = messages.slice(-2);
  if (messages.length < 3 || reply?.role !== 'assistant' || ask?.role !== 'user') return undefined;
  const text = contentText(reply.content);
  return text && /\bcontinue\b/i.test(contentText(ask.content)) ? text : undefined;
}

/** What the mock decided to answer for a chat completion request. */
export interface OpenAIChatPlan {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  promptTokens: number;
  answer: EchoAnswer;
  /** The request asked for JSON (`response_format` json_object / json_schema). */
  jsonMode: boolean;
  /** max_completion_tokens / max_tokens, if given. */
  maxTokens?: number;
  /** Set when the answer is a call to the first tool. */
  toolCall?: { id: string; name: string };
  /** Set by the contentFilter fault: finish_reason "content_filter" and no content. */
  filtered?: boolean;
  /** Set when the model was asked to continue this cut-off reply (the answer is its rest). */
  continuationOf?: string;
}

function firstToolName(tools: unknown): string | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  const t = tools[0] as Json;
  const fn = t?.function as Json | undefined;
  const name = fn?.name ?? (t?.custom as Json | undefined)?.name ?? t?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Validates a chat completion request and computes the deterministic answer.
 * Returns an error reply for invalid requests (missing model, missing/empty messages).
 */
export function planOpenAIChat(body: unknown, nextToolId: () => number): OpenAIChatPlan | HttpReply {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return openaiError(400, 'We could not parse the JSON body of your request.');
  }
  const b = body as Json;
  if (typeof b.model !== 'string' || b.model === '') {
    return openaiError(400, "Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  }
  if (!Array.isArray(b.messages) || b.messages.length === 0) {
    const msg = Array.isArray(b.messages)
      ? "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
      : "Missing required parameter: 'messages'.";
    return openaiError(400, msg, 'messages', Array.isArray(b.messages) ? 'empty_array' : 'missing_required_parameter');
  }
  const messages = b.messages as Json[];
  let promptTokens = 0;
  for (const m of messages) promptTokens += contentWords(m?.content);
  const lastUserBefore = (end: number): string => {
    for (let i = end - 1; i >= 0; i--) if (messages[i]?.role === 'user') return contentText(messages[i].content);
    return '';
  };
  const lastUserText = lastUserBefore(messages.length);
  const continuation = continuationAsked(messages);
  const model = b.model;
  const rawMax = b.max_completion_tokens ?? b.max_tokens;
  const maxTokens = typeof rawMax === 'number' ? rawMax : undefined;
  const streamOptions = b.stream_options as Json | undefined;
  const format = (b.response_format as Json | undefined)?.type;
  const plan: OpenAIChatPlan = {
    model,
    stream: b.stream === true,
    includeUsage: b.stream === true && streamOptions?.include_usage === true,
    promptTokens,
    // A trailing assistant message is NOT continued: the real Chat Completions API has no prefill and
    // treats it as earlier context, answering afresh. So the mock answers the last user message in full
    // (unless that user message asks to continue the reply before it, see continuationAsked).
    // JSON mode answers JSON, as the real API guarantees: the echo wrapped in an object.
    answer:
      format === 'json_object' || format === 'json_schema'
        ? textAnswer(JSON.stringify({ echo: `Echo from ${model}: ${lastUserText}` }), maxTokens)
        : echoAnswer(model, lastUserText, maxTokens),
    jsonMode: format === 'json_object' || format === 'json_schema',
    maxTokens,
  };
  if (continuation !== undefined) {
    // Asked to continue its cut-off reply: the rest of its own answer to the question before it.
    const full = echoAnswer(model, lastUserBefore(messages.length - 2), maxTokens);
    plan.answer = continueAnswer(full, continuation);
    plan.continuationOf = continuation;
  }
  const toolName = firstToolName(b.tools);
  const lastRole = messages[messages.length - 1]?.role;
  if (toolName && b.tool_choice !== 'none' && lastRole === 'user' && wantsTool(lastUserText)) {
    plan.toolCall = { id: `call_${nextToolId()}`, name: toolName };
  }
  return plan;
}

/**
 * Replaces a planned answer by a faulty one: content filtered (finish_reason content_filter, content null),
 * empty (content "", finish_reason stop) or garbage (nonsense, invalid JSON even in JSON mode). No tool calls.
 */
export function applyOpenAIAnswerFault(plan: OpenAIChatPlan, fault: 'contentFilter' | 'empty' | 'garbage'): void {
  plan.toolCall = undefined;
  plan.answer = fault === 'garbage' ? garbageAnswer(plan.maxTokens, plan.jsonMode) : emptyAnswer();
  if (fault === 'contentFilter') plan.filtered = true;
}

/** Makes the model an imperfect follower of a continuation instruction (repeats, or starts over). */
export function applyOpenAIContinuationFault(plan: OpenAIChatPlan, fault: ContinuationFault): void {
  if (plan.continuationOf !== undefined) plan.answer = imperfectContinuation(plan.answer, plan.continuationOf, fault);
}

function finishReason(plan: OpenAIChatPlan): string {
  if (plan.filtered) return 'content_filter';
  if (plan.toolCall) return 'tool_calls';
  return plan.answer.truncated ? 'length' : 'stop';
}

function usage(plan: OpenAIChatPlan): Json {
  const completion = plan.toolCall ? 1 : plan.answer.tokens;
  return { prompt_tokens: plan.promptTokens, completion_tokens: completion, total_tokens: plan.promptTokens + completion };
}

/** Non-streaming `chat.completion` object. */
export function chatCompletion(plan: OpenAIChatPlan, id: string, created: number): Json {
  const message: Json = { role: 'assistant', content: plan.toolCall || plan.filtered ? null : plan.answer.text, refusal: null };
  if (plan.toolCall) {
    message.tool_calls = [{ id: plan.toolCall.id, type: 'function', function: { name: plan.toolCall.name, arguments: '{}' } }];
  }
  return {
    id,
    object: 'chat.completion',
    created,
    model: plan.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(plan) }],
    usage: usage(plan),
    system_fingerprint: null,
  };
}

/**
 * The `chat.completion.chunk` objects of a streamed answer, in order
 * (role chunk, content/tool chunks, finish chunk, optional usage chunk).
 * The caller appends `data: [DONE]`.
 */
export function chatChunks(plan: OpenAIChatPlan, id: string, created: number): Json[] {
  const chunk = (delta: Json, finish: string | null): Json => {
    const c: Json = {
      id,
      object: 'chat.completion.chunk',
      created,
      model: plan.model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    };
    if (plan.includeUsage) c.usage = null;
    return c;
  };
  const out: Json[] = [];
  if (plan.toolCall) {
    const { id: callId, name } = plan.toolCall;
    out.push(
      chunk(
        { role: 'assistant', content: null, tool_calls: [{ index: 0, id: callId, type: 'function', function: { name, arguments: '' } }] },
        null,
      ),
    );
    out.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{}' } }] }, null));
  } else {
    out.push(chunk({ role: 'assistant', content: '', refusal: null }, null));
    for (const piece of plan.answer.pieces) out.push(chunk({ content: piece }, null));
  }
  out.push(chunk({}, finishReason(plan)));
  if (plan.includeUsage) {
    out.push({ ...chunk({}, null), choices: [], usage: usage(plan) });
  }
  return out;
}

/**
 * Embeddings response for `input` (string, string[], or token arrays), with
 * `dimensions` (default 64) and `encoding_format` ("float" or "base64").
 */
export function embeddingsResponse(body: unknown): HttpReply {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return openaiError(400, 'We could not parse the JSON body of your request.');
  }
  const b = body as Json;
  if (typeof b.model !== 'string' || b.model === '') {
    return openaiError(400, "Missing required parameter: 'model'.", 'model', 'missing_required_parameter');
  }
  let inputs: string[];
  const input = b.input;
  if (typeof input === 'string') inputs = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number')) inputs = [input.join(' ')];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) inputs = input as string[];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => Array.isArray(x)))
    inputs = input.map((x) => (x as unknown[]).join(' '));
  else
    return openaiError(
      400,
      "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
      'input',
    );
  if (inputs.some((s) => s === '')) return openaiError(400, "'$.input' is invalid: empty string.", 'input');
  const dims = b.dimensions ?? 64;
  if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > 4096) {
    return openaiError(400, `Invalid 'dimensions': ${JSON.stringify(dims)}.`, 'dimensions');
  }
  const format = b.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    return openaiError(400, `Invalid 'encoding_format': ${JSON.stringify(format)}.`, 'encoding_format');
  }
  const tokens = inputs.reduce((n, s) => n + countWords(s), 0);
  return {
    status: 200,
    body: {
      object: 'list',
      data: inputs.map((s, index) => {
        const v = embed(s, dims);
        return { object: 'embedding', index, embedding: format === 'base64' ? floatsToBase64(v) : v };
      }),
      model: b.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    },
  };
}

/** `GET /v1/models` list body. */
export function modelsList(models: string[], created: number): Json {
  return {
    object: 'list',
    data: models.map((id) => ({ id, object: 'model', created, owned_by: 'mock' })),
  };
}
