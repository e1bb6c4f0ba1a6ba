/**
 * Variant 2: once no execution without the marker can exist any more, `deprecatePatch()` keeps
 * histories WITH the marker replaying while the old branch is deleted. (v3 would drop the call.)
 */
import { deprecatePatch } from '@temporalio/workflow';
import { getRoutingSnapshot, requestWorkflowWith } from './request-copy';
import { PATCH_ID } from './v1-patched';

export const aiRequestWorkflow = requestWorkflowWith(async () => {
  deprecatePatch(PATCH_ID);
  await getRoutingSnapshot();
});
