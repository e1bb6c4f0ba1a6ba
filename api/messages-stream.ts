/**
 * A streaming `POST /v1/messages` answer. The rules of a stream (which try's tokens reach the
 * client, the end from the durable result, an explicit error instead of a truncated answer) live
 * in ChatStream, which writes OpenAI chunks; this writer stands where ChatStream expects its
 * response and turns those chunks into the Anthropic events (`message_start`,
 * `content_block_start/delta/stop`, `message_delta`, `message_stop`, or an `error` event), so both
 * endpoints follow one set of rules.
 *
 * A stream continued on another target (the chat chunk without choices whose `stormproof.continued`
 * says from where to where) becomes a `stormproof_continued` event. The Messages API tells clients
 * to expect new event types, and the official SDK passes an unknown one on untouched: `create({
 * stream: true })` yields it, `messages.stream()` emits it as a `streamEvent` and leaves the message
 * as it is (node_modules/@anthropic-ai/sdk: core/streaming.js, lib/MessageStream.js). A resumable
 * stream's SSE ids (`<characters so far>.<hash>`) go on the text deltas.
 */
import type { Response } from 'express';
import { anthropicError, messageId, sendAnthropicError, stopReason } from './messages-format';
import type { FinishReason } from '../contracts/response';

interface Chunk {
  model?: string;
  choices?: Array<{
    delta?: {
      role?: string;
      content?: string | null;
      tool_calls?: Array<{ id?: string; function?: { name?: string; arguments?: string } }>;
    };
    finish_reason?: string | null;
  }>;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  stormproof?: { continued?: unknown };
  error?: { message: string; type: string; code: string; stormproof?: Record<string, unknown> };
}

/** OpenAI's error types back to an HTTP status, for the Anthropic error type. */
const STATUS_OF: Record<string, number> = {
  authentication_error: 401,
  permission_error: 403,
  rate_limit_error: 429,
  server_error: 502,
  invalid_request_error: 400,
};

/** The Response surface ChatStream writes to, translated to Anthropic events on the real response. */
export class AnthropicEventWriter {
  private status_ = 200;
  private started = false;
  private block = -1;
  /** The content block being written, if one is open. */
  private open?: 'text' | 'tool_use';
  private finish: FinishReason = 'stop';
  private delta = false;

  constructor(
    private readonly res: Response,
    private readonly jobId: string,
  ) {}

  /** This writer as the `Response` ChatStream takes (it uses only the members below). */
  asResponse(): Response {
    return this as unknown as Response;
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }
  get writableEnded(): boolean {
    return this.res.writableEnded;
  }
  get destroyed(): boolean {
    return this.res.destroyed;
  }
  status(code: number): this {
    this.status_ = code;
    this.res.status(code);
    return this;
  }
  setHeader(name: string, value: string | number | readonly string[]): this {
    this.res.setHeader(name, value);
    return this;
  }
  hasHeader(name: string): boolean {
    return this.res.hasHeader(name);
  }
  flushHeaders(): void {
    this.res.flushHeaders();
  }
  /** An error before the stream opened (OpenAI shape in, Anthropic shape out). */
  json(body: Chunk): void {
    const e = body.error;
    sendAnthropicError(this.res, this.status_, e?.code ?? 'STORMPROOF_ERR_INTERNAL', e?.message ?? 'error', e?.stormproof ?? {});
  }
  end(): void {
    this.res.end();
  }

  /** One OpenAI SSE frame (`[id: …\n]data: …\n\n`) in, zero or more Anthropic events out. */
  write(frame: string): boolean {
    const id = /^id: (.*)\n/.exec(frame)?.[1];
    const data = frame
      .replace(/^id: .*\n/, '')
      .replace(/^data: /, '')
      .trim();
    if (data === '[DONE]') {
      if (!this.delta) this.messageDelta();
      this.event('message_stop', { type: 'message_stop' });
      return true;
    }
    const chunk = JSON.parse(data) as Chunk;
    if (chunk.error) {
      const { message, type, code, stormproof } = chunk.error;
      this.event('error', anthropicError(STATUS_OF[type] ?? 502, code, message, stormproof ?? {}));
      return true;
    }
    const choice = chunk.choices?.[0];
    if (!this.started) this.start(chunk.model ?? '');
    if (chunk.stormproof?.continued) {
      // Between two text deltas of the same block: the answer reads as one text.
      this.event('stormproof_continued', { type: 'stormproof_continued', stormproof: chunk.stormproof });
    }
    if (choice?.delta?.content) {
      if (this.open !== 'text') this.openBlock({ type: 'text', text: '' });
      this.event(
        'content_block_delta',
        { type: 'content_block_delta', index: this.block, delta: { type: 'text_delta', text: choice.delta.content } },
        id,
      );
    }
    for (const call of choice?.delta?.tool_calls ?? []) {
      this.openBlock({ type: 'tool_use', id: call.id, name: call.function?.name, input: {} });
      this.event('content_block_delta', {
        type: 'content_block_delta',
        index: this.block,
        delta: { type: 'input_json_delta', partial_json: call.function?.arguments ?? '' },
      });
      this.closeBlock();
    }
    if (choice?.finish_reason) {
      this.finish = choice.finish_reason as FinishReason;
      this.closeBlock();
    }
    if (chunk.usage) this.messageDelta(chunk.usage, chunk.stormproof);
    return true;
  }

  private start(model: string): void {
    this.started = true;
    const message = {
      id: messageId(this.jobId),
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 0, output_tokens: 0 },
    };
    this.event('message_start', { type: 'message_start', message });
  }

  private openBlock(block: { type: 'text' | 'tool_use' } & Record<string, unknown>): void {
    this.closeBlock();
    this.block += 1;
    this.open = block.type;
    this.event('content_block_start', { type: 'content_block_start', index: this.block, content_block: block });
  }

  private closeBlock(): void {
    if (!this.open) return;
    this.event('content_block_stop', { type: 'content_block_stop', index: this.block });
    this.open = undefined;
  }

  private messageDelta(usage?: Chunk['usage'], stormproof?: unknown): void {
    this.closeBlock();
    this.delta = true;
    const u = usage ? { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens } : { output_tokens: 0 };
    this.event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason(this.finish), stop_sequence: null },
      usage: u,
      ...(stormproof ? { stormproof } : {}),
    });
  }

  private event(name: string, data: unknown, id?: string): void {
    if (!this.res.writableEnded) this.res.write(`${id ? `id: ${id}\n` : ''}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
