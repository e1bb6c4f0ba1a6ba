/**
 * Answering the waiting client from the worker: a provider call whose input carries `answerTo`
 * publishes the request's response the moment the provider's answer exists, through the same
 * sink as streamed tokens (the API's hub in this process, or the relay to the API that waits).
 * Why this is safe: the workflow's start is already durable, and the workflow records the same
 * response right after (workflows/outcome.ts computes both); a crash in between only repeats
 * the provider call.
 */
import type { ProviderCallInput, ProviderCallResult } from '../contracts/routing';
import { earlyResponse } from '../workflows/outcome';
import type { StreamSink } from './provider-call';

/** Stamps `result` with the instant it was published and publishes the response; returns the stamped result. */
export function publishAnswer(
  sink: StreamSink | undefined,
  input: ProviderCallInput,
  result: ProviderCallResult,
  attempt: number,
): ProviderCallResult {
  if (!input.answerTo) return result;
  const done: ProviderCallResult = { ...result, answeredAt: Date.now() };
  const response = earlyResponse({ ...input, answerTo: input.answerTo }, done);
  sink?.publish(input.jobId, { type: 'answer', response, target: done.target, model: done.model, attempt }, { streamTo: input.streamTo });
  return done;
}
