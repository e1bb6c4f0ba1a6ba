/** One error shape for every API error: a stable code and a human message. */
import type { ErrorRequestHandler, Response } from 'express';
import { z } from 'zod';
import { ErrorCode, type ApiErrorBody, type ErrorCodeName } from '../contracts/errors';

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

/** Zod issues as `{ path, message }`, plus one readable sentence. */
export function fromZod(error: z.ZodError, prefix = ''): ApiError {
  const issues = error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
    message: i.code === 'unrecognized_keys' ? `unknown field(s): ${i.keys.join(', ')}` : i.message,
  }));
  const sentence = issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('; ');
  return new ApiError(400, ErrorCode.InvalidRequest, `invalid request: ${sentence}`, { issues });
}

/** Last handler: maps body-parser faults and ApiErrors; anything else is a 500 without internals. */
export function errorHandler(log: (err: unknown) => void): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (res.headersSent) return;
    if (err instanceof ApiError) return sendError(res, err.status, err.code, err.message, err.details);
    const e = err as { type?: string; status?: number; message?: string; limit?: number };
    if (e.type === 'entity.parse.failed') return sendError(res, 400, ErrorCode.InvalidJson, `the body is not valid JSON: ${e.message}`);
    if (e.type === 'entity.too.large') return sendError(res, 413, ErrorCode.BodyTooLarge, `the body is larger than the limit of ${e.limit} bytes`);
    if (e.type === 'encoding.unsupported' || e.type === 'charset.unsupported') return sendError(res, 415, ErrorCode.UnsupportedMediaType, e.message ?? 'unsupported encoding');
    log(err);
    sendError(res, 500, ErrorCode.Internal, 'internal error; see the gateway log');
  };
}
