/**
 * `POST /internal/streams/:jobId`: a worker in another process relays one stream attempt's events
 * as NDJSON lines over one chunked request; each line goes into this process's hub. Answers 404 at
 * once when nobody here waits for the job, so the worker stops sending.
 * `GET /internal/streams/:jobId`: the text the job's client has received (`{ text }`), for a
 * retried stream call that continues where the client is; 404 when no client here can tell.
 * Both are authenticated by the shared internal token (Bearer).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Router, type Request, type Response } from 'express';
import { ErrorCode } from '../contracts/errors';
import { StreamEventSchema, type DeliveredText } from '../contracts/streaming';
import { sendError } from './errors';
import type { StreamHub } from './stream-hub';

/** Longest accepted line: one delta is a few tokens. */
const MAX_LINE = 256 * 1024;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Routes under /internal/streams; with no token the route refuses everything. */
export function internalStreamsRouter(hub: StreamHub, token: string | undefined): Router {
  const router = Router();
  const expected = token ? digest(`Bearer ${token}`) : undefined;

  const authorized = (req: Request, res: Response): boolean => {
    const given = req.header('authorization');
    if (expected && given && timingSafeEqual(digest(given), expected)) return true;
    res.setHeader('connection', 'close');
    sendError(res, 401, ErrorCode.Unauthorized, 'the stream relay needs the internal token');
    return false;
  };

  // What the job's client has received: a retry of a lost stream call continues from there.
  router.get('/:jobId', (req, res) => {
    if (!authorized(req, res)) return;
    const jobId = String(req.params.jobId);
    const text = hub.delivered(jobId);
    if (text === undefined) return sendError(res, 404, ErrorCode.NotFound, `no client of ${jobId} here`);
    const body: DeliveredText = { text };
    res.json(body);
  });

  router.post('/:jobId', (req, res) => {
    const jobId = String(req.params.jobId);
    if (!authorized(req, res)) return;
    if (!hub.has(jobId)) {
      res.setHeader('connection', 'close');
      return sendError(res, 404, ErrorCode.NotFound, `nobody waits for the stream of ${jobId} here`);
    }
    const lines = createInterface({ input: req, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (!line || line.length > MAX_LINE) return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        return;
      }
      const event = StreamEventSchema.safeParse(value);
      if (event.success) hub.publish(jobId, event.data);
    });
    lines.on('close', () => {
      if (!res.headersSent) res.status(204).end();
    });
    // A worker that dies mid-stream aborts its request: the relay just ends (the workflow retries
    // the call elsewhere). Unhandled, the readline 'error' would crash the whole API process.
    lines.on('error', () => {
      if (!res.headersSent) res.status(204).end();
    });
  });
  return router;
}
