/**
 * Chat requests of the load, through the official `openai` SDK (no retries, the scenario's client
 * timeout): plain chat, streams, tool calls and RAG questions. Each is judged as strictly as the
 * nonce check: a text answer must end with the request's nonce; a tool call must call the
 * request's own tool (its name carries the nonce) with arguments that parse as JSON; a RAG answer
 * must also name its sources. Chat may carry an Idempotency-Key and then is sent again through
 * errors with the same key; every answer's job id is kept, so one key must mean one job.
 */
import OpenAI from 'openai';
import { endsWithNonce, type RequestRecord, type TraceAttempt } from './records';

/** What a chat request of the load needs to know. */
export interface ChatLoadOptions {
  apiUrl: string;
  model: string;
  clientTimeoutS: number;
  now: () => number;
  rag: { collection: string; topK?: number };
}

/** How one chat request is sent. */
export interface ChatSpec {
  stream: boolean;
  tool: boolean;
  rag: boolean;
  /** Idempotency-Key and the client's retry policy (non-streaming only). */
  key?: { key: string; maxSends: number; backoffMs: number; resend: boolean };
}

/** The tool a tool request offers: its name carries the nonce, so a call to it belongs to this request. */
export function toolNameFor(nonce: string): string {
  return `lookup_${nonce}`;
}

/** The `stormproof` extension of an answer, an error or a stream's last chunk. */
interface Extension {
  job_id?: string;
  target?: string;
  failovers?: number;
  attempts?: TraceAttempt[];
  degradations?: Array<{ kind: string }>;
  sources?: unknown;
}

/** Classifies a failed SDK call as the client saw it. */
export function classify(err: unknown): NonNullable<RequestRecord['error']> {
  if (err instanceof OpenAI.APIConnectionTimeoutError) return { message: err.message, code: 'client_timeout', explicit: false };
  if (err instanceof OpenAI.APIConnectionError) return { message: err.message, code: 'connection', explicit: false };
  if (err instanceof OpenAI.APIError) {
    return {
      message: err.message,
      status: err.status ?? undefined,
      code: typeof err.code === 'string' ? err.code : err.status ? `HTTP ${err.status}` : 'error_event',
      explicit: true,
    };
  }
  const e = err as Error;
  return {
    message: e?.message ?? String(err),
    code: e?.name === 'SyntaxError' ? 'malformed_stream' : (e?.name ?? 'error'),
    explicit: false,
  };
}

/** A fetch that tells whether `data: [DONE]` went by in the response body. */
function doneWatchingFetch(state: { done: boolean }): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body) return res;
    let tail = '';
    const decoder = new TextDecoder();
    const watched = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          tail = (tail + decoder.decode(chunk, { stream: true })).slice(-256);
          if (/(^|\n)data: \[DONE\]/.test(tail)) state.done = true;
          ctl.enqueue(chunk);
        },
      }),
    );
    return new Response(watched, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

function applyExtension(r: RequestRecord, ext: Extension | undefined): void {
  if (!ext) return;
  if (ext.target) r.target = ext.target;
  if (ext.failovers !== undefined) r.failovers = ext.failovers;
  if (Array.isArray(ext.attempts))
    r.attempts = ext.attempts.map((a) => ({ target: a.target, model: a.model, outcome: a.outcome, retries: a.retries }));
  if (Array.isArray(ext.degradations)) r.degraded = [...new Set(ext.degradations.map((d) => d.kind))].join(',');
  if (Array.isArray(ext.sources)) r.sources = ext.sources.filter((x): x is string => typeof x === 'string');
}

/** Judges a finished answer: sets complete/truncated/ok, or the reason it is not whole. */
function judge(r: RequestRecord, spec: ChatSpec, text: string, call: { name?: string; args?: string } | undefined): void {
  let why: { message: string; code: string } | undefined;
  if (spec.tool) {
    let argsOk = false;
    try {
      JSON.parse(call?.args ?? '');
      argsOk = true;
    } catch {
      // not JSON: the call is not whole
    }
    if (call?.name !== toolNameFor(r.nonce) || !argsOk)
      why = {
        message: `tool call ${JSON.stringify(call ?? null)} is not a whole call of ${toolNameFor(r.nonce)}`,
        code: 'incomplete_tool_call',
      };
  } else if (!endsWithNonce(text, r.nonce)) {
    why = {
      message: `answer does not end with its nonce: ${JSON.stringify(text.slice(-60))}`,
      code: spec.stream ? 'truncated' : 'incomplete_answer',
    };
  }
  r.complete = !why;
  // Ended without an error: the client takes it as the whole answer.
  r.truncated = !r.complete;
  if (!why && spec.rag && !r.sources?.length) why = { message: 'RAG answer names no sources', code: 'rag_without_sources' };
  r.ok = !why;
  if (why) r.error = { ...why, explicit: false };
}

function bodyOf(o: ChatLoadOptions, r: RequestRecord, spec: ChatSpec, prompt: string): Record<string, unknown> {
  return {
    model: o.model,
    messages: [{ role: 'user', content: prompt }],
    ...(spec.stream ? { stream: true } : {}),
    ...(spec.tool
      ? {
          tools: [
            {
              type: 'function',
              function: {
                name: toolNameFor(r.nonce),
                description: 'Looks the prompt up',
                parameters: { type: 'object', properties: { q: { type: 'string' } } },
              },
            },
          ],
        }
      : {}),
    ...(spec.rag ? { rag: { collection: o.rag.collection, ...(o.rag.topK ? { topK: o.rag.topK } : {}) } } : {}),
  };
}

async function once(
  client: OpenAI,
  o: ChatLoadOptions,
  r: RequestRecord,
  spec: ChatSpec,
  body: Record<string, unknown>,
): Promise<string | undefined> {
  const headers = spec.key ? { 'Idempotency-Key': spec.key.key } : undefined;
  const { data, response } = await client.chat.completions.create(body as never, { headers }).withResponse();
  const completion = data as OpenAI.Chat.ChatCompletion & { stormproof?: Extension };
  r.target = response.headers.get('x-stormproof-target') ?? undefined;
  r.failovers = Number(response.headers.get('x-stormproof-failovers') ?? 0);
  const degraded = response.headers.get('x-stormproof-degraded');
  r.degraded = degraded && degraded !== 'false' ? degraded : '';
  r.model = completion.model;
  applyExtension(r, completion.stormproof);
  const message = completion.choices[0]?.message;
  const call = message?.tool_calls?.[0];
  const fn = call && 'function' in call ? call.function : undefined;
  judge(r, spec, message?.content ?? '', spec.tool ? { name: fn?.name, args: fn?.arguments } : undefined);
  return response.headers.get('x-stormproof-job-id') ?? completion.stormproof?.job_id;
}

async function streamOnce(o: ChatLoadOptions, r: RequestRecord, spec: ChatSpec, body: Record<string, unknown>): Promise<void> {
  const state = { done: false };
  const client = new OpenAI({
    baseURL: `${o.apiUrl}/v1`,
    apiKey: 'gameday',
    maxRetries: 0,
    timeout: o.clientTimeoutS * 1000,
    fetch: doneWatchingFetch(state),
  });
  let text = '';
  const call: { name?: string; args: string } = { args: '' };
  try {
    const { data: stream, response } = await client.chat.completions
      .create(body as never as OpenAI.Chat.ChatCompletionCreateParamsStreaming)
      .withResponse();
    r.target = response.headers.get('x-stormproof-target') ?? undefined;
    r.failovers = Number(response.headers.get('x-stormproof-failovers') ?? 0);
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta;
      if (delta?.content) {
        if (r.ttftMs === undefined) r.ttftMs = o.now() - r.startedAt;
        text += delta.content;
      }
      for (const tc of delta?.tool_calls ?? []) {
        if (tc.index !== 0) continue;
        if (r.ttftMs === undefined) r.ttftMs = o.now() - r.startedAt;
        if (tc.function?.name) call.name = tc.function.name;
        if (tc.function?.arguments) call.args += tc.function.arguments;
      }
      if (chunk.model) r.model = chunk.model;
      applyExtension(r, (chunk as unknown as { stormproof?: Extension }).stormproof);
    }
    r.sawDone = state.done;
    judge(r, spec, text, spec.tool ? call : undefined);
  } catch (err) {
    r.sawDone = state.done;
    r.error = classify(err);
  }
}

