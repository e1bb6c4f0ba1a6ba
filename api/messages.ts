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
import { ErrorCode } from '../contracts/errors';
import type { AiResponse } from '../contracts/response';
import { answerJob, streamJob, syncJob, type Attached, type ChatDeps } from './chat';
import { ApiError, fromZod } from './errors';
import { checkIdempotencyKey, jobIdFor } from './idempotency';
import { knownModels } from './jobs';
import { AnthropicEventWriter } from './messages-stream';
import { MessagesRequestSchema, messageBody, sendAnthropicError, toAiRequest } from './messages-format';
import { setAnswerHeaders } from './openai-format';
import { failedOutcome } from './outcome';
import { keyScope, principalOf } from './auth';

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
    const id = jobIdFor(key, keyScope(principalOf(res)));
    const job = syncJob(deps, res, id, key, request, parsed.data);
    if (request.stream) {
      const out = () => new AnthropicEventWriter(res, id).asResponse();
      return streamJob(deps, attached, res, job, { out, includeUsage: true, lastEventId: req.header('last-event-id') });
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
      return sendAnthropicError(res, f.status, f.code, f.message, { job_id: id, attempts: f.attempts, degradations: f.degradations });
    }
    if (res.destroyed) return;
    setAnswerHeaders(res, result);
    res.json(messageBody(id, result));
  });

  router.use(anthropicErrors);
  return router;
}
