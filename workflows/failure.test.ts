/** Reading failures in the workflow: whose cancellation it is, what a timed-out stream delivered. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ActivityFailure, ApplicationFailure, CancelledFailure, TimeoutFailure } from '@temporalio/common';
import { cancelledBy, summarizeFailure } from './failure';

const activityFailure = (cause: Error) =>
  new ActivityFailure('Activity task failed', 'callProvider', '1', 'NON_RETRYABLE_FAILURE', 'worker', cause);

describe('cancelledBy', () => {
  test("a cancellation is the client's only when the workflow itself was asked to cancel", () => {
    const cancelled = activityFailure(new CancelledFailure('Local Activity cancelled'));
    assert.equal(cancelledBy(cancelled, true), 'client');
    // An eviction cancels a local activity the workflow never asked to cancel: the worker's doing.
    assert.equal(cancelledBy(cancelled, false), 'worker');
  });

  test('anything else is no cancellation at all', () => {
    assert.equal(cancelledBy(activityFailure(ApplicationFailure.create({ type: 'ProviderServerError', message: 'x' })), true), undefined);
    assert.equal(cancelledBy(new Error('x'), false), undefined);
  });
});

describe('summarizeFailure', () => {
  test('a timed-out stream that checkpointed its text in heartbeats tells exactly what the client has', () => {
    const f = summarizeFailure(activityFailure(new TimeoutFailure('heartbeat', { chunks: 3, partialText: 'Echo from x: ' }, 'HEARTBEAT')));
    assert.deepEqual([f.type, f.chunks, f.partialText], ['ProviderTimeout', 3, 'Echo from x: ']);
    const old = summarizeFailure(activityFailure(new TimeoutFailure('heartbeat', { chunks: 3 }, 'HEARTBEAT')));
    assert.equal(old.partialText, '', 'heartbeats with a chunk count only: the text is unknown');
  });
});
