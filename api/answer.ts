/**
 * The answer of a synchronous (non-streaming) request: the first of the response the worker
 * publishes the moment the provider answered (activities/answer.ts: into this process's hub, or
 * relayed to it) and the workflow's result. Both are the same response; the early one saves the
 * time the workflow takes to record it and the result's round trip.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { AiResponse } from '../contracts/response';
import type { StreamHub } from './stream-hub';

/** Listens for one job's early answer; subscribe before the workflow starts (eager start is fast). */
export class AnswerWait {
  private readonly early: Promise<AiResponse>;
  private readonly unsubscribe: () => void;

  constructor(hub: StreamHub, jobId: string) {
    let resolve: (r: AiResponse) => void = () => undefined;
    this.early = new Promise<AiResponse>((r) => (resolve = r));
    this.unsubscribe = hub.subscribe(jobId, (e) => {
      if (e.type === 'answer') resolve(e.response);
    });
  }

  /**
   * The response, or the workflow's failure. The result's long poll is cancelled once the early
   * answer is in (the server stops waiting for the close event on our behalf).
   */
  async result(client: Client, handle: WorkflowHandle): Promise<AiResponse> {
    const done = new AbortController();
    const final = client.withAbortSignal(done.signal, () => handle.result() as Promise<AiResponse>);
    final.catch(() => undefined); // lost the race, or aborted: nobody reads it
    try {
      return await Promise.race([this.early, final]);
    } finally {
      done.abort();
      this.close();
    }
  }

  /** Stops listening. */
  close(): void {
    this.unsubscribe();
  }
}
