/** Batches: many requests run as child request workflows under a concurrency limit. Pure. */
import { z } from 'zod';
import { AiRequestSchema } from './request';
export {
  BATCH_WORKFLOW,
  BATCH_PROGRESS_QUERY,
  BATCH_TOTAL_MEMO,
  batchItemJobId,
  type BatchItem,
  type BatchProgress,
  type BatchWorkflowInput,
} from './batch-workflow';

/** Most requests one batch takes (its history holds every item's outcome); `batches.maxItems` may lower it. */
export const MAX_BATCH_ITEMS = 500;

/** `POST /v1/batches` body. */
export const BatchSubmissionSchema = z
  .object({
    requests: z
      .array(AiRequestSchema)
      .min(1, 'a batch has at least one request')
      .max(MAX_BATCH_ITEMS, `a batch has at most ${MAX_BATCH_ITEMS} requests`),
    /** How many items run at once (default from the config). */
    concurrency: z.number().int().min(1).max(64).optional(),
  })
  .strict();
export type BatchSubmission = z.infer<typeof BatchSubmissionSchema>;
