/**
 * The worker's stream sink. Events go to the in-process hub when the waiting API shares this
 * process; otherwise to the API named by the request's `streamTo`, over ONE chunked HTTP POST per
 * stream attempt (NDJSON lines), authenticated by a token from this process's environment.
 * Relaying is best effort: the API still answers from the workflow result if lines are lost.
 * A retried stream call asks the same API what the client has received, to continue from there.
 */
import http from 'node:http';
import https from 'node:https';
import { DeliveredTextSchema, streamRelayPath, type StreamEvent } from '../contracts/streaming';
import type { StreamSink } from '../activities';

/** The in-process part (the API's StreamHub satisfies it). */
export interface LocalStreams {
  has(jobId: string): boolean;
  publish(jobId: string, event: StreamEvent): void;
  delivered?(jobId: string): string | undefined;
}

export interface RelaySinkOptions {
  /** Shared secret of the internal route; without it nothing is relayed across processes. */
  token?: string;
  local?: LocalStreams;
  log?: { warn(obj: unknown, msg?: string): void };
}

const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/** How long a retried stream call waits for the API's answer to "what does the client have". */
const DELIVERED_TIMEOUT_MS = 2_000;

/** GETs the delivered text from the API at `base`; undefined when it cannot tell. */
async function askDelivered(base: string, jobId: string, token: string): Promise<string | undefined> {
  const res = await fetch(new URL(streamRelayPath(jobId), base), {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(DELIVERED_TIMEOUT_MS),
  });
  if (res.status !== 200) {
    await res.arrayBuffer();
    return undefined;
  }
  const body = DeliveredTextSchema.safeParse(await res.json());
  return body.success ? body.data.text : undefined;
}

/** Creates the sink: local hub first, cross-process relay second. */
export function createRelaySink(opts: RelaySinkOptions): StreamSink {
  const open = new Map<string, http.ClientRequest | null>();

  function openRelay(key: string, jobId: string, base: string): http.ClientRequest | null {
    let url: URL;
    try {
      url = new URL(streamRelayPath(jobId), base);
    } catch {
      return null;
    }
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, {
      method: 'POST',
      agent: agents[url.protocol as 'http:' | 'https:'],
      headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${opts.token}`, 'transfer-encoding': 'chunked' },
    });
    req.setNoDelay(true);
    // An answer before our last line means the API stopped listening (client gone, bad token).
    const stop = () => {
      if (open.get(key) === req) open.set(key, null);
    };
    req.on('response', (res) => {
      res.resume();
      if (res.statusCode !== 204) opts.log?.warn({ jobId, status: res.statusCode }, 'stream relay refused');
      if (!req.writableEnded) {
        stop();
        req.destroy();
      }
    });
    req.on('error', (err) => {
      opts.log?.warn({ jobId, err: err.message }, 'stream relay failed');
      stop();
    });
    return req;
  }

  return {
    async delivered(jobId, route) {
      if (opts.local?.has(jobId)) return opts.local.delivered?.(jobId);
      if (!route.streamTo || !opts.token) return undefined;
      return askDelivered(route.streamTo, jobId, opts.token).catch((err: unknown) => {
        opts.log?.warn({ jobId, err: (err as Error).message }, 'stream relay: asking what the client has failed');
        return undefined;
      });
    },

    publish(jobId, event, route) {
      if (opts.local?.has(jobId)) return opts.local.publish(jobId, event);
      if (!route.streamTo || !opts.token) return;
      const key = `${jobId}\n${event.target}\n${event.model}\n${event.attempt}`;
      let req = open.get(key);
      if (req === undefined && event.type === 'answer') {
        // A buffered call's answer: one line, on a request of its own.
        const once = openRelay(`${key}\nanswer`, jobId, route.streamTo);
        once?.end(`${JSON.stringify(event)}\n`);
        return;
      }
      if (req === undefined) {
        if (event.type !== 'start') return;
        req = openRelay(key, jobId, route.streamTo);
        open.set(key, req);
      }
      if (!req) {
        if (event.type === 'end') open.delete(key);
        return;
      }
      req.write(`${JSON.stringify(event)}\n`);
      if (event.type === 'end') {
        open.delete(key);
        req.end();
      }
    },
  };
}
