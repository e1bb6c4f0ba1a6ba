/** One error shape for every API error: a stable code and a human message. */
import type { ErrorRequestHandler, Response } from 'express';
import { z } from 'zod';
import { ErrorCode, type ApiErrorBody, type ErrorCodeName } from '../contracts/errors';
import { isUnavailable, TemporalUnavailableError } from './temporal-policy';

/** An error meant for the client. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCodeName,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export function sendError(res: Response, status: number, code: ErrorCodeName, message: string, details?: unknown): void {
  const body: ApiErrorBody = { error: { code, message, ...(details !== undefined ? { details } : {}) } };
  res.status(status).json(body);
}

/** OpenAI's error `type` for an HTTP status. */
export function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/**
 * The OpenAI error shape `{ error: { message, type, param, code } }`, with Stormproof's stable code
 * as `code`; `extra` adds fields inside `error` (e.g. the attempt trace) that clients may ignore.
 */
export function sendOpenAiError(
  res: Response,
  status: number,
  code: ErrorCodeName,
  message: string,
  param: string | null = null,
  extra: Record<string, unknown> = {},
): void {
  res.status(status).json({ error: { message, type: openAiErrorType(status), param, code, ...extra } });
}

/** Paths whose errors use OpenAI's shape, so OpenAI clients can read them. */
export function isOpenAiPath(path: string): boolean {
  return path === '/v1/models' || path.startsWith('/v1/models/') || path.startsWith('/v1/chat/');
}

/** Zod issues as `{ path, message }`, plus one readable sentence. */
export function fromZod(error: z.ZodError, prefix = ''): ApiError {
  const issues = error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
  const sentence = issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; ');
  return new ApiError(400, ErrorCode.InvalidRequest, `invalid request: ${sentence}`, { issues });
}

function stormproofShaped(res: Response, status: number, code: ErrorCodeName, message: string, details?: unknown): void {
  sendError(res, status, code, message, details);
}

function openAiShaped(res: Response, status: number, code: ErrorCodeName, message: string, details?: unknown): void {
  const issues = (details as { issues?: Array<{ path: string }> } | undefined)?.issues;
  sendOpenAiError(res, status, code, message, issues?.[0]?.path || null, details !== undefined ? { details } : {});
}

/** The first error in `err`'s cause chain that is an `ApiError` or says Temporal is unavailable. */
function known(err: unknown): ApiError | TemporalUnavailableError | undefined {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ApiError || e instanceof TemporalUnavailableError) return e;
  }
  return isUnavailable(err) ? new TemporalUnavailableError('Temporal is unavailable', 5) : undefined;
}

/**
 * Last handler: maps body-parser faults, ApiErrors and an unavailable Temporal (503 with
 * Retry-After: retrying is right); anything else is a 500 without internals.
 */
export function errorHandler(log: (err: unknown) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    const sendError = isOpenAiPath(req.path) ? openAiShaped : stormproofShaped;
    const k = known(err);
    if (k instanceof ApiError) return sendError(res, k.status, k.code, k.message, k.details);
    if (k instanceof TemporalUnavailableError) {
      res.setHeader('retry-after', String(k.retryAfterS));
      return sendError(
        res,
        503,
        ErrorCode.TemporalUnavailable,
        `${k.message}; retry after ${k.retryAfterS}s (with the same Idempotency-Key a retry never starts a second job)`,
      );
    }
    const e = err as { type?: string; status?: number; message?: string; limit?: number };
    if (e.type === 'entity.parse.failed') return sendError(res, 400, ErrorCode.InvalidJson, `the body is not valid JSON: ${e.message}`);
    if (e.type === 'entity.too.large')
      return sendError(res, 413, ErrorCode.BodyTooLarge, `the body is larger than the limit of ${e.limit} bytes`);
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported')
      return sendError(res, 415, ErrorCode.UnsupportedMediaType, e.message ?? 'unsupported encoding');
    // Anything else the body parser or the router refuses as the client's fault (a body shorter
    // than its Content-Length, a path parameter that is not valid percent-encoding): its 4xx.
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return sendError(res, e.status, ErrorCode.InvalidRequest, `the request could not be read: ${String(e.message ?? '').slice(0, 200)}`);
    log(err);
    sendError(res, 500, ErrorCode.Internal, 'internal error; see the gateway log');
  };
}
