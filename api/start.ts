/** Starting a request workflow: one place for the options every entry point (jobs, chat) uses. */
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { REQUEST_WORKFLOW, type RequestWorkflowInput } from '../contracts/workflow-api';
import type { GatewayConfig } from '../config/schema';
import type { AiRequest } from '../contracts/request';
import type { RoutingSnapshot } from '../contracts/routing';
import { MODEL_KEY, OWNER_KEY, STATUS_KEY } from '../workflows/search-attributes';
import { equivalentModels, tierOf } from '../workflows/selector';

/** What starting a workflow needs. */
export interface StartDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  /** Eager start: only when this process also hosts a worker on the same connection. */
  eagerStart: boolean;
  /**
   * The routing snapshot for a request, when this process hosts the worker that routes it: it
   * goes in the workflow's input, which saves the workflow a local activity.
   */
  snapshot?: (request: AiRequest) => Promise<RoutingSnapshot>;
}

/** One line for the Web UI's workflow list and header: the model and who may answer it. */
export function startSummary(request: AiRequest, config: GatewayConfig): string {
  return `${request.model}${request.stream ? ' (stream)' : ''}: ${equivalentModels(request.model, config.tiers, request.routing?.pinModel).join(' → ')}`;
}

/**
 * The Web UI's "Details" of a request (markdown, fixed at start): what was asked and how it may be
 * served, and where its story is told. No prompt text: history may be encrypted, metadata is not.
 */
export function startDetails(request: AiRequest, config: GatewayConfig): string {
  const r = request.routing ?? {};
  const tier = tierOf(request.model, config.tiers);
  const chain = config.degradation.chains[request.model] ?? (tier ? config.degradation.chains[tier] : undefined) ?? [];
  const degrade = (r.allowDegradation ?? config.routing.allowDegradation) && !r.pinModel;
  return [
    `**Request:** ${request.model}${tier ? ` (tier ${tier})` : ''}, ${request.stream ? 'streamed' : 'buffered'}, ${request.messages.length} message(s)${request.tools?.length ? `, ${request.tools.length} tool(s)` : ''}${request.rag ? `, RAG from "${request.rag.collection}"` : ''}`,
    `**Failover order:** ${equivalentModels(request.model, config.tiers, r.pinModel).join(' → ')} (strategy ${r.strategy ?? config.routing.strategy}${r.pinModel ? ', model pinned' : ''})`,
    `**Degradation:** ${degrade ? (chain.length ? `then ${chain.join(' → ')}` : 'allowed, no lower model configured') : 'off for this request'}`,
    `**Limits:** ${r.latencySloMs ? `latency budget ${r.latencySloMs} ms` : `request budget ${config.timeouts.requestMs} ms`}${r.maxCostUsd ? `, at most $${r.maxCostUsd}` : ''}`,
    '',
    'The attempts so far: **Current Details**. Each provider call: the Event History (local activities "call …", "failover to …").',
  ].join('\n');
}

/** Options of one start. */
export interface StartOptions {
  /** Workflow type (default: the request workflow). */
  workflowType?: string;
  /** Visible in describe(); e.g. the body hash an Idempotency-Key is checked against. */
  memo?: Record<string, unknown>;
  /** The tenant (API key id) submitting it: only it (and admins) may read, stream or cancel the job. */
  owner?: string;
}

/**
 * Starts (or attaches to) the workflow `id`. `existing` is true when a workflow with that id had
 * already finished; a running one is attached to silently (USE_EXISTING), so callers that care
 * compare the memo.
 */
export async function startRequestWorkflow(
  deps: StartDeps,
  id: string,
  input: RequestWorkflowInput,
  opts: StartOptions = {},
): Promise<{ handle: WorkflowHandle; existing: boolean }> {
  const { request } = input;
  const args = deps.snapshot && !input.snapshot ? { ...input, snapshot: await deps.snapshot(request) } : input;
  try {
    const handle = await deps.client.workflow.start(opts.workflowType ?? REQUEST_WORKFLOW, {
      taskQueue: deps.taskQueue,
      workflowId: id,
      args: [args],
      // Same key, same job: attach to the running one, and never start a second after it finished.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      requestEagerStart: deps.eagerStart,
      // Why 10 s (the SDK's default): a worker on a loaded machine can take seconds to complete a
      // task, and a timed-out task repeats its local activities (provider calls billed twice).
      // Only calls known to be short run as local activities (workflows/options.ts), so a task is
      // rarely held open; one that is gets heartbeated at 8 s.
      workflowTaskTimeout: '10s',
      staticSummary: startSummary(request, deps.config),
      staticDetails: startDetails(request, deps.config),
      typedSearchAttributes: [
        { key: MODEL_KEY, value: request.model },
        { key: STATUS_KEY, value: 'queued' },
        ...(opts.owner ? [{ key: OWNER_KEY, value: opts.owner }] : []),
      ],
      ...(opts.memo || opts.owner ? { memo: { ...opts.memo, ...(opts.owner ? { owner: opts.owner } : {}) } } : {}),
    });
    return { handle, existing: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: deps.client.workflow.getHandle(id), existing: true };
  }
}
