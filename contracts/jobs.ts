/** The long-job API's shapes. */
import { z } from 'zod';
import { AiRequestSchema } from './request';
import { AiResponseSchema, AttemptSchema, DegradationSchema, SwitchSchema } from './response';

/** `POST /v1/jobs` body. */
export const JobSubmissionSchema = z
  .object({
    request: AiRequestSchema,
    callbackUrl: z.url({ protocol: /^https?$/, error: 'callbackUrl must be an http(s) URL' }).optional(),
  })
  .strict();
export type JobSubmission = z.infer<typeof JobSubmissionSchema>;

export const JobStatusSchema = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']);
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** `GET /v1/jobs/:id` answer. */
export const JobViewSchema = z.object({
  id: z.string(),
  status: JobStatusSchema,
  result: AiResponseSchema.optional(),
  error: z.object({ type: z.string(), message: z.string() }).optional(),
  attempts: z.array(AttemptSchema),
  degradations: z.array(DegradationSchema),
  /** The request's failovers so far (`switches.length`); absent for jobs started before they were traced. */
  failovers: z.number().int().nonnegative().optional(),
  switches: z.array(SwitchSchema).optional(),
  /** Delivery of the result to `callbackUrl`, when one was given. */
  callback: z
    .object({
      status: z.enum(['pending', 'delivered', 'failed']),
      attempts: z.number().int().nonnegative(),
      lastError: z.string().optional(),
      deliveredAt: z.string().optional(),
    })
    .optional(),
});
export type JobView = z.infer<typeof JobViewSchema>;
