/**
 * `POST /v1/messages`, Anthropic-compatible (streaming and not): any Anthropic client works by
 * changing its base URL. Each call is one durable request workflow, like a chat completion; the
 * answer and the errors use the Messages API's shapes, the stream its events.
 */
import { randomUUID } from 'node:crypto';
import { Router, type ErrorRequestHandler, type Response } from 'express';
import type { WorkflowHandle } from '@temporalio/client';
import { ErrorCode } from '../contracts/errors';
import type { AiResponse } from '../contracts/response';
import type { RequestWorkflowInput } from '../contracts/workflow-api';
import { ChatStream } from './chat-stream';
import type { ChatDeps } from './chat';
import { ApiError, fromZod } from './errors';
import { knownModels } from './jobs';
import { AnthropicEventWriter } from './messages-stream';
import { MessagesRequestSchema, messageBody, sendAnthropicError, toAiRequest } from './messages-format';
import { setAnswerHeaders } from './openai-format';
import { failedOutcome } from './outcome';
import { startRequestWorkflow } from './start';

/** Cancels the workflow when the client goes away before its answer was written. */
function cancelOnDisconnect(res: Response, handle: WorkflowHandle, onGone?: () => void): void {
  const cancel = () => {
    onGone?.();
    handle.cancel().catch(() => undefined); // already finished: nothing to cancel
  };
  if (res.destroyed) return cancel();
  res.on('close', () => {
    if (!res.writableFinished) cancel();
  });
}

/** Errors of these routes in the Messages API's shape (body-parser faults included). */
const anthropicErrors: ErrorRequestHandler = (err, _req, res, next) => {
  if (res.headersSent) return next(err);
  if (err instanceof ApiError) return sendAnthropicError(res, err.status, err.code, err.message, err.details !== undefined ? { details: err.details } : {});
  const e = err as { type?: string; message?: string; limit?: number };
  if (e.type === 'entity.parse.failed') return sendAnthropicError(res, 400, ErrorCode.InvalidJson, `the body is not valid JSON: ${e.message}`);
  if (e.type === 'entity.too.large') return sendAnthropicError(res, 413, ErrorCode.BodyTooLarge, `the body is larger than the limit of ${e.limit} bytes`);
  next(err);
};

/** Routes under /v1/messages. */
export function messagesRouter(deps: ChatDeps): Router {
  const router = Router();
  const models = knownModels(deps.config);

  router.post('/', async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the request as JSON with Content-Type: application/json');
    const parsed = MessagesRequestSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const request = toAiRequest(parsed.data);
    if (!models.has(request.model)) {
      return sendAnthropicError(res, 404, ErrorCode.UnknownModel, `model: ${request.model} is not served by any target; GET /v1/models lists them.`);
    }
    const id = `job-${randomUUID()}`;
    res.setHeader('x-stormproof-job-id', id);
    const input: RequestWorkflowInput = { request, acceptedAt: Date.now() };
    if (request.stream) {
      const streamTo = deps.streamTo();
      if (streamTo) input.streamTo = streamTo;
      // Subscribe before the start: the first chunks may arrive before start() returns (eager start).
      const stream = new ChatStream(deps.hub, new AnthropicEventWriter(res, id).asResponse(), id, { includeUsage: true });
      let handle: WorkflowHandle;
      try {
        ({ handle } = await startRequestWorkflow(deps, id, input));
      } catch (err) {
        stream.close();
        throw err;
      }
      deps.onSubmitted?.('new');
      cancelOnDisconnect(res, handle, () => stream.close());
      return stream.run(handle);
    }
    const { handle } = await startRequestWorkflow(deps, id, input);
    deps.onSubmitted?.('new');
    cancelOnDisconnect(res, handle);
    let result: AiResponse;
    try {
      result = (await handle.result()) as AiResponse;
    } catch (err) {
      if (res.destroyed) return;
      const f = failedOutcome(err);
      return sendAnthropicError(res, f.status, f.code, f.message, { job_id: id, attempts: f.attempts, degradations: f.degradations });
    }
    if (res.destroyed) return;
    setAnswerHeaders(res, result);
    res.json(messageBody(id, result));
  });

  router.use(anthropicErrors);
  return router;
}
