/**
 * The live (reloadable) part of the gateway config, as one long-running workflow per task queue
 * holds it: every API and worker process reads it from the workflow's memo and applies it over
 * its own start-up config (config/live.ts). Pure definitions, shared by workflow and clients.
 */
export const LIVE_CONFIG_WORKFLOW = 'liveConfigWorkflow';
export const LIVE_CONFIG_MEMO_KEY = 'liveConfig';
export const SET_LIVE_CONFIG_UPDATE = 'setLiveConfig';
export const LIVE_CONFIG_QUERY = 'liveConfig';

/** The workflow id of a task queue's live config (prefixed like the breakers). */
export function liveConfigWorkflowId(prefix: string, taskQueue: string): string {
  return `${prefix}stormproof-config-${taskQueue}`;
}

/** One target's live keys. */
export interface LiveTargetOverlay {
  priority: number;
  weight: number;
  limits: { requestsPerMinute?: number; tokensPerMinute?: number };
  breaker?: Record<string, unknown>;
}

/** The reloadable sections (validated by the publisher with the start-up schema before they get here). */
export interface LiveOverlay {
  targets: Record<string, LiveTargetOverlay>;
  routing: Record<string, unknown>;
  breaker: Record<string, unknown>;
  timeouts: Record<string, unknown>;
  retry: Record<string, unknown>;
  degradation: Record<string, unknown>;
}

/** What the workflow holds and publishes in its memo. */
export interface LiveConfigState {
  /** 0: nothing published yet (every process runs its start-up config). */
  version: number;
  overlay?: LiveOverlay;
  /** Workflow time of the last change (epoch ms). */
  appliedAt?: number;
  /** Who changed it last (e.g. `PUT /v1/admin/config by ops`, `SIGHUP worker-1`). */
  by?: string;
}

/** A change: refused unless `expectedVersion` (when given) is the current version. */
export interface LiveConfigChange {
  overlay: LiveOverlay;
  expectedVersion?: number;
  by?: string;
}
