/**
 * `POST /v1/chat/completions`, OpenAI-compatible: any OpenAI client works by changing its base
 * URL. Each call is one durable request workflow, started like a job; errors use OpenAI's shape.
 *
 * With an `Idempotency-Key` header the call is idempotent like a job submission: the same key
 * names the same workflow, so a retried request (an SDK retry after a dropped connection, a client
 * coming back) attaches to the running job instead of starting a second one, and gets the same
 * answer; a stream is sent again from its start, or from `Last-Event-ID`.
 */
import { randomUUID } from 'node:crypto';
import { Router, type Response } from 'express';
import type { WorkflowHandle } from '@temporalio/client';
import { ChatCompletionRequestSchema, toAiRequest } from '../contracts/chat';
import { ErrorCode } from '../contracts/errors';
import type { AiRequest } from '../contracts/request';
import type { AiResponse } from '../contracts/response';
import type { RequestWorkflowInput } from '../contracts/workflow-api';
import { AnswerWait } from './answer';
import { ChatStream } from './chat-stream';
import { ApiError, fromZod, sendOpenAiError } from './errors';
import { assertSameBody, bodyHash, BODY_HASH_MEMO, checkIdempotencyKey, jobIdFor } from './idempotency';
import { knownModels } from './jobs';
import { chatCompletionBody, setAnswerHeaders } from './openai-format';
import { failedOutcome } from './outcome';
import { startRequestWorkflow, type StartDeps } from './start';
import { keyScope, principalOf } from './auth';
import type { StreamHub } from './stream-hub';
import { parseLastEventId } from './stream-position';

export interface ChatDeps extends StartDeps {
  hub: StreamHub;
  /** This API's base URL as workers in other processes reach it, when the relay is enabled. */
  streamTo: () => string | undefined;
  onSubmitted?: (outcome: 'new' | 'existing') => void;
  /** Told when a job is cancelled here (its client left), so its local calls abort at once. */
  onCancel?: (jobId: string) => void;
}

/**
 * How long a job with an Idempotency-Key outlives its client's connection (and keeps its stream
 * for a replay): why: long enough for the OpenAI SDK's retries (0.5-8 s backoff) or a client's
 * reconnect to attach to it instead of finding it cancelled.
 */
export const RECONNECT_GRACE_MS = 10_000;

/** Counts the requests of this process attached to each job. */
export type Attached = Map<string, number>;

/**
 * Cancels the workflow when the client goes away before its answer was written. A keyed job is
 * given RECONNECT_GRACE_MS first, and kept when another request attached to it meanwhile.
 * `onLastLeave` runs when no request of this process is attached to the job any more.
 */
export function cancelOnDisconnect(
  attached: Attached,
  res: Response,
  handle: WorkflowHandle,
  keyed: boolean,
  hooks: { onGone?: () => void; onLastLeave?: () => void; onCancel?: (id: string) => void } = {},
): void {
  const id = handle.workflowId;
  attached.set(id, (attached.get(id) ?? 0) + 1);
  const cancel = () => {
    hooks.onCancel?.(id);
    return handle.cancel().catch(() => undefined); // already finished: nothing to cancel
  };
  const leave = (finished: boolean) => {
    const n = (attached.get(id) ?? 1) - 1;
    if (n > 0) attached.set(id, n);
    else {
      attached.delete(id);
      hooks.onLastLeave?.();
    }
    if (finished) return;
    hooks.onGone?.();
    if (!keyed) return void cancel();
    setTimeout(() => {
      if (!attached.has(id)) void cancel();
    }, RECONNECT_GRACE_MS).unref();
  };
  if (res.destroyed) return leave(false);
  res.once('close', () => leave(res.writableFinished));
}

/** A synchronous call's job (a chat completion or a message): its id, key and input, and how to start it. */
export interface SyncJob {
  id: string;
  key: string | undefined;
  input: RequestWorkflowInput;
  start: () => Promise<WorkflowHandle>;
}

/**
 * The job of a synchronous call, started (or found, with an Idempotency-Key) by `start`. A key
 * names the workflow and its memo holds the body's hash: the same key with another body is a 409.
 */
export function syncJob(deps: ChatDeps, res: Response, id: string, key: string | undefined, request: AiRequest, body: unknown): SyncJob {
  // Keys belong to the caller's tenant: another tenant's equal key is another job.
  const owner = principalOf(res)?.id;
  res.setHeader('x-stormproof-job-id', id);
  const input: RequestWorkflowInput = { request, acceptedAt: Date.now() };
  const hash = bodyHash(body);
  const start = async () => {
    const started = await startRequestWorkflow(
      deps,
      id,
      input,
      key === undefined ? { owner } : { owner, memo: { [BODY_HASH_MEMO]: hash } },
    );
    if (key !== undefined) {
      // A conflicting reuse of the key is the client's mistake: retrying it cannot help.
      res.setHeader('x-should-retry', 'false');
      await assertSameBody(started.handle, hash);
      res.removeHeader('x-should-retry');
    }
    deps.onSubmitted?.(started.existing ? 'existing' : 'new');
    return started.handle;
  };
  return { id, key, input, start };
}

