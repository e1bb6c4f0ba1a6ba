/** Starting, finding and steering the breaker workflows from a client. */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { breakerSettingsFor, type GatewayConfig } from '../config/schema';
import { BREAKER_WORKFLOW, OUTCOMES_SIGNAL, OVERRIDE_SIGNAL, breakerWorkflowId, type BreakerAction, type BreakerWorkflowInput, type OutcomeBatch } from '../contracts/breaker';

/** The fixed workflow id of a target's breaker under this config. */
export function breakerIdFor(config: GatewayConfig, target: string): string {
  return `${config.temporal.workflowIdPrefix}${breakerWorkflowId(target)}`;
}

export function breakerInput(config: GatewayConfig, target: string): BreakerWorkflowInput {
  return { target, settings: breakerSettingsFor(config, target) };
}

function startOptions(config: GatewayConfig, taskQueue: string, target: string) {
  return {
    taskQueue,
    workflowId: breakerIdFor(config, target),
    args: [breakerInput(config, target)] as [BreakerWorkflowInput],
    // Idempotent: a running breaker is kept (its state is the point), a missing one is created.
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    staticSummary: `circuit breaker of ${target}`,
  };
}

/** Starts every target's breaker unless it already runs. */
export async function ensureBreakers(client: Client, config: GatewayConfig, taskQueue: string): Promise<void> {
  await Promise.all(config.targets.map((t) => client.workflow.start(BREAKER_WORKFLOW, startOptions(config, taskQueue, t.id))));
}

/** Sends an outcome batch, creating the breaker if it is missing. */
export async function sendOutcomes(client: Client, config: GatewayConfig, taskQueue: string, target: string, batch: OutcomeBatch): Promise<void> {
  const { workflowIdConflictPolicy: _ignored, ...opts } = startOptions(config, taskQueue, target);
  await client.workflow.signalWithStart(BREAKER_WORKFLOW, { ...opts, signal: OUTCOMES_SIGNAL, signalArgs: [batch] });
}

/** Operator override; throws WorkflowNotFoundError for an unknown breaker. */
export async function overrideBreaker(client: Client, config: GatewayConfig, taskQueue: string, target: string, action: BreakerAction): Promise<void> {
  try {
    await client.workflow.getHandle(breakerIdFor(config, target)).signal(OVERRIDE_SIGNAL, action);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const { workflowIdConflictPolicy: _ignored, ...opts } = startOptions(config, taskQueue, target);
    await client.workflow.signalWithStart(BREAKER_WORKFLOW, { ...opts, signal: OVERRIDE_SIGNAL, signalArgs: [action] });
  }
}
