/**
 * Cancels this process knows of before Temporal can deliver them. A local activity runs inside
 * its workflow task, so the workflow's cancellation reaches it only at the task's next heartbeat
 * (80% of the task timeout). When the API in the same process cancels a job (its client left),
 * it says so here at once: the job's local provider calls abort their HTTP requests (the provider
 * stops generating, and billing), then wait for Temporal's cancellation to end as cancelled.
 */
export class LocalCancels {
  private readonly running = new Map<string, Set<AbortController>>();

  /** The signal a local call of `jobId` obeys besides its own; call `release` when it ends. */
  watch(jobId: string): { signal: AbortSignal; release: () => void } {
    const ac = new AbortController();
    let set = this.running.get(jobId);
    if (!set) this.running.set(jobId, (set = new Set()));
    set.add(ac);
    return {
      signal: ac.signal,
      release: () => {
        set.delete(ac);
        if (!set.size && this.running.get(jobId) === set) this.running.delete(jobId);
      },
    };
  }

  /** The job is being cancelled by this process: abort its local calls now. */
  cancel(jobId: string): void {
    for (const ac of this.running.get(jobId) ?? []) ac.abort();
  }
}

/** How long an aborted local call waits for Temporal's cancellation before it reports one itself. */
export const CANCEL_WAIT_MS = 15_000;

/** Resolves once `signal` aborts, or after `ms`. */
export function abortedOrAfter(signal: AbortSignal, ms: number): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