/**
 * Starts a streamed job and relays its stream to `out()` (the response, or a writer in another
 * API's format) until the workflow ends. Without a key, it subscribes before the start: the first
 * chunks may arrive before start() returns (eager start). With one, the hub keeps the job's
 * stream from before the start, so this request (or its retry) is replayed the whole stream, or
 * from `lastEventId`.
 */
export async function streamJob(
  deps: ChatDeps,
  attached: Attached,
  res: Response,
  job: SyncJob,
  opts: { out: () => Response; includeUsage: boolean; lastEventId: string | undefined },
): Promise<void> {
  const { id, key } = job;
  const streamTo = deps.streamTo();
  if (streamTo) job.input.streamTo = streamTo;
  let stream: ChatStream | undefined;
  let handle: WorkflowHandle;
  if (key === undefined) stream = new ChatStream(deps.hub, opts.out(), id, { includeUsage: opts.includeUsage });
  else deps.hub.retain(id);
  const release = () => key !== undefined && deps.hub.release(id, RECONNECT_GRACE_MS);
  try {
    handle = await job.start();
  } catch (err) {
    stream?.close();
    if (!attached.has(id)) release();
    throw err;
  }
  stream ??= new ChatStream(deps.hub, opts.out(), id, {
    includeUsage: opts.includeUsage,
    resumable: true,
    from: parseLastEventId(opts.lastEventId),
  });
  const s = stream;
  cancelOnDisconnect(attached, res, handle, key !== undefined, { onGone: () => s.close(), onLastLeave: release, onCancel: deps.onCancel });
  return s.run(handle);
}

/**
 * Starts a job whose caller waits for the whole answer (a failed start throws here, to the route's
 * error handler); the returned wait ends when the worker answered, as soon as the provider did
 * (relayed when it runs in another process), or with the workflow's result.
 */
export async function answerJob(deps: ChatDeps, attached: Attached, res: Response, job: SyncJob): Promise<() => Promise<AiResponse>> {
  const streamTo = deps.streamTo();
  if (streamTo) job.input.streamTo = streamTo;
  const answer = new AnswerWait(deps.hub, job.id);
  let handle: WorkflowHandle;
  try {
    handle = await job.start();
  } catch (err) {
    answer.close();
    throw err;
  }
  cancelOnDisconnect(attached, res, handle, job.key !== undefined, { onGone: () => answer.close(), onCancel: deps.onCancel });
  return () => answer.result(deps.client, handle);
}

/** Routes under /v1/chat. */
export function chatRouter(deps: ChatDeps): Router {
  const router = Router();
  const models = knownModels(deps.config);
  const attached: Attached = new Map();

  router.post('/completions', async (req, res) => {
    if (!req.is('application/json'))
      throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the request as JSON with Content-Type: application/json');
    const parsed = ChatCompletionRequestSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const request = toAiRequest(parsed.data);
    if (!models.has(request.model)) {
      return sendOpenAiError(
        res,
        404,
        ErrorCode.UnknownModel,
        `The model "${request.model}" does not exist or is not served by any target; GET /v1/models lists them.`,
        'model',
      );
    }
    const key = checkIdempotencyKey(req.header('idempotency-key'));
    const id = key === undefined ? `job-${randomUUID()}` : jobIdFor(key, keyScope(principalOf(res)));
    const job = syncJob(deps, res, id, key, request, parsed.data);
    const { input } = job;
    if (request.stream) {
      const includeUsage = request.stream_options?.include_usage === true;
      return streamJob(deps, attached, res, job, { out: () => res, includeUsage, lastEventId: req.header('last-event-id') });
    }
    const answered = await answerJob(deps, attached, res, job);
    let result: AiResponse;
    try {
      result = await answered();
    } catch (err) {
      if (res.destroyed) return;
      const f = failedOutcome(err);
      // The gateway already retried and failed over: a client retry would only repeat all that.
      res.setHeader('x-should-retry', 'false');
      return sendOpenAiError(res, f.status, f.code, f.message, null, {
        stormproof: { job_id: id, attempts: f.attempts, degradations: f.degradations },
      });
    }
    if (res.destroyed) return;
    setAnswerHeaders(res, result);
    res.json(chatCompletionBody(id, result, Math.floor((input.acceptedAt ?? Date.now()) / 1000)));
  });

  return router;
}
