/**
 * Open-loop load against the gateway's API: one request starts every 1/rate s whatever the
 * previous ones do. Chat and streams go through the official `openai` SDK (no retries, the
 * scenario's client timeout); jobs are `POST /v1/jobs` then polling `GET /v1/jobs/:id`. Each
 * prompt ends with a unique nonce word, and the mocks echo the prompt, so an answer is complete
 * iff it ends with its nonce.
 */
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import type { RequestKind, RequestRecord } from './measure';

/** Options of {@link runLoad}. */
export interface LoadOptions {
  apiUrl: string;
  rate: number;
  seconds: number;
  mix: Record<RequestKind, number>;
  model: string;
  clientTimeoutS: number;
  promptWords: number;
  /** ms since the load started. */
  now: () => number;
  /** Checked before each start: true stops the load early (abort). */
  stopped?: () => boolean;
  /** Every record, as soon as it is created (it is filled in as the request progresses). */
  onStart?: (r: RequestRecord) => void;
}

const WORDS =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa quebec romeo sierra tango'.split(' ');

/** The nonce of request `id`: a word matching recorder.NONCE_RE. */
export function nonceFor(id: number): string {
  return `qz${id.toString(36)}x${randomBytes(3).toString('hex')}`;
}

/** A prompt of `words` words ending with the nonce. */
export function promptFor(id: number, nonce: string, words: number): string {
  const filler = Array.from({ length: Math.max(0, words - 1) }, (_, i) => WORDS[(id + i) % WORDS.length]);
  return [...filler, nonce].join(' ');
}

/** The kind of request `i`: a deterministic, evenly spread weighted choice. */
export function kindFor(i: number, mix: Record<RequestKind, number>): RequestKind {
  const kinds = (Object.keys(mix) as RequestKind[]).filter((k) => mix[k] > 0);
  const total = kinds.reduce((n, k) => n + mix[k], 0);
  const x = ((i * 0.6180339887498949) % 1) * total;
  let acc = 0;
  for (const k of kinds) {
    acc += mix[k];
    if (x < acc) return k;
  }
  return kinds[kinds.length - 1];
}

function classify(err: unknown): NonNullable<RequestRecord['error']> {
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

const endsWithNonce = (text: string | null | undefined, nonce: string) => (text ?? '').trimEnd().endsWith(nonce);

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

async function runChat(o: LoadOptions, client: OpenAI, r: RequestRecord, prompt: string): Promise<void> {
  try {
    const { data, response } = await client.chat.completions
      .create({ model: o.model, messages: [{ role: 'user', content: prompt }] })
      .withResponse();
    const content = data.choices[0]?.message?.content ?? '';
    const ext = (data as unknown as { stormproof?: { target?: string; failovers?: number } }).stormproof;
    r.target = response.headers.get('x-stormproof-target') ?? ext?.target;
    r.failovers = Number(response.headers.get('x-stormproof-failovers') ?? ext?.failovers ?? 0);
    r.degraded = response.headers.get('x-stormproof-degraded') ?? undefined;
    r.model = data.model;
    r.complete = endsWithNonce(content, r.nonce);
    r.truncated = !r.complete;
    r.ok = r.complete;
    if (!r.complete)
      r.error = {
        message: `answer does not end with its nonce: ${JSON.stringify(content.slice(-60))}`,
        code: 'incomplete_answer',
        explicit: false,
      };
  } catch (err) {
    r.error = classify(err);
  }
}

async function runStream(o: LoadOptions, r: RequestRecord, prompt: string): Promise<void> {
  const state = { done: false };
  const client = new OpenAI({
    baseURL: `${o.apiUrl}/v1`,
    apiKey: 'gameday',
    maxRetries: 0,
    timeout: o.clientTimeoutS * 1000,
    fetch: doneWatchingFetch(state),
  });
  let text = '';
  try {
    const { data: stream, response } = await client.chat.completions
      .create({ model: o.model, messages: [{ role: 'user', content: prompt }], stream: true })
      .withResponse();
    r.target = response.headers.get('x-stormproof-target') ?? undefined;
    r.failovers = Number(response.headers.get('x-stormproof-failovers') ?? 0);
    r.degraded = response.headers.get('x-stormproof-degraded') ?? undefined;
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta?.content;
      if (piece) {
        if (r.ttftMs === undefined) r.ttftMs = o.now() - r.startedAt;
        text += piece;
      }
      if (chunk.model) r.model = chunk.model;
      const ext = (chunk as unknown as { stormproof?: { target?: string; failovers?: number } }).stormproof;
      if (ext?.target) r.target = ext.target;
      if (ext?.failovers !== undefined) r.failovers = ext.failovers;
    }
    r.sawDone = state.done;
    r.complete = endsWithNonce(text, r.nonce);
    // Ended without an error: the client takes it as the whole answer.
    r.truncated = !r.complete;
    r.ok = r.complete;
    if (!r.complete)
      r.error = { message: `stream ended normally with an incomplete answer (${text.length} chars)`, code: 'truncated', explicit: false };
  } catch (err) {
    r.sawDone = state.done;
    r.error = classify(err);
  }
}

