/**
 * The in-process stream hub: streamed provider events keyed by job id. The API subscribes before
 * it starts a streaming workflow; the streaming activity publishes into it directly when the worker
 * shares the process, or through the internal relay route when the worker runs elsewhere.
 */
import { EventEmitter } from 'node:events';
import type { StreamEvent } from '../contracts/streaming';

/** Receives the events of one job. */
export type StreamListener = (event: StreamEvent) => void;

/** Events keyed by job id; a publish with no subscriber is dropped (nobody waits for it). */
export class StreamHub {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** Listens to one job's events; returns the unsubscribe function. */
  subscribe(jobId: string, listener: StreamListener): () => void {
    this.emitter.on(jobId, listener);
    return () => this.emitter.off(jobId, listener);
  }

  /** True when someone in this process waits for `jobId`'s events. */
  has(jobId: string): boolean {
    return this.emitter.listenerCount(jobId) > 0;
  }

  /** Delivers one event to the job's subscribers; a listener's fault never reaches the publisher. */
  publish(jobId: string, event: StreamEvent): void {
    for (const listener of this.emitter.listeners(jobId) as StreamListener[]) {
      try {
        listener(event);
      } catch {
        /* a broken client connection must not break the provider stream */
      }
    }
  }
}
