/**
 * `POST /v1/messages`, Anthropic-compatible (streaming and not): any Anthropic client works by
 * changing its base URL. Each call is one durable request workflow, like a chat completion; the
 * answer and the errors use the Messages API's shapes, the stream its events.
 *
 * `Idempotency-Key` means what it means on /v1/chat/completions (api/chat.ts): the key names the
 * workflow, so a retried call attaches to the running job and gets the same answer; a stream is
 * sent again from its start, or from `Last-Event-ID`; the same key with another body is a 409.
 */
import { Router, type ErrorRequestHandler } from 'express';
import type { WorkflowHandle } from '@temporalio/client';
import { ErrorCode } from '../contracts/errors';
import type { AiResponse } from '../contracts/response';
import type { RequestWorkflowInput } from '../contracts/workflow-api';
import { AnswerWait } from './answer';
import { ChatStream } from './chat-stream';
import { cancelOnDisconnect, RECONNECT_GRACE_MS, type Attached, type ChatDeps } from './chat';
import { ApiError, fromZod } from './errors';
import { assertSameBody, bodyHash, BODY_HASH_MEMO, checkIdempotencyKey, jobIdFor } from './idempotency';
import { knownModels } from './jobs';
import { AnthropicEventWriter } from './messages-stream';
import { MessagesRequestSchema, messageBody, sendAnthropicError, toAiRequest } from './messages-format';
import { setAnswerHeaders } from './openai-format';
import { failedOutcome } from './outcome';
import { startRequestWorkflow } from './start';
import { keyScope, principalOf } from './auth';
import { parseLastEventId } from './stream-position';

/** Errors of these routes in the Messages API's shape (body-parser faults included). */
const anthropicErrors: ErrorRequestHandler = (err, _req, res, next) => {
  if (res.headersSent) return next(err);
  if (err instanceof ApiError)
    return sendAnthropicError(res, err.status, err.code, err.message, err.details !== undefined ? { details: err.details } : {});
  const e = err as { type?: string; message?: string; limit?: number };
  if (e.type === 'entity.parse.failed')
    return sendAnthropicError(res, 400, ErrorCode.InvalidJson, `the body is not valid JSON: ${e.message}`);
  if (e.type === 'entity.too.large')
    return sendAnthropicError(res, 413, ErrorCode.BodyTooLarge, `the body is larger than the limit of ${e.limit} bytes`);
  next(err);
};

/** Routes under /v1/messages. */
export function messagesRouter(deps: ChatDeps): Router {
  const router = Router();
  const models = knownModels(deps.config);
  const attached: Attached = new Map();

  router.post('/', async (req, res) => {
    if (!req.is('application/json'))
      throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the request as JSON with Content-Type: application/json');
    const parsed = MessagesRequestSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const request = toAiRequest(parsed.data);
    if (!models.has(request.model)) {
      return sendAnthropicError(
        res,
        404,
        ErrorCode.UnknownModel,
        `model: ${request.model} is not served by any target; GET /v1/models lists them.`,
      );
    }
    const key = checkIdempotencyKey(req.header('idempotency-key'));
    // Keys belong to the caller's tenant (open mode: one operator, ids as before tenants).
    const owner = principalOf(res)?.id;
    const id = jobIdFor(key, keyScope(principalOf(res)));
    res.setHeader('x-stormproof-job-id', id);
    const input: RequestWorkflowInput = { request, acceptedAt: Date.now() };
    const hash = bodyHash(parsed.data);
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
    if (request.stream) {
      const streamTo = deps.streamTo();
      if (streamTo) input.streamTo = streamTo;
      const out = () => new AnthropicEventWriter(res, id).asResponse();
      let stream: ChatStream | undefined;
      let handle: WorkflowHandle;
      // Without a key, subscribe before the start: the first chunks may arrive before start()
      // returns (eager start). With one, the hub keeps the job's stream from before the start, so
      // this request (or its retry) is replayed the whole stream.
      if (key === undefined) stream = new ChatStream(deps.hub, out(), id, { includeUsage: true });
      else deps.hub.retain(id);
      const release = () => key !== undefined && deps.hub.release(id, RECONNECT_GRACE_MS);
      try {
        handle = await start();
      } catch (err) {
        stream?.close();
        if (!attached.has(id)) release();
        throw err;
      }
      stream ??= new ChatStream(deps.hub, out(), id, {
        includeUsage: true,
        resumable: true,
        from: parseLastEventId(req.header('last-event-id')),
      });
      const s = stream;
      cancelOnDisconnect(attached, res, handle, key !== undefined, {
        onGone: () => s.close(),
        onLastLeave: release,
        onCancel: deps.onCancel,
      });
      return s.run(handle);
    }
    // The worker answers as soon as the provider did (relayed when it runs in another process).
    const streamTo = deps.streamTo();
    if (streamTo) input.streamTo = streamTo;
    const answer = new AnswerWait(deps.hub, id);
    let handle: WorkflowHandle;
    try {
      handle = await start();
    } catch (err) {
      answer.close();
      throw err;
    }
    cancelOnDisconnect(attached, res, handle, key !== undefined, { onGone: () => answer.close(), onCancel: deps.onCancel });
    let result: AiResponse;
    try {
      result = await answer.result(deps.client, handle);
    } catch (err) {
      if (res.destroyed) return;
      const f = failedOutcome(err);
      // The gateway already retried and failed over: a client retry would only repeat all that.
      res.setHeader('x-should-retry', 'false');
      return sendAnthropicError(res, f.status, f.code, f.message, { job_id: id, attempts: f.attempts, degradations: f.degradations });
    }
    if (res.destroyed) return;
    setAnswerHeaders(res, result);
    res.json(messageBody(id, result));
  });

  router.use(anthropicErrors);
  return router;
}
