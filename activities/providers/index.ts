/** Adapter registry: one factory per provider kind. OpenAI-compatible reuses the OpenAI base. */
import type { TargetConfig } from '../../config/schema';
import { createAnthropicAdapter } from './anthropic';
import { createOpenAiAdapter } from './openai';
import type { AdapterFactory } from './types';

export const ADAPTERS: Record<TargetConfig['kind'], AdapterFactory> = {
  openai: createOpenAiAdapter,
  'openai-compatible': createOpenAiAdapter,
  anthropic: createAnthropicAdapter,
};

export * from './types';
export { classifyProviderError, parseRetryAfter, typeForStatus, withDetails } from './classify';