async function runJob(o: LoadOptions, r: RequestRecord, prompt: string): Promise<void> {
  const deadline = r.startedAt + o.clientTimeoutS * 2_000;
  r.job = { accepted: false, lost: false };
  let id: string;
  try {
    const res = await fetch(`${o.apiUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ request: { model: o.model, messages: [{ role: 'user', content: prompt }] } }),
      signal: AbortSignal.timeout(o.clientTimeoutS * 1000),
    });
    const body = (await res.json().catch(() => ({}))) as { id?: string; error?: { code?: string; message?: string } };
    if (res.status !== 202 || !body.id) {
      r.error = {
        message: body.error?.message ?? `POST /v1/jobs answered ${res.status}`,
        status: res.status,
        code: body.error?.code ?? `HTTP ${res.status}`,
        explicit: true,
      };
      return;
    }
    id = body.id;
    r.job = { accepted: true, id, lost: false };
  } catch (err) {
    r.error = {
      message: (err as Error).message,
      code: (err as Error).name === 'TimeoutError' ? 'client_timeout' : 'connection',
      explicit: false,
    };
    return;
  }
  let seen: string | undefined;
  for (;;) {
    await new Promise((res) => setTimeout(res, 500));
    if (o.now() > deadline) {
      // Still queued or running: slow, not lost (it is still there). Never seen at all: lost.
      if (seen) r.job.status = 'unfinished';
      else r.job.lost = true;
      r.error = {
        message: `job ${id} had no outcome after ${o.clientTimeoutS * 2} s (last seen: ${seen ?? 'never'})`,
        code: 'job_no_outcome',
        explicit: false,
      };
      return;
    }
    let res: Response;
    try {
      res = await fetch(`${o.apiUrl}/v1/jobs/${id}`, { signal: AbortSignal.timeout(10_000) });
    } catch {
      continue; // the API may be restarting: a client keeps asking
    }
    if (res.status === 404) {
      r.job.lost = true;
      r.error = { message: `job ${id} is unknown (404)`, status: 404, code: 'job_lost', explicit: true };
      return;
    }
    if (res.status !== 200) continue;
    const view = (await res.json().catch(() => undefined)) as
      | {
          status?: string;
          result?: { target?: string; model?: string; message?: { content?: string | null } };
          error?: { type?: string; message?: string };
        }
      | undefined;
    if (view?.status) seen = view.status;
    if (!view?.status || view.status === 'queued' || view.status === 'running') continue;
    r.job.status = view.status;
    if (view.status === 'completed') {
      r.target = view.result?.target;
      r.model = view.result?.model;
      r.complete = endsWithNonce(view.result?.message?.content, r.nonce);
      r.truncated = !r.complete;
      r.ok = r.complete;
      if (!r.complete) r.error = { message: 'job result does not end with its nonce', code: 'incomplete_answer', explicit: false };
    } else {
      r.error = { message: view.error?.message ?? `job ${view.status}`, code: view.error?.type ?? `job_${view.status}`, explicit: true };
    }
    return;
  }
}

/** Runs the load; resolves with every record once every request ended. */
export async function runLoad(o: LoadOptions): Promise<RequestRecord[]> {
  const records: RequestRecord[] = [];
  const pending: Array<Promise<void>> = [];
  const client = new OpenAI({ baseURL: `${o.apiUrl}/v1`, apiKey: 'gameday', maxRetries: 0, timeout: o.clientTimeoutS * 1000 });
  const total = Math.floor(o.rate * o.seconds);
  const intervalMs = 1000 / o.rate;
  for (let i = 0; i < total; i++) {
    const due = i * intervalMs;
    const wait = due - o.now();
    if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    if (o.stopped?.()) break;
    const kind = kindFor(i, o.mix);
    const nonce = nonceFor(i);
    const r: RequestRecord = { id: i, kind, nonce, startedAt: o.now(), ok: false, complete: false, truncated: false };
    records.push(r);
    o.onStart?.(r);
    const prompt = promptFor(i, nonce, o.promptWords);
    const run = kind === 'chat' ? runChat(o, client, r, prompt) : kind === 'stream' ? runStream(o, r, prompt) : runJob(o, r, prompt);
    pending.push(
      run.finally(() => {
        r.endedAt = o.now();
      }),
    );
  }
  await Promise.all(pending);
  return records;
}
