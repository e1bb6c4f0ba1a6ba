/**
 * Mid-stream continuation: how a target is asked to go on with an answer the client already has
 * part of, by what its API really supports, and how its output is joined to that part.
 *
 * - Anthropic has a prefill: the text so far goes as a final assistant message and the model
 *   continues it. The API rejects a final assistant message ending in whitespace, so it is sent
 *   trimmed, and the whitespace the model puts back at the seam is not doubled.
 * - OpenAI Chat Completions has none (a final assistant message is answered as a new turn), nor do
 *   OpenAI-compatible servers in general: the text so far goes as the assistant's turn, then a user
 *   message asks to continue exactly where it stops. A model may still repeat the last words or
 *   start over; that overlap is cut at the seam.
 */
import type { TargetConfig } from '../config/schema';
import type { ProviderCallInput } from '../contracts/routing';

type Request = ProviderCallInput['request'];

/** How a target kind continues an answer. */
export type ContinuationMode = 'prefill' | 'instruction';

// #region guide:continuation-request
/** The continuation mode of a target kind. */
export function continuationMode(kind: TargetConfig['kind']): ContinuationMode {
  return kind === 'anthropic' ? 'prefill' : 'instruction';
}

/** The instruction sent after the text so far to a target without a prefill. */
export const CONTINUE_INSTRUCTION =
  'Your previous reply above was cut off before it was finished. Continue it exactly where it stops: ' +
  'reply with only the rest of it, starting with the very next characters. Do not repeat any of it, ' +
  'do not start over, and add nothing before the continuation.';

/** The request a target gets to continue `text` (the answer so far). */
export function continuationRequest(request: Request, text: string, mode: ContinuationMode): Request {
  if (mode === 'prefill') {
    const prefill = text.trimEnd();
    // All whitespace: nothing to continue from (and an empty assistant turn is refused).
    if (!prefill) return request;
    return { ...request, messages: [...request.messages, { role: 'assistant', content: prefill }] };
  }
  return {
    ...request,
    messages: [...request.messages, { role: 'assistant', content: text }, { role: 'user', content: CONTINUE_INSTRUCTION }],
  };
}
// #endregion guide:continuation-request

const leadingSpace = (s: string) => /^\s*/.exec(s)![0];
const trailingSpace = (s: string) => /\s*$/.exec(s)![0];

/**
 * Joins whitespace at the seam: the client's text ends in `tail` (possibly empty) and the
 * continuation `rest` starts with its own. What the client has stands (it cannot be taken back);
 * only whitespace that extends it (a paragraph break after a line break) is kept.
 */
export function joinWhitespace(tail: string, rest: string): string {
  if (!tail) return rest;
  const lead = leadingSpace(rest);
  if (!lead) return rest;
  return lead.startsWith(tail) ? rest.slice(tail.length) : rest.slice(lead.length);
}

/** Shortest repeat of the text so far that is cut as an overlap (shorter ones may be chance). */
export const MIN_OVERLAP = 12;
/** How far back a repeated tail may start (characters of the text so far). */
const MAX_TAIL = 400;
/** A restart matching at least this much of the text so far, then diverging, cannot be joined. */
const RESTART_MATCH = 24;

type Match = { kind: 'full'; consumed: number } | { kind: 'partial' } | { kind: 'none'; matched: number };

/** Matches `expected` at the start of `got`, any whitespace run matching any whitespace run. */
function matchLoose(expected: string, got: string): Match {
  let i = 0;
  let j = 0;
  while (i < expected.length) {
    if (j >= got.length) return { kind: 'partial' };
    const e = expected[i];
    const g = got[j];
    if (/\s/.test(e)) {
      if (!/\s/.test(g)) return { kind: 'none', matched: i };
      while (i < expected.length && /\s/.test(expected[i])) i++;
      while (j < got.length && /\s/.test(got[j])) j++;
      // Whitespace at the end of `got` may still grow: wait for what follows it.
      if (j >= got.length && i < expected.length) return { kind: 'partial' };
      continue;
    }
    if (e !== g) return { kind: 'none', matched: i };
    i++;
    j++;
  }
  return { kind: 'full', consumed: j };
}

/** The longest suffix of `text` equal to the text just before it, shifted by a period (a square). */
function selfRepeat(text: string): number {
  const n = text.length;
  let reach = 0;
  for (let period = 1; period <= Math.min(MAX_TAIL, Math.floor(n / 2)); period++) {
    let i = n - period - 1;
    while (i >= 0 && text[i] === text[i + period]) i--;
    const covered = n - 1 - i;
    if (covered >= 2 * period) reach = Math.max(reach, covered - period);
  }
  return reach;
}

/**
 * Joins a continuation to the text the client has, piece by piece as it streams. It holds back
 * only what may still turn out to be an overlap, then releases text. `failure` is set when the
 * continuation cannot be joined (it restarted the answer in other words).
 */
export class Seam {
  private buffer = '';
  private decided = false;
  private readonly tail: string;
  private readonly base: string;
  /** Where a repeat may start in `base`: its start (a restart) and word starts near its end. */
  private readonly starts: number[] = [];
  /**
   * The longest overlap the text's own repetition explains: in a text that repeats itself (a
   * list, a chant, a periodic pattern), an exact continuation starts like the text's end. Such an
   * overlap is ambiguous and kept (a repeat may stay; no text is lost).
   */
  private readonly selfRepeat: number;
  failure?: string;

  constructor(
    delivered: string,
    private readonly mode: ContinuationMode,
  ) {
    this.tail = trailingSpace(delivered);
    this.base = delivered.trimEnd();
    this.selfRepeat = 0;
    if (mode === 'instruction') {
      const from = Math.max(0, this.base.length - MAX_TAIL);
      for (let p = 0; p <= this.base.length - MIN_OVERLAP; p++) {
        if (p === 0 || (p >= from && /\s/.test(this.base[p - 1]) && !/\s/.test(this.base[p]))) this.starts.push(p);
      }
      this.selfRepeat = selfRepeat(this.base);
    }
  }

  /** Feeds the next piece of the continuation; returns the text to release now (maybe ''). */
  push(piece: string): string {
    if (this.decided) return piece;
    this.buffer += piece;
    return this.decide(false);
  }

  /** The continuation ended: returns whatever was still held back. */
  end(): string {
    return this.decided ? '' : this.decide(true);
  }

  private decide(final: boolean): string {
    const lead = leadingSpace(this.buffer);
    const body = this.buffer.slice(lead.length);
    if (!body && !final) return '';
    let best: { consumed: number; length: number } | undefined;
    let restartMatched = 0;
    for (const p of this.starts) {
      const m = matchLoose(this.base.slice(p), body);
      if (m.kind === 'partial') {
        if (!final) return ''; // may still be a repeat: hold on
        continue;
      }
      if (m.kind === 'full') {
        const length = this.base.length - p;
        if (length > this.selfRepeat && (!best || length > best.length)) best = { consumed: m.consumed, length };
      } else if (p === 0) {
        restartMatched = m.matched;
      }
    }
    // The whitespace after a repeat joins the seam: wait for what follows it.
    if (best && !final && !/\S/.test(body.slice(best.consumed))) return '';
    this.decided = true;
    if (best) return joinWhitespace(this.tail, body.slice(best.consumed));
    if (restartMatched >= RESTART_MATCH) {
      this.failure = `the continuation started the answer over in other words (it matched the first ${restartMatched} characters, then differed): it cannot be joined to the text the client has`;
      return '';
    }
    return joinWhitespace(this.tail, this.buffer);
  }
}
