/** Builds the Temporal worker: workflows from workflows/, activities wired to real dependencies. */
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { GatewayConfig } from '../config/schema';
import { createActivities, type ActivityDeps } from '../activities';

export interface GatewayWorkerOptions {
  connection: NativeConnection;
  config: GatewayConfig;
  taskQueue?: string;
  /** A pre-built workflow bundle (tests build one per run), else workflows/ is bundled. */
  workflowBundlePath?: string;
  /** 0 turns the workflow cache off, so every workflow task replays from history. */
  maxCachedWorkflows?: number;
  identity?: string;
  activityDeps?: Omit<ActivityDeps, 'config'>;
  workerOptions?: Partial<WorkerOptions>;
}

/** Creates (but does not run) the gateway worker. */
export async function createGatewayWorker(opts: GatewayWorkerOptions): Promise<Worker> {
  const { config } = opts;
  const workflowSource = opts.workflowBundlePath ?? process.env.STORMPROOF_WORKFLOW_BUNDLE;
  return Worker.create({
    connection: opts.connection,
    namespace: config.temporal.namespace,
    taskQueue: opts.taskQueue ?? config.temporal.taskQueue,
    ...(workflowSource ? { workflowBundle: { codePath: workflowSource } } : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities({ config, ...opts.activityDeps }),
    ...(opts.identity ? { identity: opts.identity } : {}),
    ...(opts.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: opts.maxCachedWorkflows } : {}),
    // Local activities extend the workflow task; keep a dead worker's task from holding a job for long.
    stickyQueueScheduleToStartTimeout: '3s',
    ...opts.workerOptions,
  });
}
