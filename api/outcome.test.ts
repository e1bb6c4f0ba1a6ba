/** What a client is told when a request fails: derived from the one failure table. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ErrorCode } from '../contracts/errors';
import { FAILURE_TABLE, FailureType, GatewayFailure } from '../contracts/failures';
import type { Attempt } from '../contracts/response';
import { failedOutcome } from './outcome';

const failure = (type: string, attempts: Attempt[] = [], extra: object = {}) =>
  ApplicationFailure.create({ type, message: `${type} happened`, nonRetryable: true, details: [{ attempts, degradations: [], ...extra }] });
const attempt = (outcome: string): Attempt => ({ target: 't', model: 'm', outcome, durationMs: 1 });

describe('failedOutcome', () => {
  test('every failure type is told with its status and code from the table', () => {
    for (const [type, traits] of Object.entries(FAILURE_TABLE)) {
      if (type === GatewayFailure.Cancelled) continue; // a cancel reaches the API as a CancelledFailure, below
      const f = failedOutcome(failure(type, [attempt('ProviderServerError')]));
      assert.equal(f.status, traits.httpStatus, type);
      assert.equal(f.code, traits.code, type);
      assert.equal(f.type, type);
    }
  });

  test('a prompt too long for every model: 400 with its own code; a RAG outage: 503', () => {
    assert.deepEqual(
      [failedOutcome(failure(FailureType.ContextLength)).status, failedOutcome(failure(FailureType.ContextLength)).code],
      [400, ErrorCode.ContextLengthExceeded],
    );
    assert.deepEqual(
      [failedOutcome(failure('RagUnavailable')).status, failedOutcome(failure('RagUnavailable')).code],
      [503, ErrorCode.Unavailable],
    );
  });

  test('all targets failed: 503 when none was reachable, else 502', () => {
    assert.equal(
      failedOutcome(failure(GatewayFailure.Exhausted, [attempt('ProviderUnavailable'), attempt('ProviderRateLimited')])).status,
      503,
    );
    assert.equal(
      failedOutcome(failure(GatewayFailure.Exhausted, [attempt('ProviderUnavailable'), attempt('ProviderServerError')])).status,
      502,
    );
  });

  test('the trace comes along, failovers included; a type nobody knows is told like all targets failing', () => {
    const f = failedOutcome(failure('SomethingNew', [attempt('x'), attempt('y')], { failovers: 1 }));
    assert.deepEqual([f.status, f.code, f.failovers, f.attempts.length], [502, ErrorCode.AllTargetsFailed, 1, 2]);
    assert.equal(failedOutcome(new CancelledFailure('gone')).status, 499);
  });
});
