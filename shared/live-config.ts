/**
 * The live config through Temporal: publishing a validated change to the task queue's config
 * workflow (an update, so a stale writer is refused) and watching its memo (a describe call,
 * answered by the server without any worker), so every API and worker process applies it.
 */
import { WithStartWorkflowOperation, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { applyOverlay, liveChanges, liveOverlay, restartOnlyChanges, type LiveConfig } from '../config/live';
import type { GatewayConfig } from '../config/schema';
import {
  LIVE_CONFIG_MEMO_KEY,
  LIVE_CONFIG_WORKFLOW,
  SET_LIVE_CONFIG_UPDATE,
  liveConfigWorkflowId,
  type LiveConfigChange,
  type LiveConfigState,
} from '../contracts/live-config';
import { breakerSettings, sendSettings, settingsHash } from './breakers';

/** How often a process reads the live config (a reload reaches every process within about this). */
export const LIVE_CONFIG_POLL_MS = 2_000;

export function liveConfigIdFor(config: GatewayConfig, taskQueue: string): string {
  return liveConfigWorkflowId(config.temporal.workflowIdPrefix, taskQueue);
}

/** The published state (version 0 when nothing was published or the workflow does not run yet). */
export async function readLiveConfig(client: Client, config: GatewayConfig, taskQueue: string): Promise<LiveConfigState> {
  try {
    const d = await client.workflow.getHandle(liveConfigIdFor(config, taskQueue)).describe();
    const memo = (await d.memo)?.[LIVE_CONFIG_MEMO_KEY] as LiveConfigState | undefined;
    return memo ?? { version: 0 };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { version: 0 };
    throw err;
  }
}

/**
 * Publishes `next` (already validated with the start-up schema, restart-only keys unchanged):
 * the config workflow takes its live sections (started if missing), then every breaker whose
 * settings changed is told at once. Best effort: the change is published already, and workers
 * send a breaker running other settings theirs at their next read (a missing breaker is started
 * with them).
 */
export async function publishLiveConfig(
  client: Client,
  running: GatewayConfig,
  next: GatewayConfig,
  taskQueue: string,
  opts: { expectedVersion?: number; by?: string } = {},
): Promise<LiveConfigState> {
  const change: LiveConfigChange = { overlay: liveOverlay(next), ...opts };
  const state = await client.workflow.executeUpdateWithStart<() => Promise<void>, LiveConfigState, [LiveConfigChange]>(
    SET_LIVE_CONFIG_UPDATE,
    {
      args: [change],
      startWorkflowOperation: new WithStartWorkflowOperation<() => Promise<void>>(LIVE_CONFIG_WORKFLOW, {
        taskQueue,
        workflowId: liveConfigIdFor(running, taskQueue),
        // Idempotent: the running config workflow is the one every process watches.
        workflowIdConflictPolicy: 'USE_EXISTING',
        staticSummary: `live config of task queue ${taskQueue}`,
      }),
    },
  );
  const changed = next.targets.filter((t) => settingsHash(breakerSettings(next, t.id)) !== settingsHash(breakerSettings(running, t.id)));
  await Promise.allSettled(changed.map((t) => sendSettings(client, next, t.id)));
  return state;
}

export interface LiveConfigWatcherOptions {
  client: Client;
  live: LiveConfig;
  taskQueue: string;
  intervalMs?: number;
  onApplied?: (version: number, state: LiveConfigState) => void;
  onError?: (err: unknown) => void;
}

/** Reads the published live config every interval and applies a newer version to `live`. */
export class LiveConfigWatcher {
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  /** A published version this process could not apply (reported once, not every interval). */
  private refused = 0;

  constructor(private readonly opts: LiveConfigWatcherOptions) {}

  /** Reads once now (awaited), then every interval in the background. */
  async start(): Promise<void> {
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.opts.intervalMs ?? LIVE_CONFIG_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One read; concurrent calls share it. */
  poll(): Promise<void> {
    this.reading ??= this.readOnce().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    const { client, live, taskQueue } = this.opts;
    try {
      const state = await readLiveConfig(client, live.base, taskQueue);
      if (!state.overlay || state.version <= live.version || state.version === this.refused) return;
      try {
        if (live.apply(state.overlay, state.version)) this.opts.onApplied?.(state.version, state);
      } catch (err) {
        // A version that does not validate here (e.g. another start-up file) is not applied; the running config stays.
        this.refused = state.version;
        this.opts.onError?.(err);
      }
    } catch (err) {
      this.opts.onError?.(err);
    }
  }
}

/** Validates a candidate overlay over this process's start-up config without applying it. */
export function checkOverlay(live: LiveConfig, next: GatewayConfig): GatewayConfig {
  return applyOverlay(live.base, liveOverlay(next), 'candidate config');
}

export interface ReloadFromFileOptions {
  client: Client;
  live: LiveConfig;
  taskQueue: string;
  /** Reads and validates the config file (config/load.ts loadConfig); throws ConfigError. */
  read: () => GatewayConfig;
  /** Who reloads, for the config workflow's record (e.g. `SIGHUP worker-1`). */
  by: string;
  log: { info(obj: unknown, msg?: string): void; error(obj: unknown, msg?: string): void };
}

/**
 * Re-reads the config file and publishes its live keys to every process (SIGHUP). A file that
 * does not validate, or that changes a restart-only key, is refused and logged with the keys;
 * the running config stays.
 */
export async function reloadFromFile(opts: ReloadFromFileOptions): Promise<LiveConfigState | undefined> {
  const { live, log } = opts;
  let next: GatewayConfig;
  try {
    next = opts.read();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'config reload refused: the file does not validate; the running config stays');
    return undefined;
  }
  const restart = restartOnlyChanges(live.current, next);
  if (restart.length) {
    log.error({ keys: restart }, `config reload refused: ${restart.join(', ')} take effect only after a restart; the running config stays`);
    return undefined;
  }
  try {
    const state = await publishLiveConfig(opts.client, live.current, next, opts.taskQueue, { by: opts.by });
    if (state.overlay) live.apply(state.overlay, state.version);
    log.info({ version: state.version, changed: liveChanges(live.base, next) }, `config reload published as version ${state.version}`);
    return state;
  } catch (err) {
    log.error({ err }, 'config reload not published (Temporal); the running config stays');
    return undefined;
  }
}
