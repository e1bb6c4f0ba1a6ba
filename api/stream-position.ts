/**
 * Where a client is in a streamed answer: the SSE event id of each content chunk is
 * `<characters so far>.<hash of them>`, so a client that comes back with `Last-Event-ID` (same
 * request, same Idempotency-Key) is sent exactly the rest, and only if its copy matches.
 */
import { createHash, type Hash } from 'node:crypto';

/** A position a client sends back. */
export interface ClientPosition {
  offset: number;
  /** Absent when the client sends a bare character count. */
  hash?: string;
}

/** Parses a `Last-Event-ID` header; undefined when absent or not ours. */
export function parseLastEventId(value: string | undefined): ClientPosition | undefined {
  const m = /^(\d{1,12})(?:\.([A-Za-z0-9_-]{1,64}))?$/.exec(value?.trim() ?? '');
  return m ? { offset: Number(m[1]), ...(m[2] ? { hash: m[2] } : {}) } : undefined;
}

/** Follows the answer's text and tells what the client lacks. */
export class TextCursor {
  private readonly hash: Hash = createHash('sha256');
  /** Characters of the answer seen so far. */
  length = 0;
  /** The client's copy differs from the answer. */
  mismatch = false;

  constructor(private readonly from: ClientPosition = { offset: 0 }) {}

  /** Appends answer text; returns the part the client does not have yet. */
  advance(piece: string): string {
    const need = this.from.offset - this.length;
    if (need <= 0) {
      this.add(piece);
      return piece;
    }
    if (piece.length < need) {
      this.add(piece);
      return '';
    }
    this.add(piece.slice(0, need));
    if (this.from.hash !== undefined && this.from.hash !== this.digest()) this.mismatch = true;
    this.add(piece.slice(need));
    return piece.slice(need);
  }

  /** True once the answer reached the client's position (a shorter answer cannot be the client's). */
  reached(): boolean {
    return this.length >= this.from.offset;
  }

  /** The SSE id of the position after everything seen so far. */
  id(): string {
    return `${this.length}.${this.digest()}`;
  }

  private add(text: string): void {
    this.hash.update(text);
    this.length += text.length;
  }

  private digest(): string {
    return this.hash.copy().digest('base64url').slice(0, 16);
  }
}
