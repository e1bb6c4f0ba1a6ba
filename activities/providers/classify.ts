/**
 * Turns any fault of a provider call into an ApplicationFailure with a stable `type`. Both
 * official SDKs raise errors with `status` and `headers`; we read those, not class identity.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TABLE, FailureType, type FailureTypeName } from '../../contracts/failures';
import type { ProviderFailureDetails } from '../../contracts/routing';

interface SdkErrorLike {
  name?: string;
  status?: number;
  message?: string;
  headers?: Headers | Record<string, string>;
  error?: unknown;
  cause?: unknown;
}

function header(headers: SdkErrorLike['headers'], name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  return (headers as Record<string, string>)[name];
}

/** Seconds from a Retry-After header (delta-seconds or HTTP date), or undefined. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const n = Number(value);
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** The providers' words for a prompt over the model's context window (OpenAI and compatibles, Anthropic). */
const CONTEXT_LENGTH = /context_length_exceeded|maximum context length|prompt is too long|context window|too many tokens/;
/** The providers' words for a model this endpoint does not have. */
const UNKNOWN_MODEL = /model_not_found|model\b.{0,80}\b(does not exist|not found)|unknown model|invalid model|no such model/;

/** Failure type for an HTTP status (and what the error body or message says). */
export function typeForStatus(status: number, body?: unknown, message = ''): FailureTypeName {
  const text = `${JSON.stringify(body ?? '')} ${message}`.toLowerCase();
  if (status === 400 && /content_policy|content_filter|safety/.test(text)) return FailureType.ContentPolicy;
  if ((status === 400 || status === 413) && CONTEXT_LENGTH.test(text)) return FailureType.ContextLength;
  if (status === 400 && UNKNOWN_MODEL.test(text)) return FailureType.NotFound;
  if (status === 400 || status === 413 || status === 422) return FailureType.BadRequest;
  if (status === 401 || status === 403) return FailureType.Auth;
  if (status === 404) return FailureType.NotFound;
  if (status === 408) return FailureType.Timeout;
  if (status === 429) return FailureType.RateLimited;
  return FailureType.ServerError;
}

/**
 * Why: a provider's error text becomes the attempt's error in the trace, the workflow history and
 * the client's `stormproof.attempts`, and self-hosted servers and proxies echo what they were sent
 * (keys, bearer tokens, signed URLs). Anything shaped like a credential is cut before it is kept.
 */
const SECRETS: Array<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [redacted]'],
  [/\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, '$1-[redacted]'],
  [/([?&](?:api[_-]?key|key|token|access_token|sig|signature)=)[^&\s"']+/gi, '$1[redacted]'],
  [/\b((?:x-)?api[_-]?key["']?\s*[:=]\s*["']?)[A-Za-z0-9._~+/=-]{8,}/gi, '$1[redacted]'],
];

/** `text` with every credential-shaped run replaced by `[redacted]`. */
export function redactSecrets(text: string): string {
  return SECRETS.reduce((t, [re, to]) => t.replace(re, to), text);
}

/** Builds the failure with its details; `nonRetryable` follows the type. */
export function providerFailure(
  type: FailureTypeName,
  message: string,
  details: ProviderFailureDetails,
  nextRetryDelayMs?: number,
  cause?: Error,
): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message: redactSecrets(message),
    nonRetryable: !FAILURE_TABLE[type].retryable,
    details: [details],
    nextRetryDelay: nextRetryDelayMs,
    cause,
  });
}

/**
 * Classifies `err` from a provider SDK call made on try `attempt`. A 429 whose Retry-After fits
 * within `maxRetryAfterS` is retried after exactly that long; a longer one skips the target.
 */
export function classifyProviderError(err: unknown, attempt: number, maxRetryAfterS: number): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const e = (err ?? {}) as SdkErrorLike;
  // The openai SDK's errors keep the default `name` ("Error"), so the class name is read too.
  const name = `${e.name ?? ''} ${(err as { constructor?: { name?: string } } | null | undefined)?.constructor?.name ?? ''}`;
  const where = e.message ?? String(err);
  if (typeof e.status === 'number') {
    const type = typeForStatus(e.status, e.error, e.message);
    const details: ProviderFailureDetails = { attempt, status: e.status };
    if (type === FailureType.RateLimited) {
      const retryAfterS = parseRetryAfter(header(e.headers, 'retry-after'));
      details.retryAfterS = retryAfterS;
      if (retryAfterS !== undefined && retryAfterS > maxRetryAfterS) {
        return ApplicationFailure.create({
          type,
          message: `HTTP 429, Retry-After ${retryAfterS}s exceeds ${maxRetryAfterS}s: skipping target`,
          nonRetryable: true,
          details: [details],
        });
      }
      if (retryAfterS === undefined) {
        // No word on when it clears: hammering a limited provider on our own backoff only makes
        // it worse. Skip the target (the worker cools it down) and fail over.
        return ApplicationFailure.create({
          type,
          message: 'HTTP 429 rate limited, no Retry-After: skipping target',
          nonRetryable: true,
          details: [details],
        });
      }
      return providerFailure(type, `HTTP 429 rate limited, Retry-After ${retryAfterS}s`, details, retryAfterS * 1000);
    }
    return providerFailure(type, `HTTP ${e.status}: ${where}`, details);
  }
  if (/Timeout/i.test(name)) return providerFailure(FailureType.Timeout, `timed out: ${where}`, { attempt });
  if (
    /Connection/i.test(name) ||
    /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|socket hang up|fetch failed/i.test(`${where} ${String((e.cause as Error)?.message ?? '')}`)
  ) {
    const cause = e.cause instanceof Error ? `: ${(e.cause as Error).message}` : '';
    return providerFailure(FailureType.Unavailable, `connection failed${cause || `: ${where}`}`, { attempt });
  }
  if (err instanceof SyntaxError || /JSON|parse|Unexpected token/i.test(where))
    return providerFailure(FailureType.Malformed, `malformed answer: ${where}`, { attempt });
  return providerFailure(FailureType.ServerError, `unexpected error: ${where}`, { attempt });
}

/**
 * The same failure with more details merged into `details[0]` (e.g. the try number the adapter
 * could not know, or how much of a stream got through). `nonRetryable` may only be tightened.
 */
export function withDetails(f: ApplicationFailure, extra: Partial<ProviderFailureDetails>, nonRetryable = false): ApplicationFailure {
  const details = { ...((f.details?.[0] as ProviderFailureDetails | undefined) ?? { attempt: 0 }), ...extra };
  return ApplicationFailure.create({
    type: f.type ?? undefined,
    message: f.message,
    nonRetryable: (f.nonRetryable ?? false) || nonRetryable,
    details: [details],
    nextRetryDelay: f.nextRetryDelay ?? undefined,
  });
}
