/** Client positions in a streamed answer: ids, the rest after a Last-Event-ID, a copy that differs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLastEventId, TextCursor } from './stream-position';

test('the rest after a position, whatever the pieces; a copy that differs is flagged', () => {
  const pieces = ['Echo ', 'from ', 'gpt-4o: ', 'hello ', 'world'];
  const full = new TextCursor();
  const ids = pieces.map((p) => (full.advance(p), full.id()));
  const at = parseLastEventId(ids[2])!;
  assert.equal(at.offset, 18);
  const back = new TextCursor(at);
  assert.equal(['Echo from', ' gpt-4o: hel', 'lo world'].map((p) => back.advance(p)).join(''), 'hello world');
  assert.equal(back.mismatch, false);
  assert.equal(back.id(), ids.at(-1));
  const other = new TextCursor(at);
  other.advance('Echo from claude: hello');
  assert.equal(other.mismatch, true);
  assert.equal(new TextCursor({ offset: 99 }).reached(), false);
});

test('Last-Event-ID: ours, a bare count, or ignored', () => {
  assert.deepEqual(parseLastEventId('42.abc_-9'), { offset: 42, hash: 'abc_-9' });
  assert.deepEqual(parseLastEventId('42'), { offset: 42 });
  assert.equal(parseLastEventId('2.1.0.0'), undefined);
  assert.equal(parseLastEventId(undefined), undefined);
});
