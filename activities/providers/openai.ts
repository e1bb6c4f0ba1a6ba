/**
 * OpenAI chat completions adapter, built on the official client with its retries off (Temporal
 * owns retries). It is also the base of every OpenAI-compatible (self-hosted) target.
 */
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import type { ToolCall } from '../../contracts/request';
import type { ProviderCallResult } from '../../contracts/routing';
import type { TargetConfig } from '../../config/schema';
import { FailureType } from '../../contracts/failures';
import { providerFailure } from './classify';
import { providerModelName, type ProviderAdapter, type ProviderCall, type StreamDelta } from './types';

type FinishReason = ProviderCallResult['finishReason'];

function finishReason(reason: string | null | undefined): FinishReason {
  if (reason === 'length' || reason === 'tool_calls' || reason === 'content_filter') return reason;
  if (reason === 'function_call') return 'tool_calls';
  return 'stop';
}

/** The OpenAI request body for a gateway request. */
export function toOpenAiBody(call: ProviderCall): ChatCompletionCreateParams {
  const r = call.request;
  const body: Record<string, unknown> = { model: providerModelName(call.model), messages: r.messages };
  for (const key of [
    'tools',
    'tool_choice',
    'max_tokens',
    'max_completion_tokens',
    'temperature',
    'top_p',
    'stop',
    'response_format',
    'user',
  ] as const) {
    if (r[key] !== undefined) body[key] = r[key];
  }
  return body as unknown as ChatCompletionCreateParams;
}

/** Creates the adapter for one OpenAI-format target. */
export function createOpenAiAdapter(target: TargetConfig, apiKey: string): ProviderAdapter {
  // One client per target: connection reuse matters at tens of ms per request.
  const client = new OpenAI({ apiKey, baseURL: target.baseUrl, maxRetries: 0, timeout: 10 * 60_000 });
  return {
    async complete(call: ProviderCall): Promise<ProviderCallResult> {
      const res = await client.chat.completions.create({ ...toOpenAiBody(call), stream: false }, { signal: call.signal });
      const choice = res.choices[0];
      if (!choice) throw providerFailure(FailureType.Malformed, 'answer has no choices', { attempt: 0 });
      const toolCalls = choice.message.tool_calls
        ?.filter((t) => t.type === 'function')
        .map((t) => ({ id: t.id, type: 'function' as const, function: { name: t.function.name, arguments: t.function.arguments } }));
      return {
        target: target.id,
        model: call.model.id,
        providerId: res.id,
        message: { role: 'assistant', content: choice.message.content ?? null, ...(toolCalls?.length ? { tool_calls: toolCalls } : {}) },
        finishReason: finishReason(choice.finish_reason),
        usage: {
          prompt_tokens: res.usage?.prompt_tokens ?? 0,
          completion_tokens: res.usage?.completion_tokens ?? 0,
          total_tokens: res.usage?.total_tokens ?? 0,
        },
      };
    },

    async stream(call: ProviderCall, onDelta: (d: StreamDelta) => void): Promise<ProviderCallResult> {
      const stream = await client.chat.completions.create(
        { ...toOpenAiBody(call), stream: true, stream_options: { include_usage: true } },
        { signal: call.signal },
      );
      let content = '';
      let id: string | undefined;
      let reason: string | null | undefined;
      let usage: ChatCompletionChunk['usage'] | undefined;
      const tools = new Map<number, ToolCall>();
      for await (const chunk of stream) {
        id ??= chunk.id;
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices[0];
        if (!choice) continue;
        if (choice.finish_reason) reason = choice.finish_reason;
        const delta = choice.delta;
        if (delta?.content) {
          content += delta.content;
          onDelta({ content: delta.content });
        }
        if (delta?.tool_calls?.length) onDelta({ toolCall: true });
        for (const t of delta?.tool_calls ?? []) {
          const cur = tools.get(t.index) ?? { id: t.id ?? '', type: 'function' as const, function: { name: '', arguments: '' } };
          if (t.id) cur.id = t.id;
          if (t.function?.name) cur.function.name += t.function.name;
          if (t.function?.arguments) cur.function.arguments += t.function.arguments;
          tools.set(t.index, cur);
        }
      }
      if (!reason) throw providerFailure(FailureType.Malformed, 'stream ended without a finish reason (truncated answer)', { attempt: 0 });
      const toolCalls = [...tools.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t);
      return {
        target: target.id,
        model: call.model.id,
        providerId: id,
        message: {
          role: 'assistant',
          content: toolCalls.length && !content ? null : content,
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
        },
        finishReason: finishReason(reason),
        usage: {
          prompt_tokens: usage?.prompt_tokens ?? 0,
          completion_tokens: usage?.completion_tokens ?? 0,
          total_tokens: usage?.total_tokens ?? 0,
        },
      };
    },
  };
}
