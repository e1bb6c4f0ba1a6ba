/**
 * Variant 1, SAFE: the same change behind `patched()`. Replaying a history without the patch
 * marker takes the old path; a new execution takes the new one and records the marker.
 */
import { patched } from '@temporalio/workflow';
import { getRoutingSnapshot, requestWorkflowWith } from './request-copy';

export const PATCH_ID = 'refresh-snapshot-before-call';

export const aiRequestWorkflow = requestWorkflowWith(async () => {
  if (patched(PATCH_ID)) await getRoutingSnapshot();
});
