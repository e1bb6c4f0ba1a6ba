/** The one interface every provider adapter implements. */
import type { AiRequest } from '../../contracts/request';
import type { ProviderCallResult } from '../../contracts/routing';
import type { ModelConfig, TargetConfig } from '../../config/schema';

/** One call to one target. */
export interface ProviderCall {
  target: TargetConfig;
  model: ModelConfig;
  request: AiRequest;
  /** Aborts the HTTP call (wired to the activity's cancellation). */
  signal: AbortSignal;
}

/** A piece of a streamed answer: text, or a piece of a tool call (its name or arguments). */
export interface StreamDelta {
  content?: string;
  /** A tool call is being streamed (not relayed as text, but the provider is at work). */
  toolCall?: true;
}

/** A provider adapter: same shape for every provider kind. */
export interface ProviderAdapter {
  complete(call: ProviderCall): Promise<ProviderCallResult>;
  /**
   * Streams; `onDelta` runs per text or tool-call chunk (the idle timer, publishing). Resolves
   * with the whole answer.
   */
  stream(call: ProviderCall, onDelta: (delta: StreamDelta) => void): Promise<ProviderCallResult>;
}

/** Builds an adapter for a target, given its API key. */
export type AdapterFactory = (target: TargetConfig, apiKey: string) => ProviderAdapter;

/** The provider's model name for a gateway model. */
export function providerModelName(model: ModelConfig): string {
  return model.providerModel ?? model.id;
}
