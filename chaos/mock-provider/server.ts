/**
 * Mock LLM provider HTTP server (OpenAI / Anthropic wire formats) with a
 * fault-injection control API. Built on node:http so sockets can be reset,
 * stalled and destroyed at will.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import {
  anthropicContextLengthError,
  anthropicError,
  anthropicMessage,
  anthropicStreamEvents,
  applyAnthropicAnswerFault,
  planAnthropicMessages,
} from './anthropic-format';
import { FaultState, validateFaults, type Faults } from './faults';
import {
  applyOpenAIAnswerFault,
  applyOpenAIContinuationFault,
  chatChunks,
  chatCompletion,
  embeddingsResponse,
  modelsList,
  openaiContextLengthError,
  openaiError,
  openaiRateLimitMessage,
  planOpenAIChat,
  type HttpReply,
} from './openai-format';

/** Which wire format a mock speaks. */
export type ProviderKind = 'openai' | 'anthropic' | 'openai-compatible';

/** Options of {@link startMockProvider}. */
export interface MockProviderOptions {
  kind: ProviderKind;
  /** Reported by /health; default: the kind. */
  name?: string;
  /** 0 (default) picks an ephemeral port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Pause between streamed events, ms (default 1). */
  chunkDelayMs?: number;
  /** Ids listed by GET /v1/models (openai kinds). */
  models?: string[];
  /** When set, requests must carry this key (Bearer / x-api-key) or get 401. */
  apiKey?: string;
}

/**
 * Counters of provider-route traffic. Invariant (when /health was not probed while down):
 * requests = resets + aborted + completed + inFlight.
 */
export interface MockStats {
  /** Provider route requests received (including failed ones). */
  requests: number;
  /** Requests per "METHOD /path". */
  byRoute: Record<string, number>;
  /** Injected error responses (errorRate, contextLength). */
  errors: number;
  /** Connections reset because of `down` (provider routes, and /health and unknown routes unless `models` is set). */
  resets: number;
  /** Client went away before the response was finished. */
  aborted: number;
  /** Responses fully written (any status, incl. errors and malformed streams). */
  completed: number;
  /** Provider requests currently being handled. */
  inFlight: number;
  /** The last provider request whose body was read. */
  lastRequest?: { route: string; model: string | undefined; stream: boolean; body: unknown };
}

/** A running mock provider. */
export interface MockProvider {
  name: string;
  kind: ProviderKind;
  port: number;
  /** http://HOST:PORT */
  origin: string;
  /** What the SDK takes as baseURL: origin + '/v1' (openai kinds) or origin (anthropic). */
  baseUrl: string;
  /** Replaces the whole fault set (validated; throws InvalidFaultsError). */
  setFaults(f: Partial<Faults>): void;
  clearFaults(): void;
  faults(): Faults;
  stats(): MockStats;
  resetStats(): void;
  /** Stops listening and destroys every open socket. */
  close(): Promise<void>;
}

const DEFAULT_MODELS = ['gpt-4o-mini', 'gpt-4o', 'text-embedding-3-small'];

/** One SSE event to write: `head` (role chunk / message_start), `content`, `other`, or `done` (terminator). */
interface SseEvent {
  text: string;
  kind: 'head' | 'content' | 'other' | 'done';
}

