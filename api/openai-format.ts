/** OpenAI wire objects built from Stormproof answers: completions, stream chunks, headers. */
import type { Response } from 'express';
import type { AiResponse, Attempt, Degradation } from '../contracts/response';

/** The `stormproof` extension object on answers and on a stream's last chunk. */
export interface StormproofExtension {
  job_id: string;
  target: string;
  /** The request's failovers, as its trace counts them (AiResponse.failovers). */
  failovers: number;
  attempts: Attempt[];
  degradations: Degradation[];
  /** RAG: the sources of the passages put into the prompt, best first. */
  sources?: string[];
}

/** `x-stormproof-degraded`: the degradation kinds, comma-separated, or `false`. */
export function degradedHeader(degradations: Degradation[]): string {
  return degradations.length ? [...new Set(degradations.map((d) => d.kind))].join(',') : 'false';
}

/** Sets the headers known once the answer exists. */
export function setAnswerHeaders(res: Response, r: AiResponse): void {
  res.setHeader('x-stormproof-target', r.target);
  res.setHeader('x-stormproof-failovers', String(r.failovers));
  res.setHeader('x-stormproof-degraded', degradedHeader(r.degradations));
}

/** The extension object for an answer. */
export function extensionOf(jobId: string, r: AiResponse): StormproofExtension {
  return {
    job_id: jobId,
    target: r.target,
    failovers: r.failovers,
    attempts: r.attempts,
    degradations: r.degradations,
    ...(r.sources ? { sources: r.sources } : {}),
  };
}

/** The OpenAI completion id of a job. */
export function completionId(jobId: string): string {
  return `chatcmpl-${jobId}`;
}

/** A non-streaming `chat.completion`. */
export function chatCompletionBody(jobId: string, r: AiResponse, created: number) {
  return {
    id: completionId(jobId),
    object: 'chat.completion' as const,
    created,
    model: r.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant' as const,
          content: r.message.content,
          refusal: null,
          ...(r.message.tool_calls?.length ? { tool_calls: r.message.tool_calls } : {}),
        },
        logprobs: null,
        finish_reason: r.finishReason,
      },
    ],
    usage: r.usage,
    system_fingerprint: null,
    stormproof: extensionOf(jobId, r),
  };
}

/** Builds the `chat.completion.chunk`s of one stream. */
export class ChunkWriter {
  constructor(
    private readonly jobId: string,
    private readonly created: number,
    private readonly includeUsage: boolean,
  ) {}

  /** One chunk with one choice. */
  chunk(model: string, delta: Record<string, unknown>, finishReason: string | null = null, extra: Record<string, unknown> = {}) {
    return {
      id: completionId(this.jobId),
      object: 'chat.completion.chunk' as const,
      created: this.created,
      model,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(this.includeUsage ? { usage: null } : {}),
      ...extra,
    };
  }

  /** The chunks that end an answer: tool calls (if any), the finish, the usage (when asked). */
  ending(r: AiResponse): object[] {
    const out: object[] = [];
    const calls = r.message.tool_calls ?? [];
    if (calls.length) {
      out.push(
        this.chunk(r.model, {
          tool_calls: calls.map((c, index) => ({
            index,
            id: c.id,
            type: 'function',
            function: { name: c.function.name, arguments: c.function.arguments },
          })),
        }),
      );
    }
    const ext = { stormproof: extensionOf(this.jobId, r) };
    if (!this.includeUsage) {
      out.push(this.chunk(r.model, {}, r.finishReason, ext));
      return out;
    }
    out.push(this.chunk(r.model, {}, r.finishReason));
    out.push({ ...this.chunk(r.model, {}), choices: [], usage: r.usage, ...ext });
    return out;
  }
}

/** One SSE `data:` frame. */
export function sse(data: unknown): string {
  return `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}
