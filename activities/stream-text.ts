/**
 * The text a streaming call delivers to the client, piece by piece: joined at the seam when the
 * call continues an answer begun elsewhere, and held back at the start only until the head checks
 * pass, so a garbage stream fails over before the client has a single character of it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../contracts/failures';
import { CHECKPOINT_MAX_CHARS, type StreamCheckpoint } from '../contracts/streaming';
import type { ProviderCallInput } from '../contracts/routing';
import { HEAD_CHARS, headProblem } from './answer-quality';
import type { Seam } from './continuation';

/** Options of {@link StreamText}. */
export interface StreamTextOptions {
  /** The client's request (what the head checks judge against). */
  request: ProviderCallInput['request'];
  /** Joins the provider's output to the answer so far, for a continuation. */
  seam?: Seam;
  /** Text this call already delivered before its provider stream began (a resumed call). */
  initial?: string;
  /** Sends text to the client (a `delta` event). */
  publish: (content: string) => void;
  /** Names the provider in failure messages. */
  who: string;
}

/** What a streaming call has delivered, and the gate in front of the client. */
export class StreamText {
  /** The text this call delivered (after any continuation it was given). */
  text: string;
  /** Pieces delivered. */
  chunks: number;
  private readonly held: string[] = [];
  private heldChars = 0;
  private headChecked: boolean;

  constructor(private readonly o: StreamTextOptions) {
    this.text = o.initial ?? '';
    this.chunks = this.text ? 1 : 0;
    // A resumed call's start was checked by the call that delivered it.
    this.headChecked = this.text.length > 0;
  }

  /** One piece from the provider. Throws ProviderBadAnswer when the answer is unusable. */
  push(piece: string): void {
    const text = this.o.seam ? this.o.seam.push(piece) : piece;
    this.unjoinable();
    this.pass(text, false);
  }

  /** The provider finished: delivers what was held back (after the checks). */
  end(): void {
    const text = this.o.seam ? this.o.seam.end() : '';
    this.unjoinable();
    this.pass(text, true);
  }

  /** Delivers text that needs no check (what the client lacks of a checkpoint). */
  deliver(text: string): void {
    if (!text) return;
    this.text += text;
    this.chunks += 1;
    this.o.publish(text);
  }

  /** The heartbeat details. */
  checkpoint(): StreamCheckpoint {
    return this.text.length <= CHECKPOINT_MAX_CHARS ? { chunks: this.chunks, partialText: this.text } : { chunks: this.chunks };
  }

  private pass(text: string, final: boolean): void {
    if (this.headChecked) return this.deliver(text);
    if (text) this.held.push(text);
    this.heldChars += text.length;
    if (this.heldChars < HEAD_CHARS && !final) return;
    this.headChecked = true;
    const held = this.held.join('');
    if (!held) return;
    const problem = headProblem(held, this.o.request, this.o.seam !== undefined);
    if (problem) throw bad(`${this.o.who}: ${problem} (held back: nothing reached the client)`);
    // Piece by piece, as the provider sent them: the client sees the same chunks.
    for (const piece of this.held.splice(0)) this.deliver(piece);
  }

  private unjoinable(): void {
    if (this.o.seam?.failure) throw bad(`${this.o.who}: ${this.o.seam.failure}`);
  }
}

function bad(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.BadAnswer, message, nonRetryable: true, details: [{ attempt: 0 }] });
}
