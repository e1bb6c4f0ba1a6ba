/** Joining a continuation to the text the client has: whitespace, repeats, restarts. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { continuationRequest, CONTINUE_INSTRUCTION, joinWhitespace, Seam, type ContinuationMode } from './continuation';

/** Feeds `out` in pieces of `size` characters. */
function join(delivered: string, out: string, mode: ContinuationMode, size = 3): { text: string; failure?: string } {
  const seam = new Seam(delivered, mode);
  let text = '';
  for (let i = 0; i < out.length; i += size) text += seam.push(out.slice(i, i + size));
  text += seam.end();
  return { text, failure: seam.failure };
}

describe('joinWhitespace', () => {
  test('neither doubled nor lost', () => {
    assert.equal(joinWhitespace('\n\n', '\n\nSecond'), 'Second');
    assert.equal(joinWhitespace(' ', ' next'), 'next');
    assert.equal(joinWhitespace('\n', '\n\nSecond'), '\nSecond', 'a line break grown into a paragraph break');
    assert.equal(joinWhitespace(' ', '\n\nSecond'), 'Second', 'the client already has a separator');
    assert.equal(joinWhitespace('', ' next'), ' next');
    assert.equal(joinWhitespace(' ', 'next'), 'next');
  });
});

describe('Seam', () => {
  const so = 'Rivers carry water from the hills to the sea. Most of them ';
  test('prefill: only the whitespace is joined', () => {
    assert.deepEqual(join(so, ' begin as springs.', 'prefill'), { text: 'begin as springs.', failure: undefined });
    assert.equal(join('Part one.\n\n', '\n\nPart two.', 'prefill').text, 'Part two.');
  });
  test('instruction: a repeated tail is cut, whatever the piece size', () => {
    for (const size of [1, 2, 5, 100])
      assert.equal(join(so, 'to the sea. Most of them begin as springs.', 'instruction', size).text, 'begin as springs.', `size ${size}`);
  });
  test('instruction: a restart repeating the whole text is cut; whitespace differences do not matter', () => {
    assert.equal(
      join(so, 'Rivers carry water from the hills\nto the sea.  Most of them begin as springs.', 'instruction').text,
      'begin as springs.',
    );
  });
  test('instruction: an exact follower is left alone, even when it opens like the text', () => {
    assert.equal(join(so, 'begin as springs.', 'instruction').text, 'begin as springs.');
    assert.equal(join(so, 'Rivers: they begin as springs.', 'instruction').text, 'Rivers: they begin as springs.');
    assert.equal(join(so, 'them all', 'instruction').text, 'them all', 'a short coincidence is not an overlap');
  });
  test('instruction: a restart in other words cannot be joined', () => {
    const r = join(so, 'Rivers carry water from the mountains down to the ocean.', 'instruction');
    assert.match(r.failure ?? '', /started the answer over in other words/);
  });
});

test('continuationRequest: a trimmed prefill, or the text and an instruction', () => {
  const request = { model: 'm', messages: [{ role: 'user' as const, content: 'q' }] };
  assert.deepEqual(continuationRequest(request, 'so far \n', 'prefill').messages.at(-1), { role: 'assistant', content: 'so far' });
  assert.deepEqual(continuationRequest(request, ' \n', 'prefill'), request, 'nothing to continue from');
  assert.deepEqual(continuationRequest(request, 'so far ', 'instruction').messages.slice(1), [
    { role: 'assistant', content: 'so far ' },
    { role: 'user', content: CONTINUE_INSTRUCTION },
  ]);
});

test('a text that repeats itself: an exact continuation that starts like its end is not taken for a repeat', () => {
  const cycle = 'alpha bravo charlie delta echo foxtrot golf hotel india juliett ';
  const so = `Echo from gpt-4o: ${cycle.repeat(6)}alpha bravo `;
  const rest = `charlie delta echo foxtrot golf hotel india juliett ${cycle.repeat(3)}qz1`;
  assert.equal(join(so, rest, 'instruction', 7).text, rest, 'nothing lost');
  // A repeat of the words before the periodic part is still cut.
  assert.equal(join('The list follows. One two three four five. ', 'One two three four five. Six.', 'instruction').text, 'Six.');
});
