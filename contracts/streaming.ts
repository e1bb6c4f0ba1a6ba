/**
 * Events a streaming provider call publishes while it runs, in order per attempt:
 * `start`, any number of `delta`s, `end`. They travel from the activity to the API process that
 * serves the client (in-process hub, or NDJSON over the internal HTTP route). Pure zod.
 */
import { z } from 'zod';
import { AiResponseSchema } from './response';

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

/**
 * The request's whole answer, published by the call that produced it the moment the provider
 * answered (before the workflow records it): a synchronous client is answered from it. The
 * workflow's result is the same answer (the same function of the same data).
 */
export const StreamAnswerSchema = z.object({ type: z.literal('answer'), response: AiResponseSchema, ...where }).strict();

/** What the provider calls publish. */
export const StreamEventSchema = z.discriminatedUnion('type', [StreamStartSchema, StreamDeltaSchema, StreamEndSchema, StreamAnswerSchema]);
export type StreamEvent = z.infer<typeof StreamEventSchema>;

/**
 * The heartbeat details of a streaming call: its checkpoint. `partialText` is the text this call
 * delivered (after any continuation it was given), so a retry on another worker continues from
 * there instead of starting over; it is left out past CHECKPOINT_MAX_CHARS (heartbeats stay small).
 */
export const StreamCheckpointSchema = z.object({ chunks: z.number().int().nonnegative(), partialText: z.string().optional() });
export type StreamCheckpoint = z.infer<typeof StreamCheckpointSchema>;

/** Longest text a checkpoint carries. */
export const CHECKPOINT_MAX_CHARS = 200_000;

/**
 * What `GET <streamTo>/internal/streams/<jobId>` answers: the text the job's client has received
 * so far. Asking also stops the API from relaying the try it was relaying: the asker (a retry of
 * a lost call) continues from exactly this text.
 */
export const DeliveredTextSchema = z.object({ text: z.string() }).strict();
export type DeliveredText = z.infer<typeof DeliveredTextSchema>;

/** Path of the internal route a worker in another process relays stream events to. */
export function streamRelayPath(jobId: string): string {
  return `/internal/streams/${encodeURIComponent(jobId)}`;
}
