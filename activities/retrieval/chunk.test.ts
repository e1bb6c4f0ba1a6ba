import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkText } from './chunk';

const words = (s: string) => s.split(/\s+/).filter(Boolean);

test('short text is one chunk; empty text none', () => {
  assert.deepEqual(chunkText('# Title\n\nA short paragraph.', { maxChars: 200, overlapChars: 20 }), ['# Title\n\nA short paragraph.']);
  assert.deepEqual(chunkText('  \n\n \n', { maxChars: 200, overlapChars: 20 }), []);
});

test('paragraphs are packed up to maxChars and never split when they fit', () => {
  const paras = Array.from({ length: 10 }, (_, i) => `Paragraph ${i} ${'word '.repeat(10).trim()}.`);
  const chunks = chunkText(paras.join('\n\n'), { maxChars: 200, overlapChars: 0 });
  assert.ok(chunks.length > 1);
  for (const c of chunks) assert.ok(c.length <= 200, `chunk of ${c.length} chars`);
  // Without overlap, the chunks hold every paragraph exactly once, in order.
  assert.deepEqual(chunks.join('\n\n').split('\n\n'), paras);
});

test('an overlong paragraph is split by sentences, an overlong word by characters', () => {
  const sentence = (i: number) => `Sentence number ${i} talks about circuit breakers and failover.`;
  const para = Array.from({ length: 20 }, (_, i) => sentence(i)).join(' ');
  const long = 'x'.repeat(250);
  const chunks = chunkText(`${para}\n\n${long}`, { maxChars: 120, overlapChars: 0 });
  for (const c of chunks) assert.ok(c.length <= 120);
  const joined = words(chunks.join(' '))
    .join(' ')
    .replace(/x+( x+)*/g, 'LONG');
  assert.equal(joined, `${para} LONG`);
  assert.equal(chunks.join('').replace(/[^x]/g, '').length >= 250, true);
});

test('consecutive chunks overlap by up to overlapChars, at word boundaries', () => {
  const text = Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ');
  const chunks = chunkText(text, { maxChars: 60, overlapChars: 15 });
  assert.ok(chunks.length > 2);
  for (let i = 1; i < chunks.length; i++) {
    const prev = words(chunks[i - 1]);
    const first = words(chunks[i])[0];
    assert.ok(prev.includes(first), `chunk ${i} starts with "${first}", a word of the previous chunk`);
    assert.ok(chunks[i].length <= 60);
  }
  // Every word appears, in order, once the overlap is removed.
  const seen = new Set<string>();
  for (const c of chunks) words(c).forEach((w) => seen.add(w));
  assert.equal(seen.size, 60);
});

test('CRLF line endings are paragraphs too', () => {
  const chunks = chunkText('one\r\n\r\ntwo', { maxChars: 100, overlapChars: 0 });
  assert.deepEqual(chunks, ['one\n\ntwo']);
});
