/**
 * Events a streaming provider call publishes while it runs, in order per attempt:
 * `start`, any number of `delta`s, `end`. They travel from the activity to the API process that
 * serves the client (in-process hub, or NDJSON over the internal HTTP route). Pure zod.
 */
import { z } from 'zod';

const where = { target: z.string(), model: z.string(), attempt: z.number().int().positive() };

/** One try of one target begins streaming. A `start` after deltas of another try means "reset". */
export const StreamStartSchema = z
  .object({
    type: z.literal('start'),
    ...where,
    /** A continuation: this try resumes the answer after this many characters already sent. */
    resumeAt: z.number().int().nonnegative().optional(),
  })
  .strict();
/** A piece of the answer's text, as the provider produced it. */
export const StreamDeltaSchema = z.object({ type: z.literal('delta'), content: z.string(), ...where }).strict();
/** The try ended: `ok` true when the provider finished the answer. */
export const StreamEndSchema = z.object({ type: z.literal('end'), ok: z.boolean(), error: z.string().optional(), ...where }).strict();

/** What the streaming activity publishes. */
export const StreamEventSchema = z.discriminatedUnion('type', [StreamStartSchema, StreamDeltaSchema, StreamEndSchema]);
export type StreamEvent = z.infer<typeof StreamEventSchema>;

/** Path of the internal route a worker in another process relays stream events to. */
export function streamRelayPath(jobId: string): string {
  return `/internal/streams/${encodeURIComponent(jobId)}`;
}
