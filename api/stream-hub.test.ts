/** The hub: a retained job is replayed from its first event; asking what a client has stops the relayed try. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamEvent } from '../contracts/streaming';
import { StreamHub } from './stream-hub';

const where = { target: 't', model: 'm', attempt: 1 };
const delta = (content: string): StreamEvent => ({ type: 'delta', content, ...where });

test('a retained job is replayed to a late subscriber, then it gets the live events', () => {
  const hub = new StreamHub();
  hub.retain('job-1');
  assert.equal(hub.has('job-1'), true, 'the relay keeps delivering while nobody listens');
  hub.publish('job-1', { type: 'start', ...where });
  hub.publish('job-1', delta('a'));
  const got: StreamEvent[] = [];
  hub.subscribe('job-1', (e) => got.push(e), { replay: true });
  hub.publish('job-1', delta('b'));
  assert.deepEqual(
    got.map((e) => e.type),
    ['start', 'delta', 'delta'],
  );
  assert.equal(hub.replayable('job-1'), true);
  hub.publish('job-2', delta('x'));
  assert.equal(hub.replayable('job-2'), false, 'not retained: nothing kept');
});

test('delivered: the first subscriber that can tell', () => {
  const hub = new StreamHub();
  hub.subscribe('job-1', () => undefined, { delivered: () => undefined });
  hub.subscribe('job-1', () => undefined, { delivered: () => 'so far' });
  assert.equal(hub.delivered('job-1'), 'so far');
  assert.equal(hub.delivered('job-2'), undefined);
});
