/** Variant 0: the copy unchanged (the baseline: it must replay the recorded fixtures). */
import { requestWorkflowWith } from './request-copy';

export const aiRequestWorkflow = requestWorkflowWith(async () => undefined);
