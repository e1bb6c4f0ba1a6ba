/**
 * Deterministic "model": echo answers, word-based token counts and hashed
 * bag-of-words embeddings. Shared by the OpenAI and Anthropic formats.
 */

/** Counts whitespace-separated words. */
export function countWords(text: string): number {
  const m = text.match(/\S+/g);
  return m ? m.length : 0;
}

/**
 * Splits text into stream pieces: each word with its following whitespace,
 * so that `pieces.join('') === text` (minus leading whitespace).
 */
export function splitPieces(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [];
}

/**
 * Text of a message `content`: a string as is, or the concatenated `text` of
 * the `{type:"text", text}` parts of an array. Anything else gives ''.
 */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return textParts(content).join('');
}

/** The `text` strings of `{type:"text"}` parts of a content array. */
export function textParts(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  const out: string[] = [];
  for (const part of content) {
    if (part && typeof part === 'object') {
      const p = part as Record<string, unknown>;
      if (p.type === 'text' && typeof p.text === 'string') out.push(p.text);
      // Anthropic tool_result blocks carry their own content.
      if (p.type === 'tool_result') out.push(...textParts(p.content));
    }
  }
  return out;
}

/** Word count of a content value, counting each text part separately. */
export function contentWords(content: unknown): number {
  return textParts(content).reduce((n, t) => n + countWords(t), 0);
}

/** True when lastUserText asks for a tool ("tool"/"tools" as a word, any case). */
export function wantsTool(lastUserText: string): boolean {
  return /\btools?\b/i.test(lastUserText);
}

/** A computed echo answer. */
export interface EchoAnswer {
  /** The emitted text (truncated when limited by max tokens). */
  text: string;
  /** Stream pieces; `pieces.join('') === text`. */
  pieces: string[];
  /** Completion tokens (= pieces.length). */
  tokens: number;
  /** True when cut short by max tokens. */
  truncated: boolean;
}

/**
 * Computes `"Echo from " + model + ": " + lastUserText`, truncated to
 * `maxTokens` words when that is smaller than the answer's word count.
 */
export function echoAnswer(model: string, lastUserText: string, maxTokens?: number): EchoAnswer {
  return textAnswer(`Echo from ${model}: ${lastUserText}`, maxTokens);
}

/** An answer of exactly `full`, truncated to `maxTokens` words when that is smaller than its word count. */
export function textAnswer(full: string, maxTokens?: number): EchoAnswer {
  const all = splitPieces(full);
  if (maxTokens !== undefined && maxTokens < all.length) {
    const pieces = all.slice(0, Math.max(0, maxTokens));
    const last = pieces.length - 1;
    if (last >= 0) pieces[last] = pieces[last].trimEnd();
    return { text: pieces.join(''), pieces, tokens: pieces.length, truncated: true };
  }
  return { text: full, pieces: all, tokens: all.length, truncated: false };
}

/** An empty answer (no text, no tokens). */
export function emptyAnswer(): EchoAnswer {
  return { text: '', pieces: [], tokens: 0, truncated: false };
}

const GARBAGE = '\uFFFD\uFFFD lorem ## ';

/**
 * A deterministic nonsense answer: "�� lorem ##" filler. With `json` (the caller asked for a JSON
 * object) it opens like JSON but never closes, so it still does not parse.
 */
export function garbageAnswer(maxTokens?: number, json = false): EchoAnswer {
  const filler = GARBAGE.repeat(4).trimEnd();
  return textAnswer(json ? `{"answer": "${filler}` : filler, maxTokens);
}

/** Splits text into stream pieces keeping its leading whitespace: `pieces.join('') === text`. */
function piecesWithLead(text: string): string[] {
  return /\S/.test(text) ? (text.match(/\s*\S+\s*/g) ?? []) : [];
}

/** An answer of exactly `text` (leading whitespace kept), one piece per word. */
function rawAnswer(text: string, truncated: boolean): EchoAnswer {
  const pieces = piecesWithLead(text);
  return { text: pieces.join(''), pieces, tokens: pieces.length, truncated };
}

/**
 * An answer continued after the first part of it (a prefill, or the text a continuation
 * instruction carries): what follows as many words as that part has. Like a real model, it puts
 * back the whitespace before the next word (a prefill reaches the model trimmed).
 */
export function continueAnswer(answer: EchoAnswer, prefix: string): EchoAnswer {
  const skip = countWords(prefix);
  const words = /\S+/g;
  let end = 0;
  for (let k = 0; k < skip; k++) {
    const m = words.exec(answer.text);
    if (!m) return rawAnswer('', answer.truncated);
    end = m.index + m[0].length;
  }
  return rawAnswer(answer.text.slice(end), answer.truncated);
}

/** How an imperfect model follows a continuation instruction (the `continuationFault` knob). */
export type ContinuationFault = 'repeatTail' | 'restart';

/**
 * The continuation of an imperfect follower: it repeats the last three words of the text it was
 * given (`repeatTail`) or the whole of it from the beginning (`restart`) before the rest.
 */
export function imperfectContinuation(rest: EchoAnswer, given: string, fault: ContinuationFault): EchoAnswer {
  const kept = given.trimEnd();
  const repeated = fault === 'restart' ? kept : (/(?:\S+\s+){0,2}\S+$/.exec(kept)?.[0] ?? '');
  return rawAnswer(repeated + rest.text, rest.truncated);
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Deterministic embedding: hashed bag of lower-cased words into `dimensions`
 * buckets (signed), L2-normalised. Similar texts give similar vectors.
 */
export function embed(text: string, dimensions: number): number[] {
  const v = new Array<number>(dimensions).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  for (const w of words) {
    const h = fnv1a(w);
    v[h % dimensions] += h & 0x80000000 ? -1 : 1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  if (norm === 0) {
    v[0] = 1;
    return v;
  }
  return v.map((x) => x / norm);
}

/** Encodes floats as base64 of little-endian float32 bytes (OpenAI `encoding_format: "base64"`). */
export function floatsToBase64(values: number[]): string {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((x, i) => buf.writeFloatLE(x, i * 4));
  return buf.toString('base64');
}
