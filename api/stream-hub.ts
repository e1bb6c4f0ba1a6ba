/**
 * The in-process stream hub: streamed provider events keyed by job id. The API subscribes before
 * it starts a streaming workflow; the streaming activity publishes into it directly when the worker
 * shares the process, or through the internal relay route when the worker runs elsewhere.
 *
 * A job can be *retained*: its events are kept (up to a size limit) so that a client coming back
 * for the same job (a retried request with the same Idempotency-Key) is replayed the stream from
 * its start, and the relay keeps delivering while that client is away.
 */
import type { StreamEvent } from '../contracts/streaming';

/** Receives the events of one job. */
export type StreamListener = (event: StreamEvent) => void;

/** Options of one subscription. */
export interface SubscribeOptions {
  /** Replay the job's retained events first (synchronously, before subscribe returns). */
  replay?: boolean;
  /** What this subscriber's client has received so far (see StreamHub.delivered). */
  delivered?: () => string | undefined;
}

interface Subscriber extends SubscribeOptions {
  listener: StreamListener;
}

interface Kept {
  events: StreamEvent[];
  chars: number;
  /** Past the size limit: the replay is incomplete, so none is offered. */
  overflow: boolean;
  timer?: NodeJS.Timeout;
}

/** Text a retained job may keep for replay (its events are dropped past it). */
const MAX_RETAINED_CHARS = 1_000_000;

/** Events keyed by job id; a publish with no subscriber and no retention is dropped. */
export class StreamHub {
  private readonly subs = new Map<string, Set<Subscriber>>();
  private readonly kept = new Map<string, Kept>();

  /** Listens to one job's events; returns the unsubscribe function. */
  subscribe(jobId: string, listener: StreamListener, opts: SubscribeOptions = {}): () => void {
    const sub: Subscriber = { listener, ...opts };
    const kept = this.kept.get(jobId);
    if (opts.replay && kept && !kept.overflow) for (const e of kept.events) safely(listener, e);
    let set = this.subs.get(jobId);
    if (!set) this.subs.set(jobId, (set = new Set()));
    set.add(sub);
    return () => {
      set.delete(sub);
      if (!set.size && this.subs.get(jobId) === set) this.subs.delete(jobId);
    };
  }

  /** True when someone in this process waits for `jobId`'s events, or keeps them. */
  has(jobId: string): boolean {
    return this.subs.has(jobId) || this.kept.has(jobId);
  }

  /**
   * Keeps the job's events from now on (see the module comment). Call before the workflow starts,
   * so the replay begins at the job's first event.
   */
  retain(jobId: string): void {
    const kept = this.kept.get(jobId);
    if (kept) clearTimeout(kept.timer);
    else this.kept.set(jobId, { events: [], chars: 0, overflow: false });
  }

  /** True when a replay of `jobId` from its first event can be given. */
  replayable(jobId: string): boolean {
    const kept = this.kept.get(jobId);
    return kept !== undefined && !kept.overflow;
  }

  /** Drops the job's kept events after `afterMs`, unless it is retained again meanwhile. */
  release(jobId: string, afterMs: number): void {
    const kept = this.kept.get(jobId);
    if (!kept) return;
    clearTimeout(kept.timer);
    kept.timer = setTimeout(() => this.kept.delete(jobId), afterMs);
    kept.timer.unref();
  }

  /**
   * The text the job's client has received, from the first subscriber that can tell (undefined
   * when none can). The subscriber stops relaying the try it was relaying: whoever asks
   * continues from exactly this text.
   */
  delivered(jobId: string): string | undefined {
    for (const sub of this.subs.get(jobId) ?? []) {
      const text = sub.delivered?.();
      if (text !== undefined) return text;
    }
    return undefined;
  }

  /** Delivers one event to the job's subscribers; a listener's fault never reaches the publisher. */
  publish(jobId: string, event: StreamEvent): void {
    const kept = this.kept.get(jobId);
    if (kept && !kept.overflow) {
      kept.events.push(event);
      if (event.type === 'delta') kept.chars += event.content.length;
      if (kept.chars > MAX_RETAINED_CHARS) Object.assign(kept, { overflow: true, events: [] });
    }
    for (const sub of [...(this.subs.get(jobId) ?? [])]) safely(sub.listener, event);
  }
}

function safely(listener: StreamListener, event: StreamEvent): void {
  try {
    listener(event);
  } catch {
    /* a broken client connection must not break the provider stream */
  }
}
