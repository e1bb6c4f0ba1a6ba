/**
 * Serving one streaming chat completion: provider deltas from the hub become OpenAI chunks as they
 * arrive; the workflow's result ends the stream (any text not relayed yet, tool calls, finish,
 * usage, the `stormproof` extension, `[DONE]`). A client never gets a truncated answer presented
 * as complete: if tokens already reached it and that attempt fails, the stream goes on only where
 * another try continues exactly where the client is (the client is told, with a chunk whose
 * `choices` is empty and whose `stormproof.continued` says from where to where); otherwise it ends
 * with an error event (code STORMPROOF_ERR_STREAM_INTERRUPTED) and no `[DONE]`. The job itself
 * carries on, and its complete answer can be read at /v1/jobs/<id>.
 *
 * A resumable stream (the request had an Idempotency-Key) gives each content chunk the SSE id
 * `<characters so far>.<hash>`; the same request sent again with `Last-Event-ID` gets the rest.
 */
import type { Response } from 'express';
import type { WorkflowHandle } from '@temporalio/client';
import { ErrorCode, type ErrorCodeName } from '../contracts/errors';
import type { AiResponse } from '../contracts/response';
import type { StreamEvent } from '../contracts/streaming';
import { openAiErrorType, sendOpenAiError } from './errors';
import { ChunkWriter, setAnswerHeaders, sse } from './openai-format';
import { failedOutcome } from './outcome';
import type { StreamHub } from './stream-hub';
import { TextCursor, type ClientPosition } from './stream-position';

type Try = Pick<StreamEvent, 'target' | 'model' | 'attempt'>;
const same = (a: Try, b: Try) => a.target === b.target && a.model === b.model && a.attempt === b.attempt;

/** Options of one stream. */
export interface ChatStreamOptions {
  includeUsage: boolean;
  /** The request has an Idempotency-Key: SSE ids on content chunks, and the hub's replay. */
  resumable?: boolean;
  /** Where the client already is (its `Last-Event-ID`). */
  from?: ClientPosition;
}

/**
 * Relays one job's stream to `res`. Subscribe before the workflow starts (or, resumable, after
 * the hub retains the job), so the stream's first try is seen.
 */
export class ChatStream {
  private current?: Try;
  /** The try whose text is the answer's latest part. */
  private sentFrom?: Try;
  /** The answer's text as relayed so far (whether this connection or an earlier one wrote it). */
  private text = '';
  /** Why the try that sent tokens failed, until a continuation takes over. */
  private cutBy?: string;
  /**
   * The answer begins with a try that starts afresh: until one is seen (a subscriber that came
   * late), the text before what arrives is unknown, and the workflow's result is the source.
   */
  private synced = false;
  private readonly candidates = new Set<string>();
  private finished = false;
  private unsubscribe: () => void = () => undefined;
  private readonly writer: ChunkWriter;
  private readonly cursor: TextCursor;

  constructor(
    hub: StreamHub,
    private readonly res: Response,
    private readonly jobId: string,
    private readonly opts: ChatStreamOptions,
  ) {
    this.writer = new ChunkWriter(jobId, Math.floor(Date.now() / 1000), opts.includeUsage);
    this.cursor = new TextCursor(opts.from);
    const off = hub.subscribe(jobId, (e) => this.onEvent(e), { replay: opts.resumable, delivered: () => this.delivered() });
    // The replay may already have ended this stream (a Last-Event-ID that is not this answer's).
    if (this.finished) off();
    else this.unsubscribe = off;
  }

  /** Waits for the workflow's outcome and ends the stream; never throws. */
  async run(handle: WorkflowHandle): Promise<void> {
    try {
      this.onResult((await handle.result()) as AiResponse);
    } catch (err) {
      this.onFailure(err);
    }
  }

  /** Stops relaying (client gone, or start failed). */
  close(): void {
    this.finished = true;
    this.unsubscribe();
  }

  /**
   * What the client has (for a retried call that continues it). The try being relayed is
   * dropped: the asker continues from exactly this text, and late lines must not be added to it.
   */
  private delivered(): string | undefined {
    if (!this.synced || this.finished) return undefined;
    this.current = undefined;
    return this.text;
  }

  private onEvent(e: StreamEvent): void {
    if (this.finished) return;
    // The whole answer, published by the call that got it: the stream ends now, not when the
    // workflow's result arrives (it is the same response).
    if (e.type === 'answer') return this.onResult(e.response);
    if (!this.synced) {
      if (e.type !== 'start' || e.resumeAt !== undefined) return;
      this.synced = true;
    }
    if (e.type === 'start') {
      if (this.sentFrom && !same(this.sentFrom, e) && e.resumeAt === this.text.length) {
        // Mid-stream failover: this try continues the answer exactly where the client's copy ends.
        const from = this.sentFrom;
        this.current = e;
        this.sentFrom = e;
        this.candidates.add(`${e.target}/${e.model}`);
        this.tellContinued(from, e, this.cutBy ?? 'the stream stopped (its worker was lost)');
        this.cutBy = undefined;
        return;
      }
      // A new try after tokens of another one reached the client: those tokens cannot be taken back.
      if (this.sentFrom && !same(this.sentFrom, e))
        return this.interrupt(
          this.cutBy ??
            `the stream from ${this.sentFrom.target} failed after part of the answer was sent; the gateway moved on to ${e.target}`,
        );
      this.current = e;
      this.candidates.add(`${e.target}/${e.model}`);
      return;
    }
    if (!this.current || !same(this.current, e)) return; // a late line of an abandoned try
    if (e.type === 'end') {
      // A failed try whose tokens reached the client: wait for what comes next. A continuation
      // (a start with resumeAt) goes on; any other try, or the final outcome, decides.
      if (!e.ok && this.sentFrom)
        this.cutBy = `the stream from ${e.target} failed after part of the answer was sent: ${e.error ?? 'unknown error'}`;
      return;
    }
    this.sentFrom = e;
    this.append(e.target, e.model, e.content);
  }

