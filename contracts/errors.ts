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
  /** The same Idempotency-Key was used with a different body. */
  IdempotencyConflict: 'STORMPROOF_ERR_IDEMPOTENCY_CONFLICT',
  /** Every candidate target failed (the attempt trace is attached). */
  AllTargetsFailed: 'STORMPROOF_ERR_ALL_TARGETS_FAILED',
  /** No target can serve the model right now (none configured or all excluded). */
  NoTargetAvailable: 'STORMPROOF_ERR_NO_TARGET_AVAILABLE',
  /** A provider refused the request itself (HTTP 400 there); no other target would accept it. */
  ProviderRejected: 'STORMPROOF_ERR_PROVIDER_REJECTED',
  /** A provider refused the content. */
  ContentFiltered: 'STORMPROOF_ERR_CONTENT_FILTERED',
  /** The prompt is longer than the context window of every model that could serve the request. */
  ContextLengthExceeded: 'STORMPROOF_ERR_CONTEXT_LENGTH_EXCEEDED',
  /** Tokens already reached the client, then the streaming attempt failed; the stream ends with this error. */
  StreamInterrupted: 'STORMPROOF_ERR_STREAM_INTERRUPTED',
  /** The request was cancelled. */
  Cancelled: 'STORMPROOF_ERR_CANCELLED',
  /** No batch with that id. */
  BatchNotFound: 'STORMPROOF_ERR_BATCH_NOT_FOUND',
  /** No valid API key (or, on the relay route, internal token). */
  Unauthorized: 'STORMPROOF_ERR_UNAUTHORIZED',
  /** The key lacks the scope (e.g. admin) the route needs. */
  Forbidden: 'STORMPROOF_ERR_FORBIDDEN',
  /** The key's rate limit is used up; see Retry-After. */
  RateLimited: 'STORMPROOF_ERR_RATE_LIMITED',
  /** A RAG request or ingestion named a collection that does not exist, or an invalid name. */
  CollectionNotFound: 'STORMPROOF_ERR_COLLECTION_NOT_FOUND',
  /** Open mode (no keys) answers only to this machine's host names (DNS rebinding). */
  HostNotAllowed: 'STORMPROOF_ERR_HOST_NOT_ALLOWED',
  /** The JSON body nests deeper than `limits.jsonDepth`. */
  JsonTooDeep: 'STORMPROOF_ERR_JSON_TOO_DEEP',
  /** An input is over one of the `limits` (query length, batch size, ...); the message names it. */
  LimitExceeded: 'STORMPROOF_ERR_LIMIT_EXCEEDED',
  /** The key has as many jobs, batches or event streams open as `limits` allow; see Retry-After. */
  TooManyInFlight: 'STORMPROOF_ERR_TOO_MANY_IN_FLIGHT',
  /** A `pageToken` that no listing handed out. */
  InvalidPageToken: 'STORMPROOF_ERR_INVALID_PAGE_TOKEN',
  /** Temporal (the gateway's durable store) cannot be reached; nothing was accepted. See Retry-After. */
  TemporalUnavailable: 'STORMPROOF_ERR_TEMPORAL_UNAVAILABLE',
  /** No configured model could ever serve the request (e.g. max_tokens above every context window). */
  Unsatisfiable: 'STORMPROOF_ERR_UNSATISFIABLE',
  /** The callbackUrl is not allowed (scheme, credentials, length, or a private/loopback address). */
  CallbackUrlRefused: 'STORMPROOF_ERR_CALLBACK_URL_REFUSED',
  /** A config sent for a live reload does not validate (the message names every key); the running config stays. */
  ConfigInvalid: 'STORMPROOF_ERR_CONFIG_INVALID',
  /** A live reload changes keys that only take effect after a restart (named in the message). */
  ConfigRestartRequired: 'STORMPROOF_ERR_CONFIG_RESTART_REQUIRED',
  /** The live config changed since the version the caller read (`If-Match`); read it again. */
  ConfigConflict: 'STORMPROOF_ERR_CONFIG_CONFLICT',
  Internal: 'STORMPROOF_ERR_INTERNAL',
} as const;
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The error body every API error has. */
export interface ApiErrorBody {
  error: { code: ErrorCodeName; message: string; details?: unknown };
}
