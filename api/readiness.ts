/**
 * Readiness: Temporal reachable and a worker polling the task queue. Public, so it says what is
 * wrong in words of its own: no error text (addresses, ports) of the calls underneath.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface Readiness {
  ready: boolean;
  checks: { temporal: string; worker: string };
}

export async function readiness(client: Client, namespace: string, taskQueue: string): Promise<Readiness> {
  const checks = { temporal: 'unknown', worker: 'unknown' };
  try {
    await client.workflowService.getSystemInfo({});
    checks.temporal = 'ok';
  } catch {
    checks.temporal = 'unreachable';
    return { ready: false, checks };
  }
  try {
    const res = await client.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    checks.worker = (res.pollers?.length ?? 0) > 0 ? 'ok' : `no worker polling task queue "${taskQueue}"`;
  } catch {
    checks.worker = 'unknown (the task queue could not be described)';
  }
  return { ready: checks.temporal === 'ok' && checks.worker === 'ok', checks };
}
