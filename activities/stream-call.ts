/**
 * The streaming provider call (`streamProvider`): relays the provider's stream to the client as it
 * arrives, with an idle limit between chunks, heartbeats that checkpoint what was delivered, and,
 * on a retry after this call's worker died or went silent, a resume exactly where the client is.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ModelConfig, TargetConfig } from '../config/schema';
import { FailureType } from '../contracts/failures';
import type { ProviderCallInput, ProviderCallResult } from '../contracts/routing';
import { StreamCheckpointSchema } from '../contracts/streaming';
import { publishAnswer } from './answer';
import { continuationMode, continuationRequest, Seam } from './continuation';
import { withDetails, type ProviderAdapter } from './providers';
import type { StreamSink } from './provider-call';
import { StreamText } from './stream-text';

/** Runs one provider call with the outcome reporting and time limits of provider-call.ts. */
export type RunCall = (
  input: ProviderCallInput,
  streaming: boolean,
  body: (a: ProviderAdapter, t: TargetConfig, m: ModelConfig, signal: AbortSignal, firstToken: () => void) => Promise<ProviderCallResult>,
  signal?: AbortSignal,
  lost?: AbortSignal,
  /** Aborted when the stream went silent: the breakers hear a stall, not the SDK's abort error. */
  stalled?: AbortSignal,
) => Promise<ProviderCallResult>;

/** What the streaming call needs from its activity factory. */
export interface StreamCallDeps {
  streamIdleMs: number;
  heartbeatMs: number;
  streamSink?: StreamSink;
  /** The kind of the input's target (it decides how an answer is continued). */
  kindOf: (input: ProviderCallInput) => TargetConfig['kind'];
  run: RunCall;
}

/** Where a retried call picks up: the answer so far, and how much of it the client has. */
interface ResumePoint {
  /** The whole answer so far (the workflow's continuation text, then what this call delivered). */
  base: string;
  /** The client's position (what `start.resumeAt` says). */
  clientAt: number;
  /** Chunks the lost try delivered (its tokens, for usage: one per streamed chunk). */
  chunks: number;
}

/**
 * On a retry (attempt > 1: the previous try's worker died, or its heartbeats stopped), the answer
 * so far: the API's copy of what the client has when someone is listening (it is never behind,
 * and it cannot be taken back), else the last checkpoint. Undefined when there is nothing to resume.
 */
async function resumePoint(input: ProviderCallInput, sink: StreamSink | undefined): Promise<ResumePoint | undefined> {
  const ctx = Context.current();
  if (ctx.info.attempt <= 1) return undefined;
  const prior = input.continuation?.text ?? '';
  const beat = StreamCheckpointSchema.safeParse(ctx.info.heartbeatDetails);
  const saved = prior + (beat.success ? (beat.data.partialText ?? '') : '');
  const asked = await sink?.delivered?.(input.jobId, { streamTo: input.streamTo }).catch(() => undefined);
  const client = asked !== undefined && asked.startsWith(prior) ? asked : undefined;
  // The checkpoint may lead the client (relay lines lost) but never contradict it.
  const base = client === undefined || saved.startsWith(client) ? saved : client;
  if (base.length === prior.length) return undefined;
  return { base, clientAt: client?.length ?? base.length, chunks: beat.success ? Math.max(1, beat.data.chunks) : 1 };
}

/** `streamProvider`: see the module comment. */
export async function streamCall(input: ProviderCallInput, deps: StreamCallDeps): Promise<ProviderCallResult> {
  const ctx = Context.current();
  const idleMs = deps.streamIdleMs;
  const sink = deps.streamSink;
  const route = { streamTo: input.streamTo };
  const where = { target: input.target, model: input.model, attempt: ctx.info.attempt };
  const prior = input.continuation?.text ?? '';
  const resume = await resumePoint(input, sink);
  const base = resume?.base ?? prior;
  const mode = continuationMode(deps.kindOf(input));
  const request = base ? continuationRequest(input.request, base, mode) : input.request;
  const text = new StreamText({
    request: input.request,
    seam: base ? new Seam(base, mode) : undefined,
    initial: base.slice(prior.length, resume?.clientAt ?? base.length),
    publish: (content) => sink?.publish(input.jobId, { type: 'delta', content, ...where }, route),
    who: `${input.target} (${input.model})`,
  });
  const resumeAt = resume?.clientAt ?? (input.continuation ? prior.length : undefined);
  sink?.publish(input.jobId, { type: 'start', ...where, ...(resumeAt !== undefined && base ? { resumeAt } : {}) }, route);
  // What the client lacks of the checkpoint (relay lines that never arrived) goes first.
  if (resume) text.deliver(resume.base.slice(resume.clientAt));

  const idle = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // Until the first token the workflow's first-token limit applies (it fails over early when
  // another candidate is left), then the idle limit between chunks.
  const firstMs = Math.min(input.firstTokenMs ?? idleMs, idleMs);
  let limitMs = firstMs;
  let received = 0;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => idle.abort(), limitMs);
  };
  arm();
  // Heartbeat on a clock, not per chunk: it proves this worker is alive (and carries cancellation
  // to us), and checkpoints what the client got, so a retry elsewhere continues from there.
  // A silent provider is the idle timer's job.
  ctx.heartbeat(text.checkpoint());
  const beat = setInterval(() => ctx.heartbeat(text.checkpoint()), Math.max(200, Math.floor(deps.heartbeatMs / 3)));
  try {
    return await deps
      .run(
        input,
        true,
        async (adapter, target, model, signal, firstToken) => {
          const result = await adapter.stream({ target, model, request, signal }, (delta) => {
            // Any delta is the provider at work, tool-call arguments included.
            limitMs = idleMs;
            arm();
            firstToken();
            received += 1;
            if (delta.content) text.push(delta.content);
          });
          text.end();
          const content = text.text || (result.message.tool_calls?.length ? null : '');
          // The answer includes what the lost try delivered: so does its usage.
          const lost = resume?.chunks ?? 0;
          const usage = {
            ...result.usage,
            completion_tokens: result.usage.completion_tokens + lost,
            total_tokens: result.usage.total_tokens + lost,
          };
          return { ...result, message: { ...result.message, content }, usage };
        },
        AbortSignal.any([ctx.cancellationSignal, idle.signal]),
        undefined,
        idle.signal,
      )
      .then(
        (result) => {
          // The whole answer first, so the client's stream can end before the workflow records it.
          const done = publishAnswer(sink, input, result, where.attempt);
          sink?.publish(input.jobId, { type: 'end', ok: true, ...where }, route);
          return done;
        },
        (err: unknown) => {
          let failure =
            idle.signal.aborted && !ctx.cancellationSignal.aborted
              ? ApplicationFailure.create({
                  type: FailureType.Stalled,
                  message: received
                    ? `stream sent nothing for ${idleMs} ms after ${received} chunk(s)`
                    : `no first token within ${firstMs} ms`,
                  details: [{ attempt: ctx.info.attempt }],
                })
              : err;
          if (failure instanceof ApplicationFailure) {
            // The workflow needs to know whether text already reached the client: before it, it
            // may degrade to buffered mode; after it, a retry here would repeat text, so the
            // decision (continue elsewhere) is the workflow's.
            failure = withDetails(failure, { chunks: text.chunks, partialText: text.text }, text.chunks > 0);
          }
          sink?.publish(
            input.jobId,
            { type: 'end', ok: false, error: failure instanceof Error ? failure.message : String(failure), ...where },
            route,
          );
          throw failure;
        },
      );
  } finally {
    clearTimeout(timer);
    clearInterval(beat);
  }
}
