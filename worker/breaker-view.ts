/**
 * Every process's view of the breakers' decisions: it reads each breaker workflow's memo
 * (a describe call, answered by the server without any worker) every refresh interval, so a
 * decision reaches every router within about refresh interval + one workflow task.
 */
import type { Client } from '@temporalio/client';
import type { GatewayConfig } from '../config/schema';
import { BREAKER_MEMO_KEY, type BreakerPublished } from '../contracts/breaker';
import type { BreakerState } from '../contracts/routing';
import { breakerIdFor } from './breakers';

export interface BreakerViewEvents {
  onTransition?: (target: string, from: BreakerState | undefined, to: BreakerState, view: BreakerPublished) => void;
  onMissing?: (target: string) => void;
  onError?: (err: unknown) => void;
}

export class BreakerView {
  private views = new Map<string, BreakerPublished>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  /** Epoch ms of the last completed refresh. */
  refreshedAt = 0;

  constructor(
    private readonly client: Client,
    private readonly config: GatewayConfig,
    private readonly events: BreakerViewEvents = {},
  ) {}

  get(target: string): BreakerPublished | undefined {
    return this.views.get(target);
  }

  all(): Map<string, BreakerPublished> {
    return new Map(this.views);
  }

  private async readOne(target: string): Promise<void> {
    try {
      const desc = await this.client.workflow.getHandle(breakerIdFor(this.config, target)).describe();
      const view = desc.memo?.[BREAKER_MEMO_KEY] as BreakerPublished | undefined;
      if (desc.status.name !== 'RUNNING') this.events.onMissing?.(target);
      if (!view) return;
      const before = this.views.get(target)?.state;
      this.views.set(target, view);
      if (before !== view.state) this.events.onTransition?.(target, before, view.state, view);
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') this.events.onMissing?.(target);
      else this.events.onError?.(err);
    }
  }

  /** Reads every breaker once. */
  refresh(): Promise<void> {
    this.refreshing ??= Promise.all(this.config.targets.map((t) => this.readOne(t.id)))
      .then(() => {
        this.refreshedAt = Date.now();
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
