/**
 * Variant 1, UNSAFE: the routing snapshot is re-read before every provider call, with no patch.
 * A new command where old histories have none: running workflows started by v0 cannot replay.
 */
import { getRoutingSnapshot, requestWorkflowWith } from './request-copy';

export const aiRequestWorkflow = requestWorkflowWith(async () => {
  await getRoutingSnapshot();
});
