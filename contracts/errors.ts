/** Stable error codes returned to API clients, each with a human message. */
export const ErrorCode = {
  InvalidJson: 'STORMPROOF_ERR_INVALID_JSON',
  InvalidRequest: 'STORMPROOF_ERR_INVALID_REQUEST',
  BodyTooLarge: 'STORMPROOF_ERR_BODY_TOO_LARGE',
  UnsupportedMediaType: 'STORMPROOF_ERR_UNSUPPORTED_MEDIA_TYPE',
  InvalidIdempotencyKey: 'STORMPROOF_ERR_INVALID_IDEMPOTENCY_KEY',
  UnknownModel: 'STORMPROOF_ERR_UNKNOWN_MODEL',
  JobNotFound: 'STORMPROOF_ERR_JOB_NOT_FOUND',
  JobFinished: 'STORMPROOF_ERR_JOB_FINISHED',
  NotFound: 'STORMPROOF_ERR_NOT_FOUND',
  Unavailable: 'STORMPROOF_ERR_UNAVAILABLE',
  Internal: 'STORMPROOF_ERR_INTERNAL',
} as const;
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The error body every API error has. */
export interface ApiErrorBody {
  error: { code: ErrorCodeName; message: string; details?: unknown };
}
