/** Starting, finding and steering the breaker workflows from a client. */
import { createHash } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { breakerSettingsFor, healthUrlFor, type GatewayConfig } from '../config/schema';
import {
  BREAKER_WORKFLOW,
  OUTCOMES_SIGNAL,
  OVERRIDE_SIGNAL,
  SETTINGS_SIGNAL,
  breakerWorkflowId,
  type BreakerAction,
  type BreakerSettings,
  type BreakerSettingsUpdate,
  type BreakerWorkflowInput,
  type OutcomeBatch,
} from '../contracts/breaker';

/** The fixed workflow id of a target's breaker under this config. */
export function breakerIdFor(config: GatewayConfig, target: string): string {
  return `${config.temporal.workflowIdPrefix}${breakerWorkflowId(target)}`;
}

/** A target's breaker settings under this config, with what its probe can judge. */
export function breakerSettings(config: GatewayConfig, target: string): BreakerSettings {
  const t = config.targets.find((x) => x.id === target);
  const probeEvidence = t?.syntheticProbe ? 'model' : t && healthUrlFor(t) ? 'health' : 'none';
  return { ...breakerSettingsFor(config, target), probeEvidence };
}

/** Short, stable hash of settings (key order does not matter): what the breaker publishes and workers compare. */
export function settingsHash(settings: BreakerSettings): string {
  const sorted = Object.fromEntries(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1)));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 12);
}

export function breakerInput(config: GatewayConfig, target: string): BreakerWorkflowInput {
  const settings = breakerSettings(config, target);
  return { target, settings, settingsHash: settingsHash(settings) };
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
export async function sendOutcomes(
  client: Client,
  config: GatewayConfig,
  taskQueue: string,
  target: string,
  batch: OutcomeBatch,
): Promise<void> {
  const { workflowIdConflictPolicy: _ignored, ...opts } = startOptions(config, taskQueue, target);
  await client.workflow.signalWithStart(BREAKER_WORKFLOW, { ...opts, signal: OUTCOMES_SIGNAL, signalArgs: [batch] });
}

/**
 * Sends this config's settings to a running breaker (it applies them at once and carries them on
 * continue-as-new). A breaker that runs on is otherwise never told: starting it is idempotent.
 */
export async function sendSettings(client: Client, config: GatewayConfig, target: string): Promise<void> {
  const { settings, settingsHash: hash } = breakerInput(config, target);
  const update: BreakerSettingsUpdate = { settings, hash: hash! };
  await client.workflow.getHandle(breakerIdFor(config, target)).signal(SETTINGS_SIGNAL, update);
}

/** Operator override; throws WorkflowNotFoundError for an unknown breaker. */
export async function overrideBreaker(
  client: Client,
  config: GatewayConfig,
  taskQueue: string,
  target: string,
  action: BreakerAction,
): Promise<void> {
  try {
    await client.workflow.getHandle(breakerIdFor(config, target)).signal(OVERRIDE_SIGNAL, action);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const { workflowIdConflictPolicy: _ignored, ...opts } = startOptions(config, taskQueue, target);
    await client.workflow.signalWithStart(BREAKER_WORKFLOW, { ...opts, signal: OVERRIDE_SIGNAL, signalArgs: [action] });
  }
}