  private onResult(r: AiResponse): void {
    if (this.finished) return;
    const content = r.message.content ?? '';
    if (!this.synced)
      this.text = ''; // everything comes from the durable result
    else if (this.sentFrom && (this.sentFrom.target !== r.target || !content.startsWith(this.text))) {
      return this.interrupt(`the answer came from another attempt than the streamed tokens (${r.target})`);
    }
    if (!this.res.headersSent) {
      setAnswerHeaders(this.res, r);
      const failovers = (r as AiResponse & { failovers?: number }).failovers;
      if (failovers !== undefined) this.res.setHeader('x-stormproof-failovers', String(failovers));
    }
    this.open(r.target, r.model, r.message.tool_calls?.length && !content ? null : '');
    // Text the relay did not deliver (another process, lost lines) comes from the durable result.
    this.append(r.target, r.model, content.slice(this.text.length));
    if (this.finished) return;
    if (!this.cursor.reached())
      return this.interrupt(`the answer is shorter than the ${this.opts.from?.offset} characters the client says it has`);
    for (const c of this.writer.ending(r)) this.write(c);
    this.write(sse('[DONE]'));
    this.end();
  }

  private onFailure(err: unknown): void {
    if (this.finished) return;
    const f = failedOutcome(err);
    if (!this.res.headersSent) {
      this.close();
      // The gateway already retried and failed over: a client retry would only repeat all that.
      this.res.setHeader('x-should-retry', 'false');
      sendOpenAiError(this.res, f.status, f.code, f.message, null, {
        stormproof: { job_id: this.jobId, attempts: f.attempts, degradations: f.degradations },
      });
      return;
    }
    this.fail(f.code, f.message, f.status);
  }

  /** Adds answer text; writes what this client lacks. */
  private append(target: string, model: string, piece: string): void {
    if (!piece) return;
    this.text += piece;
    const fresh = this.cursor.advance(piece);
    if (this.cursor.mismatch) return this.interrupt('the answer differs from the part the client says it has (Last-Event-ID)');
    if (!fresh) return;
    this.open(target, model);
    this.write(this.writer.chunk(model, { content: fresh }), this.opts.resumable ? this.cursor.id() : undefined);
  }

  /** The explicit notice of a stream continued elsewhere (an OpenAI client skips a chunk without choices). */
  private tellContinued(from: Try, to: Try, reason: string): void {
    const at = this.text.length;
    if (at < (this.opts.from?.offset ?? 0)) return; // an earlier connection of this client was told
    this.open(to.target, to.model);
    const continued = { from: from.target, to: to.target, at, reason };
    this.write({ ...this.writer.chunk(to.model, {}), choices: [], stormproof: { job_id: this.jobId, continued } });
  }

  private interrupt(why: string): void {
    this.fail(
      ErrorCode.StreamInterrupted,
      `${why}. The answer so far is incomplete; the complete answer will be at /v1/jobs/${this.jobId}.`,
      502,
    );
  }

  /** Ends an open stream with an OpenAI-style error event and no [DONE]. */
  private fail(code: ErrorCodeName, message: string, status: number): void {
    if (!this.res.headersSent) {
      this.close();
      this.res.setHeader('x-should-retry', 'false');
      sendOpenAiError(this.res, status, code, message, null, { stormproof: { job_id: this.jobId } });
      return;
    }
    this.write(sse({ error: { message, type: openAiErrorType(status), param: null, code, stormproof: { job_id: this.jobId } } }));
    this.end();
  }

  /** Sends the headers and the role chunk, once. */
  private open(target: string, model: string, roleContent: string | null = ''): void {
    if (this.res.headersSent) return;
    this.res.status(200);
    this.res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    this.res.setHeader('cache-control', 'no-cache');
    this.res.setHeader('x-accel-buffering', 'no');
    if (!this.res.hasHeader('x-stormproof-target')) {
      this.res.setHeader('x-stormproof-target', target);
      this.res.setHeader('x-stormproof-failovers', String(Math.max(0, this.candidates.size - 1)));
    }
    this.res.flushHeaders();
    this.write(this.writer.chunk(model, { role: 'assistant', content: roleContent, refusal: null }));
  }

  private write(data: object | string, id?: string): void {
    if (!this.res.writableEnded) this.res.write(`${id ? `id: ${id}\n` : ''}${typeof data === 'string' ? data : sse(data)}`);
  }

  private end(): void {
    this.close();
    this.res.end();
  }
}
