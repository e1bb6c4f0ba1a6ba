/**
 * Splits a document into overlapping chunks for retrieval: paragraphs are packed together up to
 * `maxChars`; an overlong paragraph is split by sentences, an overlong sentence by words.
 */

/** How to chunk. */
export interface ChunkOptions {
  /** Longest chunk, in characters. */
  maxChars: number;
  /** Text a chunk repeats from the end of the previous one (cut at a word boundary). */
  overlapChars: number;
}

interface Piece {
  text: string;
  /** true: the piece starts a new paragraph (joined by a blank line, else by a space). */
  paragraph: boolean;
}

/** An overlong sentence as words (packed again later); an overlong word in `max`-sized parts. */
function splitLong(text: string, max: number): string[] {
  if (text.length <= max) return [text];
  return text.split(/\s+/).flatMap((w) => Array.from({ length: Math.ceil(w.length / max) }, (_, i) => w.slice(i * max, (i + 1) * max)));
}

function pieces(text: string, max: number): Piece[] {
  const out: Piece[] = [];
  for (const block of text.split(/\n[ \t]*\n/)) {
    const para = block.trim();
    if (!para) continue;
    if (para.length <= max) {
      out.push({ text: para, paragraph: true });
      continue;
    }
    const sentences = para.split(/(?<=[.!?])\s+/).flatMap((s) => splitLong(s, max));
    sentences.forEach((s, i) => out.push({ text: s, paragraph: i === 0 }));
  }
  return out;
}

/** The end of `text`, at most `n` characters, starting at a word boundary. */
function tail(text: string, n: number): string {
  if (n <= 0) return '';
  if (text.length <= n) return text;
  const cut = text.slice(text.length - n);
  const space = cut.search(/\s/);
  return space < 0 ? '' : cut.slice(space).trim();
}

/** Chunks of `text`, in order; none longer than `maxChars`. Empty text gives no chunks. */
export function chunkText(text: string, opts: ChunkOptions): string[] {
  const { maxChars, overlapChars } = opts;
  const chunks: string[] = [];
  let cur = '';
  let fresh = true; // cur holds only overlap from the previous chunk
  for (const p of pieces(text.replace(/\r\n?/g, '\n'), maxChars)) {
    const sep = cur ? (p.paragraph ? '\n\n' : ' ') : '';
    if (cur && cur.length + sep.length + p.text.length > maxChars) {
      if (!fresh) chunks.push(cur);
      const overlap = fresh ? '' : tail(cur, overlapChars);
      cur = overlap && overlap.length + 1 + p.text.length <= maxChars ? `${overlap} ${p.text}` : p.text;
    } else {
      cur += sep + p.text;
    }
    fresh = false;
  }
  if (cur && !fresh) chunks.push(cur);
  return chunks;
}
