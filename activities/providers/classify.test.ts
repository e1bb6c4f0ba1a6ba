/**
 * Provider fault classification, with real error objects from both official SDKs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import { BREAKER_IGNORED, FailureType, NON_RETRYABLE_FAILURES, REQUEST_FAULTS, type FailureTypeName } from '../../contracts/failures';
import type { ProviderFailureDetails } from '../../contracts/routing';
import { classifyProviderError, parseRetryAfter, providerFailure, typeForStatus } from './classify';

const MAX_RETRY_AFTER_S = 5;

function details(f: ApplicationFailure): ProviderFailureDetails {
  assert.ok(f.details && f.details.length === 1, 'one details element');
  return f.details[0] as ProviderFailureDetails;
}

const openAiStatus = (
  status: number,
  body: object = { error: { message: `failure ${status}`, type: 'x' } },
  headers: Record<string, string> = {},
) => OpenAI.APIError.generate(status, body, undefined, new Headers(headers));

const anthropicStatus = (
  status: number,
  body: object = { type: 'error', error: { type: 'api_error', message: `failure ${status}` } },
  headers: Record<string, string> = {},
) => Anthropic.APIError.generate(status, body, undefined, new Headers(headers));

const econnrefused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

describe('typeForStatus', () => {
  const table: Array<[number, FailureTypeName]> = [
    [400, FailureType.BadRequest],
    [401, FailureType.Auth],
    [403, FailureType.Auth],
    [404, FailureType.NotFound],
    [408, FailureType.Timeout],
    [413, FailureType.BadRequest],
    [422, FailureType.BadRequest],
    [429, FailureType.RateLimited],
    [500, FailureType.ServerError],
    [502, FailureType.ServerError],
    [503, FailureType.ServerError],
    [529, FailureType.ServerError],
  ];
  for (const [status, type] of table) {
    test(`${status} → ${type}`, () => assert.equal(typeForStatus(status), type));
  }

  test('400 whose body mentions a content policy → ContentPolicy', () => {
    assert.equal(typeForStatus(400, { code: 'content_policy_violation', message: 'no' }), FailureType.ContentPolicy);
    assert.equal(typeForStatus(400, { code: 'content_filter' }), FailureType.ContentPolicy);
    assert.equal(typeForStatus(400, { error: { message: 'blocked by SAFETY system' } }), FailureType.ContentPolicy);
    assert.equal(typeForStatus(400, { code: 'invalid_request_error' }), FailureType.BadRequest);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  test('delta-seconds', () => {
    assert.equal(parseRetryAfter('3', now), 3);
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter('1.2', now), 2);
  });

  test('HTTP date', () => {
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:07 GMT', now), 7);
    assert.equal(parseRetryAfter(new Date(now + 120_000).toUTCString(), now), 120);
  });

  test('an HTTP date in the past means now', () => {
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:59:00 GMT', now), 0);
  });

  test('missing or unparsable → undefined', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});

describe('classifyProviderError: HTTP statuses from the SDKs', () => {
  const table: Array<[number, FailureTypeName, boolean]> = [
    [400, FailureType.BadRequest, true],
    [401, FailureType.Auth, true],
    [403, FailureType.Auth, true],
    [404, FailureType.NotFound, true],
    [408, FailureType.Timeout, true],
    [422, FailureType.BadRequest, true],
    [429, FailureType.RateLimited, true], // without Retry-After: skip the target
    [500, FailureType.ServerError, false],
    [503, FailureType.ServerError, false],
    [529, FailureType.ServerError, false],
  ];
  for (const [sdk, make] of [
    ['openai', openAiStatus],
    ['anthropic', anthropicStatus],
  ] as const) {
    for (const [status, type, nonRetryable] of table) {
      test(`${sdk} ${status} → ${type}${nonRetryable ? ', non-retryable' : ', retryable'}`, () => {
        const err = make(status);
        assert.equal(err.status, status);
        const f = classifyProviderError(err, 1, MAX_RETRY_AFTER_S);
        assert.ok(f instanceof ApplicationFailure);
        assert.equal(f.type, type);
        assert.equal(f.nonRetryable, nonRetryable);
        // A 429 is retried only after a short Retry-After (tested below); everything else follows the table.
        if (type !== FailureType.RateLimited)
          assert.equal(f.nonRetryable, NON_RETRYABLE_FAILURES.includes(type), 'nonRetryable follows contracts/failures');
        assert.equal(details(f).status, status);
        assert.match(f.message, new RegExp(`HTTP ${status}`));
      });
    }
  }

  test('the attempt number lands in details[0].attempt', () => {
    for (const attempt of [1, 2, 7]) {
      assert.equal(details(classifyProviderError(openAiStatus(503), attempt, MAX_RETRY_AFTER_S)).attempt, attempt);
      assert.equal(details(classifyProviderError(anthropicStatus(401), attempt, MAX_RETRY_AFTER_S)).attempt, attempt);
      assert.equal(details(classifyProviderError(new OpenAI.APIConnectionTimeoutError(), attempt, MAX_RETRY_AFTER_S)).attempt, attempt);
      assert.equal(details(classifyProviderError(new Error('weird'), attempt, MAX_RETRY_AFTER_S)).attempt, attempt);
    }
  });

  test('openai content-policy 400 → ContentPolicy, non-retryable', () => {
    const err = openAiStatus(400, {
      error: {
        message: 'Your request was rejected by the safety system.',
        type: 'invalid_request_error',
        code: 'content_policy_violation',
      },
    });
    const f = classifyProviderError(err, 1, MAX_RETRY_AFTER_S);
    assert.equal(f.type, FailureType.ContentPolicy);
    assert.equal(f.nonRetryable, true);
  });

  test('anthropic-shaped content-policy 400 → ContentPolicy', () => {
    const err = anthropicStatus(400, {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'Output blocked by content filtering policy', code: 'content_filter' },
    });
    assert.equal(classifyProviderError(err, 1, MAX_RETRY_AFTER_S).type, FailureType.ContentPolicy);
  });

  test("a prompt over the context window (both providers' real 400s) → ContextLength: not the request's fault, not the target's", () => {
    const openai = openAiStatus(400, {
      error: {
        message:
          "This model's maximum context length is 128000 tokens. However, your messages resulted in 128042 tokens. Please reduce the length of the messages.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'context_length_exceeded',
      },
    });
    const anthropic = anthropicStatus(400, {
      type: 'error',
      error: { type: 'invalid_request_error', message: 'prompt is too long: 200042 tokens > 200000 maximum' },
    });
    for (const err of [openai, anthropic]) {
      const f = classifyProviderError(err, 1, MAX_RETRY_AFTER_S);
      assert.equal(f.type, FailureType.ContextLength);
      assert.equal(f.nonRetryable, true);
      assert.equal(REQUEST_FAULTS.includes(f.type), false, 'a model with a larger window may serve it: not a request fault');
      assert.equal(BREAKER_IGNORED.includes(f.type), true, 'the target is fine');
    }
  });

  test('a 400 naming an unknown model → NotFound (that target lacks the model; another may have it)', () => {
    const openai = openAiStatus(400, {
      error: {
        message: 'The model `gpt-4o` does not exist or you do not have access to it.',
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      },
    });
    // An OpenAI-compatible proxy (LiteLLM's words).
    const compatible = openAiStatus(400, {
      error: {
        message: 'Invalid model name passed in model=llama-3.1-8b. Call `/v1/models` to view available models for your key.',
        type: 'invalid_request_error',
        param: null,
        code: '400',
      },
    });
    for (const err of [openai, compatible]) assert.equal(classifyProviderError(err, 1, MAX_RETRY_AFTER_S).type, FailureType.NotFound);
    assert.equal(REQUEST_FAULTS.includes(FailureType.NotFound), false);
  });

  test('an ordinary 400 stays BadRequest', () => {
    const err = anthropicStatus(400, { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: must be positive' } });
    assert.equal(classifyProviderError(err, 1, MAX_RETRY_AFTER_S).type, FailureType.BadRequest);
  });

  test('a plain object with a status is classified too (no class identity needed)', () => {
    const f = classifyProviderError({ status: 503, message: 'unavailable' }, 3, MAX_RETRY_AFTER_S);
    assert.equal(f.type, FailureType.ServerError);
    assert.deepEqual(details(f), { attempt: 3, status: 503 });
  });
});

describe('classifyProviderError: 429 and Retry-After', () => {
  for (const [sdk, make] of [
    ['openai', openAiStatus],
    ['anthropic', anthropicStatus],
  ] as const) {
    test(`${sdk}: Retry-After within the max → retryable after exactly that long`, () => {
      const f = classifyProviderError(make(429, undefined, { 'retry-after': '3' }), 2, MAX_RETRY_AFTER_S);
      assert.equal(f.type, FailureType.RateLimited);
      assert.equal(f.nonRetryable, false);
      assert.equal(f.nextRetryDelay, 3000);
      assert.deepEqual(details(f), { attempt: 2, status: 429, retryAfterS: 3 });
    });

    test(`${sdk}: Retry-After equal to the max → still retried`, () => {
      const f = classifyProviderError(make(429, undefined, { 'retry-after': String(MAX_RETRY_AFTER_S) }), 1, MAX_RETRY_AFTER_S);
      assert.equal(f.nonRetryable, false);
      assert.equal(f.nextRetryDelay, MAX_RETRY_AFTER_S * 1000);
    });

    test(`${sdk}: Retry-After beyond the max → non-retryable (skip the target)`, () => {
      const f = classifyProviderError(make(429, undefined, { 'retry-after': '60' }), 1, MAX_RETRY_AFTER_S);
      assert.equal(f.type, FailureType.RateLimited);
      assert.equal(f.nonRetryable, true);
      assert.equal(f.nextRetryDelay, undefined);
      assert.deepEqual(details(f), { attempt: 1, status: 429, retryAfterS: 60 });
      assert.match(f.message, /exceeds 5s/);
    });

    test(`${sdk}: no Retry-After → non-retryable (skip the target, do not hammer it)`, () => {
      const f = classifyProviderError(make(429), 1, MAX_RETRY_AFTER_S);
      assert.equal(f.type, FailureType.RateLimited);
      assert.equal(f.nonRetryable, true);
      assert.equal(f.nextRetryDelay, undefined);
      assert.equal(details(f).retryAfterS, undefined);
    });
  }

  test('Retry-After as an HTTP date within the max', () => {
    const at = new Date(Date.now() + 4_000).toUTCString();
    const f = classifyProviderError(openAiStatus(429, undefined, { 'retry-after': at }), 1, MAX_RETRY_AFTER_S);
    assert.equal(f.nonRetryable, false);
    // The date has whole seconds, so the wait is 3-4 s depending on the clock.
    const s = details(f).retryAfterS;
    assert.ok(s !== undefined && s >= 3 && s <= 4, `retryAfterS ${s}`);
    assert.equal(f.nextRetryDelay, s * 1000);
  });

  test('Retry-After as an HTTP date beyond the max', () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    const f = classifyProviderError(anthropicStatus(429, undefined, { 'retry-after': at }), 1, MAX_RETRY_AFTER_S);
    assert.equal(f.nonRetryable, true);
    assert.ok((details(f).retryAfterS ?? 0) >= 119);
  });

  test('maxRetryAfterS 0 skips any positive Retry-After', () => {
    assert.equal(classifyProviderError(openAiStatus(429, undefined, { 'retry-after': '1' }), 1, 0).nonRetryable, true);
    assert.equal(classifyProviderError(openAiStatus(429, undefined, { 'retry-after': '0' }), 1, 0).nonRetryable, false);
  });

  test('headers as a plain record are read too', () => {
    const f = classifyProviderError({ status: 429, message: 'slow', headers: { 'retry-after': '2' } }, 1, MAX_RETRY_AFTER_S);
    assert.equal(f.nextRetryDelay, 2000);
  });
});

describe('classifyProviderError: connection faults', () => {
  test('openai connection refused → Unavailable, non-retryable, with the cause in the message', () => {
    const err = new OpenAI.APIConnectionError({ cause: econnrefused() });
    const f = classifyProviderError(err, 1, MAX_RETRY_AFTER_S);
    assert.equal(f.type, FailureType.Unavailable);
    assert.equal(f.nonRetryable, true);
    assert.match(f.message, /ECONNREFUSED 127\.0\.0\.1:1/);
    assert.deepEqual(details(f), { attempt: 1 });
  });

  test('anthropic connection refused → Unavailable', () => {
    const f = classifyProviderError(new Anthropic.APIConnectionError({ cause: econnrefused() }), 1, MAX_RETRY_AFTER_S);
    assert.equal(f.type, FailureType.Unavailable);
    assert.equal(f.nonRetryable, true);
  });

  test('a connection error whose cause is not a known errno → still Unavailable', () => {
    for (const err of [
      new OpenAI.APIConnectionError({ cause: new Error('other side closed') }),
      new Anthropic.APIConnectionError({ cause: new Error('other side closed') }),
    ]) {
      assert.equal(classifyProviderError(err, 1, MAX_RETRY_AFTER_S).type, FailureType.Unavailable, err.constructor.name);
    }
  });

  // A timeout fails over at once: the same target is still slow.
  test('openai timeout → Timeout, non-retryable', () => {
    const f = classifyProviderError(new OpenAI.APIConnectionTimeoutError(), 2, MAX_RETRY_AFTER_S);
    assert.equal(f.type, FailureType.Timeout);
    assert.equal(f.nonRetryable, true);
    assert.deepEqual(details(f), { attempt: 2 });
  });

  test('anthropic timeout → Timeout, non-retryable', () => {
    const f = classifyProviderError(new Anthropic.APIConnectionTimeoutError(), 1, MAX_RETRY_AFTER_S);
    assert.equal(f.type, FailureType.Timeout);
    assert.equal(f.nonRetryable, true);
  });

  test('SDK generate() without a status → a connection error → Unavailable', () => {
    const err = OpenAI.APIError.generate(undefined, econnrefused(), undefined, undefined);
    assert.ok(err instanceof OpenAI.APIConnectionError);
    assert.equal(classifyProviderError(err, 1, MAX_RETRY_AFTER_S).type, FailureType.Unavailable);
  });

  test('raw Node/undici network errors → Unavailable', () => {
    for (const err of [
      econnrefused(),
      new TypeError('fetch failed', { cause: econnrefused() }),
      new Error('getaddrinfo ENOTFOUND api.example.com'),
      new Error('socket hang up'),
    ]) {
      assert.equal(classifyProviderError(err, 1, MAX_RETRY_AFTER_S).type, FailureType.Unavailable, err.message);
    }
  });
});

describe('classifyProviderError: other faults', () => {
  test('a JSON parse error → Malformed, retryable', () => {
    let err: unknown;
    try {
      JSON.parse('{"trunc');
    } catch (e) {
      err = e;
    }
    const f = classifyProviderError(err, 1, MAX_RETRY_AFTER_S);
    assert.equal(f.type, FailureType.Malformed);
    assert.equal(f.nonRetryable, false);
  });

  test('anything else → ServerError, retryable', () => {
    for (const err of [new Error('something odd'), 'a string', undefined, null]) {
      const f = classifyProviderError(err, 1, MAX_RETRY_AFTER_S);
      assert.equal(f.type, FailureType.ServerError, String(err));
      assert.equal(f.nonRetryable, false);
    }
  });

  test('an ApplicationFailure passes through unchanged', () => {
    const original = providerFailure(FailureType.Stalled, 'stream stalled', { attempt: 4 });
    assert.equal(classifyProviderError(original, 1, MAX_RETRY_AFTER_S), original);
  });
});

describe('providerFailure', () => {
  test('nonRetryable follows the type, details and delay are kept', () => {
    for (const type of Object.values(FailureType)) {
      const f = providerFailure(type, 'm', { attempt: 1 }, 1500);
      assert.equal(f.type, type);
      assert.equal(f.nonRetryable, NON_RETRYABLE_FAILURES.includes(type), type);
      assert.equal(f.nextRetryDelay, 1500);
      assert.deepEqual(f.details, [{ attempt: 1 }]);
    }
  });
});

describe('secrets in provider error messages', () => {
  // Self-hosted OpenAI-compatible servers and proxies echo what they were sent: the message becomes
  // the attempt's error in the trace, the workflow history and the client's `stormproof.attempts`.
  const leaks: Array<[string, string]> = [
    ['openai key', 'Incorrect API key provided: sk-proj-AbCdEf0123456789xyzXYZ.'],
    ['anthropic key', 'invalid x-api-key: sk-ant-api03-AbCdEf0123456789_-xyz'],
    ['bearer token', 'upstream said: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.signature'],
    ['key in a query string', 'GET http://10.0.0.5/v1/models?api_key=s3cr3tvalue123&x=1 failed'],
  ];
  for (const [what, message] of leaks) {
    test(`a 401 carrying ${what} keeps its type and loses the secret`, () => {
      const f = classifyProviderError(openAiStatus(401, { error: { message, type: 'invalid_request_error' } }), 1, MAX_RETRY_AFTER_S);
      assert.equal(f.type, FailureType.Auth);
      for (const secret of ['AbCdEf0123456789', 'eyJhbGciOiJIUzI1NiJ9', 's3cr3tvalue123'])
        assert.ok(!f.message.includes(secret), f.message);
      assert.match(f.message, /redacted/);
    });
  }
  test('a connection error naming a key loses it too; ordinary text is kept whole', () => {
    const f = classifyProviderError(new Error('fetch failed for key sk-live-0123456789abcdef'), 1, MAX_RETRY_AFTER_S);
    assert.ok(!f.message.includes('0123456789abcdef'), f.message);
    const plain = classifyProviderError(
      openAiStatus(500, { error: { message: 'the model is overloaded, try a smaller task-id 12345', type: 'x' } }),
      1,
      5,
    );
    assert.match(plain.message, /the model is overloaded, try a smaller task-id 12345/);
  });
});
