/**
 * `POST /v1/chat/completions`, OpenAI-compatible: any OpenAI client works by changing its base
 * URL. Each call is one durable request workflow, started like a job; errors use OpenAI's shape.
 */
import { randomUUID } from 'node:crypto';
import { Router, type Response } from 'express';
import type { WorkflowHandle } from '@temporalio/client';
import { ChatCompletionRequestSchema, toAiRequest } from '../contracts/chat';
import { ErrorCode } from '../contracts/errors';
import type { AiResponse } from '../contracts/response';
import type { RequestWorkflowInput } from '../contracts/workflow-api';
import { ChatStream } from './chat-stream';
import { ApiError, fromZod, sendOpenAiError } from './errors';
import { knownModels } from './jobs';
import { chatCompletionBody, setAnswerHeaders } from './openai-format';
import { failedOutcome } from './outcome';
import { startRequestWorkflow, type StartDeps } from './start';
import type { StreamHub } from './stream-hub';

export interface ChatDeps extends StartDeps {
  hub: StreamHub;
  /** This API's base URL as workers in other processes reach it, when the relay is enabled. */
  streamTo: () => string | undefined;
  onSubmitted?: (outcome: 'new' | 'existing') => void;
}

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

/** Routes under /v1/chat. */
export function chatRouter(deps: ChatDeps): Router {
  const router = Router();
  const models = knownModels(deps.config);

  router.post('/completions', async (req, res) => {
    if (!req.is('application/json')) throw new ApiError(415, ErrorCode.UnsupportedMediaType, 'send the request as JSON with Content-Type: application/json');
    const parsed = ChatCompletionRequestSchema.safeParse(req.body);
    if (!parsed.success) throw fromZod(parsed.error);
    const request = toAiRequest(parsed.data);
    if (!models.has(request.model)) {
      return sendOpenAiError(res, 404, ErrorCode.UnknownModel, `The model "${request.model}" does not exist or is not served by any target; GET /v1/models lists them.`, 'model');
    }
    const id = `job-${randomUUID()}`;
    res.setHeader('x-stormproof-job-id', id);
    const input: RequestWorkflowInput = { request, acceptedAt: Date.now() };
    if (request.stream) {
      const streamTo = deps.streamTo();
      if (streamTo) input.streamTo = streamTo;
      // Subscribe before the start: the first chunks may arrive before start() returns (eager start).
      const stream = new ChatStream(deps.hub, res, id, request.stream_options?.include_usage === true);
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
      return sendOpenAiError(res, f.status, f.code, f.message, null, { stormproof: { job_id: id, attempts: f.attempts, degradations: f.degradations } });
    }
    if (res.destroyed) return;
    setAnswerHeaders(res, result);
    res.json(chatCompletionBody(id, result, Math.floor((input.acceptedAt ?? Date.now()) / 1000)));
  });

  return router;
}