/** Worth sending again with the same key: no answer, a 5xx or a 429 (never a 4xx about the request). */
function retryable(err: unknown): boolean {
  if (!(err instanceof OpenAI.APIError)) return true;
  return err.status === undefined || err.status === 429 || err.status >= 500;
}

const clients = new Map<string, OpenAI>();
/** One SDK client per API and timeout for non-streaming calls (streams need their own fetch). */
function clientFor(o: ChatLoadOptions): OpenAI {
  const key = `${o.apiUrl} ${o.clientTimeoutS}`;
  let c = clients.get(key);
  if (!c)
    clients.set(key, (c = new OpenAI({ baseURL: `${o.apiUrl}/v1`, apiKey: 'gameday', maxRetries: 0, timeout: o.clientTimeoutS * 1000 })));
  return c;
}

/** Runs one chat request of the load and fills in its record. */
export async function runChatRequest(o: ChatLoadOptions, r: RequestRecord, spec: ChatSpec, prompt: string): Promise<void> {
  const body = bodyOf(o, r, spec, prompt);
  if (spec.stream) return streamOnce(o, r, spec, body);
  const client = clientFor(o);
  const key = spec.key;
  if (key) r.idempotency = { key: key.key, sends: 0, jobIds: [] };
  const deadline = r.startedAt + o.clientTimeoutS * 1000;
  let resent = false;
  for (let send = 1; ; send++) {
    // The last send decides what the client got.
    Object.assign(r, { ok: false, complete: false, truncated: false, error: undefined });
    if (r.idempotency) r.idempotency.sends = send;
    try {
      const jobId = await once(client, o, r, spec, body);
      if (jobId && r.idempotency) r.idempotency.jobIds.push(jobId);
      // A client that lost its first answer sends the same request once more, with the same key.
      if (key?.resend && !resent) {
        resent = true;
        continue;
      }
      return;
    } catch (err) {
      r.error = classify(err);
      const ext = err instanceof OpenAI.APIError ? (err.error as { stormproof?: Extension } | undefined)?.stormproof : undefined;
      applyExtension(r, ext);
      const jobId = err instanceof OpenAI.APIError ? (err.headers?.get('x-stormproof-job-id') ?? ext?.job_id) : undefined;
      if (jobId && r.idempotency) r.idempotency.jobIds.push(jobId);
      if (!key || send >= key.maxSends || !retryable(err) || o.now() >= deadline) return;
      await new Promise((res) => setTimeout(res, key.backoffMs * 2 ** (send - 1)));
    }
  }
}