function emptyStats(inFlight = 0): MockStats {
  return { requests: 0, byRoute: {}, errors: 0, resets: 0, aborted: 0, completed: 0, inFlight };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('close', () => resolve(null)); // no-op if 'end' already resolved
    req.on('error', () => resolve(null));
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: text === '' ? undefined : JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** Tracks whether a response's connection has closed; offers close-aware sleeps. */
class ResponseLife {
  closed = false;
  private readonly closedPromise: Promise<void>;
  constructor(res: http.ServerResponse) {
    this.closedPromise = new Promise((resolve) =>
      res.once('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }
  /** Waits ms; resolves false early if the connection closes. */
  async sleep(ms: number): Promise<boolean> {
    if (this.closed) return false;
    if (ms <= 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const slept = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)));
    const result = await Promise.race([slept, this.closedPromise.then(() => false)]);
    clearTimeout(timer);
    return result;
  }
  /** Resolves when the connection closes. */
  untilClosed(): Promise<void> {
    return this.closedPromise;
  }
}

/**
 * Starts a mock provider on 127.0.0.1 (ephemeral port by default).
 * See the module README in index.ts for routes and fault semantics.
 */
export async function startMockProvider(opts: MockProviderOptions): Promise<MockProvider> {
  const kind = opts.kind;
  const isAnthropic = kind === 'anthropic';
  const name = opts.name ?? kind;
  const host = opts.host ?? '127.0.0.1';
  const chunkDelayMs = opts.chunkDelayMs ?? 1;
  const models = opts.models ?? DEFAULT_MODELS;
  const faults = new FaultState();
  let stats = emptyStats();
  let seq = 0;
  let toolSeq = 0;
  const nextToolId = (): number => ++toolSeq;
  const sockets = new Set<Socket>();

  const requestIdHeader = isAnthropic ? 'request-id' : 'x-request-id';
  const providerError = (status: number, message?: string, requestId?: string, model?: string): HttpReply => {
    if (isAnthropic) return anthropicError(status, message, requestId);
    return openaiError(status, message ?? (status === 429 ? openaiRateLimitMessage(model) : undefined));
  };

  function routeOf(method: string, path: string): string | undefined {
    const key = `${method} ${path}`;
    const routes = isAnthropic ? ['POST /v1/messages'] : ['POST /v1/chat/completions', 'POST /v1/embeddings', 'GET /v1/models'];
    return routes.includes(key) ? key : undefined;
  }

  function reset(req: http.IncomingMessage): void {
    stats.resets++;
    req.socket.resetAndDestroy();
  }

  async function handleControl(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    if (path === '/__faults' && method === 'GET') return sendJson(res, 200, faults.get());
    if (path === '/__faults' && method === 'DELETE') {
      faults.clear();
      return sendJson(res, 200, faults.get());
    }
    if (path === '/__faults' && method === 'PUT') {
      const raw = await readBody(req);
      const parsed = parseJson(raw ?? '');
      if (!parsed.ok) return sendJson(res, 400, { error: { type: 'invalid_faults', message: 'Body is not valid JSON', keys: [] } });
      const v = validateFaults(parsed.value);
      if (!v.ok) return sendJson(res, 400, { error: { type: 'invalid_faults', message: v.message, keys: v.keys } });
      return sendJson(res, 200, faults.set(v.faults));
    }
    if (path === '/__stats' && method === 'GET') return sendJson(res, 200, snapshot());
    if (path === '/__stats' && method === 'DELETE') {
      resetStats();
      return sendJson(res, 200, snapshot());
    }
    sendJson(res, 405, { error: { type: 'method_not_allowed', message: `${method} not allowed on ${path}` } });
  }

  function authorized(req: http.IncomingMessage): boolean {
    if (opts.apiKey === undefined) return true;
    if (isAnthropic) return req.headers['x-api-key'] === opts.apiKey || req.headers.authorization === `Bearer ${opts.apiKey}`;
    return req.headers.authorization === `Bearer ${opts.apiKey}`;
  }

  async function handleProvider(req: http.IncomingMessage, res: http.ServerResponse, route: string): Promise<void> {
    stats.requests++;
    stats.byRoute[route] = (stats.byRoute[route] ?? 0) + 1;
    // Without `models` the fault hits every request: reset before reading anything.
    if (faults.isDown() && faults.appliesToAll()) return reset(req);
    stats.inFlight++;
    const life = new ResponseLife(res);
    let wasReset = false;
    void life.untilClosed().then(() => {
      // resetStats() carries inFlight over, so always settle on the current object.
      stats.inFlight = Math.max(0, stats.inFlight - 1);
      if (wasReset) return; // counted in resets
      if (res.writableFinished) stats.completed++;
      else stats.aborted++;
    });
    const n = ++seq;
    const requestId = `req_mock${String(n).padStart(8, '0')}`;
    const headers = { [requestIdHeader]: requestId };
    const reply = (r: HttpReply, extra: Record<string, string> = {}): void => {
      if (!life.closed) sendJson(res, r.status, r.body, { ...headers, ...extra });
    };

    const raw = route.startsWith('GET ') ? '' : await readBody(req);
    if (raw === null || life.closed) return;
    const parsed = parseJson(raw);
    const body = parsed.ok ? parsed.value : undefined;
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const model = typeof b.model === 'string' ? b.model : undefined;
    if (route !== 'GET /v1/models') {
      stats.lastRequest = { route, model, stream: b.stream === true, body };
    }
    // Faults restricted by `models` (one-model outage) skip requests for other models entirely.
    const faulted = faults.appliesTo(model);
    if (faulted && faults.isDown()) {
      wasReset = true;
      return reset(req);
    }

    if (faulted && !(await life.sleep(faults.nextDelayMs()))) return;
    if (faulted && faults.nextShouldFail()) {
      stats.errors++;
      const retryAfter = faults.retryAfterS();
      const err = providerError(faults.errorStatus(), undefined, requestId, model);
      return reply(err, retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {});
    }
    if (!authorized(req)) return reply(providerError(401, undefined, requestId));
    if (!parsed.ok) return reply(providerError(400, 'Request body is not valid JSON.', requestId));

    const answerFault = faulted ? faults.answerFault() : undefined;
    const created = Math.floor(Date.now() / 1000);
    if (route === 'GET /v1/models') return reply({ status: 200, body: modelsList(models, created) });
    if (route === 'POST /v1/embeddings') {
      const r = embeddingsResponse(body);
      if (r.status === 200 && answerFault === 'contextLength') {
        stats.errors++;
        return reply(openaiContextLengthError('embeddings', (r.body as { usage: { prompt_tokens: number } }).usage.prompt_tokens));
      }
      return reply(r);
    }

    let events: SseEvent[];
    if (isAnthropic) {
      const plan = planAnthropicMessages(body, nextToolId);
      if ('status' in plan) return reply(plan);
      if (answerFault === 'contextLength') {
        stats.errors++;
        return reply(anthropicContextLengthError(plan.inputTokens, requestId));
      }
      if (answerFault) applyAnthropicAnswerFault(plan, answerFault);
      const id = `msg_mock${String(n).padStart(8, '0')}`;
      if (!plan.stream) return reply({ status: 200, body: anthropicMessage(plan, id) });
      const kindOf = (event: string): SseEvent['kind'] =>
        event === 'message_start' ? 'head' : event === 'content_block_delta' ? 'content' : event === 'message_stop' ? 'done' : 'other';
      events = anthropicStreamEvents(plan, id).map((e) => ({
        text: `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`,
        kind: kindOf(e.event),
      }));
    } else {
      const plan = planOpenAIChat(body, nextToolId);
      if ('status' in plan) return reply(plan);
      if (answerFault === 'contextLength') {
        stats.errors++;
        return reply(openaiContextLengthError('chat', plan.promptTokens));
      }
      if (answerFault) applyOpenAIAnswerFault(plan, answerFault);
      const follow = faulted ? faults.continuationFault() : undefined;
      if (follow && !answerFault) applyOpenAIContinuationFault(plan, follow);
      const id = `chatcmpl-mock${String(n).padStart(8, '0')}`;
      if (!plan.stream) return reply({ status: 200, body: chatCompletion(plan, id, created) });
      events = chatChunks(plan, id, created).map((c, i) => {
        const delta = (c.choices as { delta?: Record<string, unknown> }[])[0]?.delta ?? {};
        const content = (typeof delta.content === 'string' && delta.content !== '') || delta.tool_calls !== undefined;
        return { text: `data: ${JSON.stringify(c)}\n\n`, kind: i === 0 ? 'head' : content ? 'content' : 'other' };
      });
      events.push({ text: 'data: [DONE]\n\n', kind: 'done' });
    }
    await streamEvents(res, life, events, headers, faulted);
  }

  /**
   * Writes SSE events, applying the stream faults when `faulted`: stallAfterChunks (counts every event),
   * ttftMs (before the first event after the head), malformed/malformedAfterChunks (counts content
   * events) and omitDone.
   */
  async function streamEvents(
    res: http.ServerResponse,
    life: ResponseLife,
    events: SseEvent[],
    headers: Record<string, string>,
    faulted: boolean,
  ): Promise<void> {
    res.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    const stallAfter = faulted ? faults.stallAfterChunks() : undefined;
    const malformedAfter = faulted ? faults.malformedAfterChunks() : undefined;
    const ttftMs = faulted ? faults.ttftMs() : 0;
    const toSend = faulted && faults.omitDone() ? events.filter((e) => e.kind !== 'done') : events;
    const garbage = isAnthropic ? 'event: content_block_delta\ndata: {not json\n\n' : 'data: {not json\n\n';
    let contentSent = 0;
    let pastHead = false;
    for (let i = 0; i < toSend.length; i++) {
      const e = toSend[i];
      if (life.closed) return;
      if (stallAfter !== undefined && i >= stallAfter) return life.untilClosed();
      if (e.kind !== 'head' && !pastHead) {
        pastHead = true;
        if (!(await life.sleep(ttftMs))) return;
      }
      if (malformedAfter !== undefined && e.kind !== 'head' && (contentSent >= malformedAfter || e.kind === 'done')) {
        res.end(garbage);
        return;
      }
      res.write(e.text);
      if (e.kind === 'content') contentSent++;
      if (i < toSend.length - 1 && !(await life.sleep(chunkDelayMs))) return;
    }
    if (stallAfter !== undefined) return life.untilClosed();
    if (malformedAfter !== undefined) {
      res.end(garbage); // fewer content events than malformedAfterChunks and no terminator (omitDone)
      return;
    }
    res.end();
  }

  const server = http.createServer((req, res) => {
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const path = new URL(req.url ?? '/', 'http://mock').pathname;
    const method = req.method ?? 'GET';
    const done = (p: Promise<void> | void): void => {
      Promise.resolve(p).catch((err: unknown) => {
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, providerError(500, String(err)).body);
        else res.destroy();
      });
    };
    if (path === '/__faults' || path === '/__stats') return done(handleControl(req, res, path));
    if (faults.isDown() && faults.appliesToAll()) {
      const route = routeOf(method, path);
      if (route) return done(handleProvider(req, res, route));
      return reset(req);
    }
    if (path === '/health' && method === 'GET') return sendJson(res, 200, { status: 'ok', name });
    const route = routeOf(method, path);
    if (route) return done(handleProvider(req, res, route));
    const r = isAnthropic ? anthropicError(404, `Not found: ${method} ${path}`) : openaiError(404, `Invalid URL (${method} ${path})`);
    sendJson(res, r.status, r.body, { [requestIdHeader]: `req_mock404${++seq}` });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 0);
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  function snapshot(): MockStats {
    return { ...stats, byRoute: { ...stats.byRoute }, lastRequest: stats.lastRequest ? { ...stats.lastRequest } : undefined };
  }
  function resetStats(): void {
    stats = emptyStats(stats.inFlight);
  }

  let closing: Promise<void> | undefined;
  return {
    name,
    kind,
    port,
    origin,
    baseUrl: isAnthropic ? origin : `${origin}/v1`,
    setFaults: (f) => void faults.set(f),
    clearFaults: () => faults.clear(),
    faults: () => faults.get(),
    stats: snapshot,
    resetStats,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
