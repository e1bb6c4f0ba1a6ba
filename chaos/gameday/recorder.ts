/**
 * A pass-through HTTP recorder between toxiproxy and one mock provider: it logs every call that
 * reaches the provider (time, route, the request's nonce from the prompt or the embedded text,
 * the model asked, status, Retry-After, whether the answer was written completely) and forwards bytes as they
 * come, so streams stay streams. A connection the provider resets is reset towards the gateway
 * too. The provider may be a real one over HTTPS (see startRecorder).
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import { isProbeQuestion } from '../../contracts/breaker';
import type { ProviderCall } from './records';

/** The nonce word that ends each game-day prompt. */
export const NONCE_RE = /\bqz[0-9a-z]+x[0-9a-f]{6}\b/;

/** A running recorder. */
export interface Recorder {
  port: number;
  calls: ProviderCall[];
  close(): Promise<void>;
}

/** The text a call is about: the last user message of a chat call, the input of an embeddings call. */
function lastUserText(body: unknown): string {
  const input = (body as { input?: unknown } | undefined)?.input;
  if (typeof input === 'string') return input;
  if (Array.isArray(input)) return input.filter((x) => typeof x === 'string').join(' ');
  const msgs = (body as { messages?: Array<{ role?: string; content?: unknown }> } | undefined)?.messages;
  if (!Array.isArray(msgs)) return '';
  const last = [...msgs].reverse().find((m) => m?.role === 'user');
  const c = last?.content;
  if (typeof c === 'string') return c;
  if (Array.isArray(c))
    return c
      .map((p) => (p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .join(' ');
  return '';
}

/** Options of {@link startRecorder}. */
export interface RecorderOptions {
  /** PEM CA certificates trusted for an https upstream, beside the system's (tests: a throwaway CA). */
  ca?: string;
  /** The target's provider model names → the config's model ids (the breakers' names); unlisted names are kept. */
  modelIds?: Record<string, string>;
}

/**
 * Starts a recorder for `target` forwarding to `upstream` (an origin: `http://host:port`, or
 * `https://host[:port]` for a real provider); `now()` gives ms since the load started. An https
 * upstream gets TLS from here with the upstream's own name as SNI and Host header and its
 * certificate verified, so the gateway in front may speak plain HTTP through toxiproxy.
 */
export async function startRecorder(target: string, upstream: string, now: () => number, opts: RecorderOptions = {}): Promise<Recorder> {
  const up = new URL(upstream);
  const secure = up.protocol === 'https:';
  const calls: ProviderCall[] = [];
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: Infinity, ...(opts.ca ? { ca: [...tls.rootCertificates, opts.ca] } : {}) })
    : new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const upPort = up.port || (secure ? '443' : '80');
  const send = secure ? https.request : http.request;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const at = now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      let body: unknown;
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = undefined;
      }
      const text = lastUserText(body);
      const asked = (body as { model?: unknown } | undefined)?.model;
      const call: ProviderCall = {
        target,
        at,
        route: `${req.method} ${path}`,
        ...(typeof asked === 'string' ? { model: opts.modelIds?.[asked] ?? asked } : {}),
        nonce: text.match(NONCE_RE)?.[0],
        probe: path === '/health' || text.trim() === 'ping' || isProbeQuestion(text),
        completed: false,
      };
      if (!path.startsWith('/__')) calls.push(call);
      const stream = (body as { stream?: unknown } | undefined)?.stream === true;
      const headers = secure ? { ...req.headers, host: up.host } : req.headers;
      const upReq = send(
        {
          host: up.hostname,
          port: upPort,
          method: req.method,
          path: req.url,
          headers,
          agent,
          ...(secure ? { servername: up.hostname } : {}),
        },
        (upRes) => {
          call.status = upRes.statusCode;
          const ra = upRes.headers['retry-after'];
          if (ra !== undefined && !Number.isNaN(Number(ra))) call.retryAfterS = Number(ra);
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          let tail = '';
          upRes.on('data', (d: Buffer) => {
            tail = (tail + d.toString('utf8')).slice(-64);
            res.write(d);
          });
          upRes.on('end', () => {
            call.endedAt = now();
            const ok2xx = (call.status ?? 0) < 300;
            call.completed = ok2xx && (!stream || tail.includes('[DONE]') || tail.includes('message_stop'));
            res.end();
          });
          upRes.on('error', () => res.destroy());
          upRes.on('aborted', () => res.destroy());
        },
      );
      upReq.on('error', () => {
        call.endedAt ??= now();
        if (!res.headersSent) req.socket.resetAndDestroy();
        else res.destroy();
      });
      res.on('close', () => {
        call.endedAt ??= now();
        if (!res.writableFinished) upReq.destroy();
      });
      upReq.end(raw);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_e, s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    calls,
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
      agent.destroy();
    },
  };
}
