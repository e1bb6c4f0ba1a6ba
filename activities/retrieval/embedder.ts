/**
 * The embedding client: a target's OpenAI-format `/embeddings` endpoint through the official
 * client, its retries off (retrieval has its own time budget and a keyword fallback).
 */
import OpenAI from 'openai';
import type { GatewayConfig } from '../../config/schema';
import { embeddingsTargetId } from '../../config/rag-schema';

/** Turns texts into vectors. */
export interface Embedder {
  /** The target that embeds (for messages). */
  readonly target: string;
  readonly model: string;
  readonly dimensions?: number;
  /** One vector per text, in order. */
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}

/** Options of {@link createOpenAiEmbedder}. */
export interface OpenAiEmbedderOptions {
  target: string;
  /** The SDK's base URL (with `/v1`). */
  baseUrl: string;
  apiKey: string;
  model: string;
  dimensions?: number;
  /** Per call; the caller's signal may end it sooner. */
  timeoutMs: number;
}

/** The message of an SDK error with its cause (e.g. "Connection error. (connect ECONNREFUSED …)"). */
export function errorText(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  const msg = e?.message ?? String(err);
  return e?.cause?.message && !msg.includes(e.cause.message) ? `${msg} (${e.cause.message})` : msg;
}

/** An embedder over an OpenAI-format endpoint. */
export function createOpenAiEmbedder(opts: OpenAiEmbedderOptions): Embedder {
  const client = new OpenAI({ apiKey: opts.apiKey, baseURL: opts.baseUrl, maxRetries: 0, timeout: opts.timeoutMs });
  return {
    target: opts.target,
    model: opts.model,
    dimensions: opts.dimensions,
    async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
      if (!texts.length) return [];
      const res = await client.embeddings.create(
        { model: opts.model, input: texts, ...(opts.dimensions ? { dimensions: opts.dimensions } : {}) },
        { signal },
      );
      const data = [...res.data].sort((a, b) => a.index - b.index);
      if (data.length !== texts.length)
        throw new Error(`the embeddings endpoint answered ${data.length} vectors for ${texts.length} texts`);
      return data.map((d) => d.embedding);
    },
  };
}

/** The embedder the config names (see `rag.embeddings`), or undefined when no target can embed. */
export function embedderFromConfig(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): Embedder | undefined {
  const id = embeddingsTargetId(config.rag, config.targets);
  const target = config.targets.find((t) => t.id === id);
  if (!target) return undefined;
  // Mock targets accept any key; a real target's key lives in the worker's environment only.
  const apiKey = (target.apiKeyEnv && env[target.apiKeyEnv]) || 'mock-key';
  const e = config.rag.embeddings;
  return createOpenAiEmbedder({
    target: target.id,
    baseUrl: target.baseUrl,
    apiKey,
    model: e.model,
    dimensions: e.dimensions,
    timeoutMs: e.timeoutMs,
  });
}
