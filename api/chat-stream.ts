/**
 * Serving one streaming chat completion: provider deltas from the hub become OpenAI chunks as they
 * arrive; the workflow's result ends the stream (any text not relayed yet, tool calls, finish,
 * usage, the `stormproof` extension, `[DONE]`). A client never gets a truncated answer presented
 * as complete: if tokens already reached it and that attempt fails, the stream ends with an error
 * event (code STORMPROOF_ERR_STREAM_INTERRUPTED) and no `[DONE]`; the job itself carries on, and
 * its complete answer can be read at /v1/jobs/<id>.
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

type Try = Pick<StreamEvent, 'target' | 'model' | 'attempt'>;
const same = (a: Try, b: Try) => a.target === b.target && a.model === b.model && a.attempt === b.attempt;

/** Relays one job's stream to `res`. Subscribe before the workflow starts: call `attach` first. */
export class ChatStream {
  private current?: Try;
  /** The try whose tokens reached the client, and what it sent. */
  private sentFrom?: Try;
  private sent = '';
  /** Why the try that sent tokens failed, until a continuation takes over. */
  private cutBy?: string;
  private readonly candidates = new Set<string>();
  private finished = false;
  private readonly unsubscribe: () => void;
  private readonly writer: ChunkWriter;

  constructor(
    hub: StreamHub,
    private readonly res: Response,
    private readonly jobId: string,
    includeUsage: boolean,
  ) {
    this.writer = new ChunkWriter(jobId, Math.floor(Date.now() / 1000), includeUsage);
    this.unsubscribe = hub.subscribe(jobId, (e) => this.onEvent(e));
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

  private onEvent(e: StreamEvent): void {
    if (this.finished) return;
    if (e.type === 'start') {
      if (this.sentFrom && !same(this.sentFrom, e) && e.resumeAt === this.sent.length) {
        // Mid-stream failover: this try continues the answer exactly where the client's copy ends.
        this.current = e;
        this.sentFrom = e;
        this.cutBy = undefined;
        this.candidates.add(`${e.target}/${e.model}`);
        return;
      }
      // A new try after tokens of another one reached the client: those tokens cannot be taken back.
      if (this.sentFrom && !same(this.sentFrom, e)) return this.interrupt(this.cutBy ?? `the stream from ${this.sentFrom.target} failed after part of the answer was sent; the gateway moved on to ${e.target}`);
      this.current = e;
      this.candidates.add(`${e.target}/${e.model}`);
      return;
    }
    if (!this.current || !same(this.current, e)) return; // a late line of an abandoned try
    if (e.type === 'end') {
      // A failed try whose tokens reached the client: wait for what comes next. A continuation
      // (a start with resumeAt) goes on; any other try, or the final outcome, decides.
      if (!e.ok && this.sentFrom) this.cutBy = `the stream from ${e.target} failed after part of the answer was sent: ${e.error ?? 'unknown error'}`;
      return;
    }
    if (!this.sentFrom) {
      this.open(e.target);
      this.sentFrom = e;
      this.write(this.writer.chunk(e.model, { role: 'assistant', content: '', refusal: null }));
    }
    this.sent += e.content;
    this.write(this.writer.chunk(e.model, { content: e.content }));
  }

  private onResult(r: AiResponse): void {
    if (this.finished) return;
    const content = r.message.content ?? '';
    if (this.sentFrom && (this.sentFrom.target !== r.target || !content.startsWith(this.sent))) {
      return this.interrupt(`the answer came from another attempt than the streamed tokens (${r.target})`);
    }
    if (!this.sentFrom) {
      setAnswerHeaders(this.res, r);
      this.open(r.target);
      this.write(this.writer.chunk(r.model, { role: 'assistant', content: r.message.tool_calls?.length && !content ? null : '', refusal: null }));
    }
    // Text the relay did not deliver (another process, lost lines) comes from the durable result.
    const rest = content.slice(this.sent.length);
    if (rest) this.write(this.writer.chunk(r.model, { content: rest }));
    for (const c of this.writer.ending(r)) this.write(c);
    this.write(sse('[DONE]'));
    this.end();
  }

  private onFailure(err: unknown): void {
    if (this.finished) return;
    const f = failedOutcome(err);
    if (!this.res.headersSent) {
      this.close();
      sendOpenAiError(this.res, f.status, f.code, f.message, null, { stormproof: { job_id: this.jobId, attempts: f.attempts, degradations: f.degradations } });
      return;
    }
    this.fail(f.code, f.message, f.status);
  }

  private interrupt(why: string): void {
    this.fail(ErrorCode.StreamInterrupted, `${why}. The answer so far is incomplete; the complete answer will be at /v1/jobs/${this.jobId}.`, 502);
  }

  /** Ends an open stream with an OpenAI-style error event and no [DONE]. */
  private fail(code: ErrorCodeName, message: string, status: number): void {
    this.write(sse({ error: { message, type: openAiErrorType(status), param: null, code, stormproof: { job_id: this.jobId } } }));
    this.end();
  }

  private open(target: string): void {
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
  }

  private write(data: object | string): void {
    if (!this.res.writableEnded) this.res.write(typeof data === 'string' ? data : sse(data));
  }

  private end(): void {
    this.close();
    this.res.end();
  }
}
