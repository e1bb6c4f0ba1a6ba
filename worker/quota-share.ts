/**
 * This worker's share of every target's rate limits, derived from the workers alive on its task
 * queue (`routing.quotaShare: auto`): 1 / their number, re-counted every `quotaShareRefreshMs`,
 * so the shares of N workers add up to each limit as workers come and go. Why Temporal's poller
 * list: every worker already polls the task queue, so no extra registry, heartbeat or shared
 * store is needed, and a worker that stops polling stops counting.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/**
 * A worker counts while it polled within this long. An idle worker's long poll returns after
 * about a minute and is renewed at once, so a live worker is never older than that; a dead one
 * counts for at most this long (its share is then unused, never overspent).
 */
export const POLLER_LIVE_MS = 90_000;

const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;

/** Identities of the workers that polled the task queue (workflow or activity tasks) recently, this one included. */
export async function liveWorkers(
  client: Client,
  namespace: string,
  taskQueue: string,
  self: string,
  now = Date.now(),
): Promise<Set<string>> {
  const lists = await Promise.all(
    [TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY].map((taskQueueType) =>
      client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
        taskQueueType,
      }),
    ),
  );
  const live = new Set([self]);
  for (const { pollers } of lists) {
    for (const p of pollers ?? []) {
      const at = p.lastAccessTime?.seconds ? Number(p.lastAccessTime.seconds) * 1000 : 0;
      if (p.identity && now - at <= POLLER_LIVE_MS) live.add(p.identity);
    }
  }
  return live;
}

export interface QuotaShareOptions {
  client: Client;
  namespace: string;
  taskQueue: string;
  /** This worker's identity as it polls (Worker.options.identity). */
  identity: string;
  intervalMs: number;
  /** Applies a new share (QuotaTracker.setShare). */
  apply(share: number, workers: number): void;
  onError?(err: unknown): void;
}

/** Re-counts the live workers every interval; the last share stays when a count fails. */
export class QuotaShareWatcher {
  private timer: NodeJS.Timeout | undefined;
  /** Workers counted by the last successful read (undefined before the first). */
  workers: number | undefined;

  constructor(private readonly opts: QuotaShareOptions) {}

  async refresh(): Promise<void> {
    const { client, namespace, taskQueue, identity } = this.opts;
    try {
      const n = (await liveWorkers(client, namespace, taskQueue, identity)).size;
      this.workers = n;
      this.opts.apply(1 / n, n);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  /** Counts at once (awaited), then every interval. */
  async start(): Promise<void> {
    this.timer ??= setInterval(() => void this.refresh(), this.opts.intervalMs);
    this.timer.unref();
    await this.refresh();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
