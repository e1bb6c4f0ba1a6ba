/**
 * Anthropic messages adapter, built on the official client with its retries off. Maps the
 * OpenAI-shaped gateway request to Anthropic's format and the answer back.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { Message as GatewayMessage, ContentPart, ToolCall } from '../../contracts/request';
import type { ProviderCallResult } from '../../contracts/routing';
import type { TargetConfig } from '../../config/schema';
import { FailureType } from '../../contracts/failures';
import { providerFailure } from './classify';
import { providerModelName, type ProviderAdapter, type ProviderCall, type StreamDelta } from './types';

/** Anthropic requires max_tokens; this is used when the request names none. */
export const DEFAULT_MAX_TOKENS = 4096;

type Block = Record<string, unknown>;
type AnthropicMessage = { role: 'user' | 'assistant'; content: Block[] };

function textOf(content: GatewayMessage['content']): string {
  if (content === null) return '';
  if (typeof content === 'string') return content;
  return content
    .filter((p): p is Extract<ContentPart, { type: 'text' }> => p.type === 'text')
    .map((p) => p.text)
    .join('');
}

function partToBlock(part: ContentPart): Block {
  if (part.type === 'text') return { type: 'text', text: part.text };
  const m = /^data:([^;]+);base64,(.*)$/s.exec(part.image_url.url);
  return m
    ? { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } }
    : { type: 'image', source: { type: 'url', url: part.image_url.url } };
}

/** The Anthropic request body for a gateway request. */
export function toAnthropicBody(call: ProviderCall): Record<string, unknown> {
  const r = call.request;
  const system = r.messages
    .filter((m) => m.role === 'system')
    .map((m) => textOf(m.content))
    .join('\n\n');
  const messages: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    const last = messages[messages.length - 1];
    // Anthropic wants alternating roles; consecutive same-role turns are merged.
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of r.messages) {
    if (m.role === 'system') continue;
    if (m.role === 'tool') {
      push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id ?? '', content: textOf(m.content) }]);
      continue;
    }
    const blocks: Block[] =
      typeof m.content === 'string' ? (m.content ? [{ type: 'text', text: m.content }] : []) : (m.content ?? []).map(partToBlock);
    for (const t of m.tool_calls ?? []) {
      let input: unknown = {};
      try {
        input = JSON.parse(t.function.arguments || '{}');
      } catch {
        input = { raw: t.function.arguments };
      }
      blocks.push({ type: 'tool_use', id: t.id, name: t.function.name, input });
    }
    push(m.role, blocks);
  }
  const body: Record<string, unknown> = {
    model: providerModelName(call.model),
    messages,
    max_tokens: r.max_tokens ?? r.max_completion_tokens ?? DEFAULT_MAX_TOKENS,
  };
  if (system) body.system = system;
  if (r.temperature !== undefined) body.temperature = Math.min(1, r.temperature);
  if (r.top_p !== undefined) body.top_p = r.top_p;
  if (r.stop !== undefined) body.stop_sequences = Array.isArray(r.stop) ? r.stop : [r.stop];
  if (r.tools?.length) {
    body.tools = r.tools.map((t) => ({
      name: t.function.name,
      description: t.function.description,
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
    }));
    const tc = r.tool_choice;
    if (tc === 'required') body.tool_choice = { type: 'any' };
    else if (tc === 'none') body.tool_choice = { type: 'none' };
    else if (typeof tc === 'object') body.tool_choice = { type: 'tool', name: tc.function.name };
  }
  return body;
}

function finishReason(stop: string | null | undefined): ProviderCallResult['finishReason'] {
  if (stop === 'max_tokens') return 'length';
  if (stop === 'tool_use') return 'tool_calls';
  if (stop === 'refusal') return 'content_filter';
  return 'stop';
}

function resultFrom(
  target: TargetConfig,
  modelId: string,
  msg: { id?: string; content: Block[]; stop_reason: string | null; usage: { input_tokens: number; output_tokens: number } },
): ProviderCallResult {
  const text = msg.content
    .filter((b) => b.type === 'text')
    .map((b) => String(b.text))
    .join('');
  const toolCalls: ToolCall[] = msg.content
    .filter((b) => b.type === 'tool_use')
    .map((b) => ({ id: String(b.id), type: 'function', function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } }));
  return {
    target: target.id,
    model: modelId,
    providerId: msg.id,
    message: {
      role: 'assistant',
      content: toolCalls.length && !text ? null : text,
      ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
    },
    finishReason: finishReason(msg.stop_reason),
    usage: {
      prompt_tokens: msg.usage.input_tokens,
      completion_tokens: msg.usage.output_tokens,
      total_tokens: msg.usage.input_tokens + msg.usage.output_tokens,
    },
  };
}

/** Creates the adapter for one Anthropic target. */
export function createAnthropicAdapter(target: TargetConfig, apiKey: string): ProviderAdapter {
  const client = new Anthropic({ apiKey, baseURL: target.baseUrl, maxRetries: 0, timeout: 10 * 60_000 });
  return {
    async complete(call: ProviderCall): Promise<ProviderCallResult> {
      const body = toAnthropicBody(call) as unknown as Anthropic.MessageCreateParamsNonStreaming;
      const msg = await client.messages.create({ ...body, stream: false }, { signal: call.signal });
      return resultFrom(target, call.model.id, msg as unknown as Parameters<typeof resultFrom>[2]);
    },

    async stream(call: ProviderCall, onDelta: (d: StreamDelta) => void): Promise<ProviderCallResult> {
      const body = toAnthropicBody(call) as unknown as Anthropic.MessageCreateParamsStreaming;
      const events = await client.messages.create({ ...body, stream: true }, { signal: call.signal });
      let id: string | undefined;
      let stop: string | null = null;
      let stopped = false;
      const usage = { input_tokens: 0, output_tokens: 0 };
      const blocks: Block[] = [];
      const toolJson = new Map<number, string>();
      for await (const ev of events) {
        switch (ev.type) {
          case 'message_start':
            id = ev.message.id;
            usage.input_tokens = ev.message.usage.input_tokens;
            usage.output_tokens = ev.message.usage.output_tokens;
            break;
          case 'content_block_start':
            blocks[ev.index] = { ...(ev.content_block as unknown as Block) };
            if (ev.content_block.type === 'text') blocks[ev.index].text = '';
            if (ev.content_block.type === 'tool_use') onDelta({ toolCall: true });
            break;
          case 'content_block_delta':
            if (ev.delta.type === 'text_delta') {
              blocks[ev.index].text = String(blocks[ev.index].text ?? '') + ev.delta.text;
              onDelta({ content: ev.delta.text });
            } else if (ev.delta.type === 'input_json_delta') {
              toolJson.set(ev.index, (toolJson.get(ev.index) ?? '') + ev.delta.partial_json);
              onDelta({ toolCall: true });
            }
            break;
          case 'message_delta':
            stop = ev.delta.stop_reason;
            usage.output_tokens = ev.usage.output_tokens;
            break;
          case 'message_stop':
            stopped = true;
            break;
        }
      }
      if (!stopped) throw providerFailure(FailureType.Malformed, 'stream ended without message_stop (truncated answer)', { attempt: 0 });
      for (const [index, json] of toolJson) blocks[index].input = json ? JSON.parse(json) : {};
      return resultFrom(target, call.model.id, { id, content: blocks.filter(Boolean), stop_reason: stop, usage });
    },
  };
}
