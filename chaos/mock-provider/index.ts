/**
 * Mock LLM providers for chaos tests.
 *
 * - `startMockProvider({ kind })` serves OpenAI (`/v1/chat/completions`, `/v1/embeddings`,
 *   `/v1/models`) or Anthropic (`/v1/messages`) wire formats, incl. SSE streaming, so the
 *   official SDKs work against `mock.baseUrl` unchanged.
 * - Answers are deterministic: `"Echo from <model>: <last user text>"`, word-count usage.
 * - Faults (`PUT /__faults` or `setFaults`): down, errorRate/errorStatus/retryAfterS,
 *   latencyMs/jitterMs; streams: stallAfterChunks, malformed/malformedAfterChunks, ttftMs, omitDone;
 *   answers: contextLength, contentFilter, emptyAnswers, garbageAnswers; `models` restricts all of
 *   them to requests for those models (one-model outage, /health keeps passing). Stats at `GET /__stats`.
 * - OpenAI-format mocks do not continue a trailing assistant message (no prefill, like the real API);
 *   they follow a user message asking to continue a cut-off reply (the rest of their answer; the
 *   `continuationFault` knob makes them repeat the last words or start over first). Anthropic mocks
 *   continue a prefill and refuse one ending in whitespace with the real 400.
 */
export { FaultsSchema, FaultState, InvalidFaultsError, validateFaults } from './faults';
export type { AnswerFault, Faults, FaultsValidation } from './faults';
export { startMockProvider } from './server';
export type { MockProvider, MockProviderOptions, MockStats, ProviderKind } from './server';
export {
  openaiError,
  openaiContextLengthError,
  openaiRateLimitMessage,
  applyOpenAIAnswerFault,
  applyOpenAIContinuationFault,
  chatCompletion,
  chatChunks,
  embeddingsResponse,
  modelsList,
  planOpenAIChat,
} from './openai-format';
export type { HttpReply, OpenAIChatPlan } from './openai-format';
export {
  anthropicError,
  anthropicContextLengthError,
  applyAnthropicAnswerFault,
  anthropicErrorType,
  anthropicMessage,
  anthropicStreamEvents,
  planAnthropicMessages,
} from './anthropic-format';
export type { AnthropicEvent, AnthropicPlan } from './anthropic-format';
export { countWords, echoAnswer, embed, floatsToBase64 } from './echo';
