/**
 * Names shared by the workflows and their clients: workflow types, queries, signals and the
 * search attributes shown in the Web UI. Pure; workflows and the API both import it.
 */
import type { AiRequest } from './request';
import type { AiResponse, Attempt, Degradation, Switch } from './response';
import type { RoutingSnapshot } from './routing';

/** Workflow type of one AI request. */
export const REQUEST_WORKFLOW = 'aiRequestWorkflow';

/** Input of the request workflow. Secrets never go in here: keys live in the worker's env. */
export interface RequestWorkflowInput {
  request: AiRequest;
  callbackUrl?: string;
  /** Epoch ms when the gateway accepted the request (for end-to-end latency). */
  acceptedAt?: number;
  /**
   * Base URL of the API process waiting for this request's streamed chunks (it relays them to its
   * client). A worker in another process POSTs the chunks to `<streamTo>/internal/streams/<jobId>`;
   * the shared token comes from the worker's environment, never from here.
   */
  streamTo?: string;
  /**
   * The routing snapshot, taken by the API process when it hosts a worker (trimmed to this
   * request): the workflow routes on it instead of reading one through a local activity, unless
   * it is older than SNAPSHOT_MAX_AGE_MS when the workflow first runs.
   */
  snapshot?: RoutingSnapshot;
}

/**
 * Why: a snapshot in the input is routed on only while its breaker views are about as fresh as a
 * local read's would be; one taken before the workflow waited (no worker, a retried first task)
 * is read again.
 */
export const SNAPSHOT_MAX_AGE_MS = 2_000;

/** Progress of a request, answered by the `progress` query. */
export interface RequestProgress {
  phase: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  attempts: Attempt[];
  degradations: Degradation[];
  /** The failovers so far (absent in workflows started before they were traced). */
  switches?: Switch[];
  failovers?: number;
  currentTarget?: string;
  result?: AiResponse;
}

/** Query name for {@link RequestProgress}. */
export const PROGRESS_QUERY = 'progress';

/** Custom search attributes (registered when the dev server starts). */
export const SEARCH_ATTRIBUTES = {
  target: { name: 'StormproofTarget', type: 'Keyword' },
  failovers: { name: 'StormproofFailovers', type: 'Int' },
  status: { name: 'StormproofStatus', type: 'Keyword' },
  model: { name: 'StormproofModel', type: 'Keyword' },
  /** The tenant (API key id) that submitted the job or batch; set at start, never changed. */
  owner: { name: 'StormproofOwner', type: 'Keyword' },
} as const;
