/**
 * Open-loop load against the gateway's API: one request starts every 1/rate s whatever the
 * previous ones do, its kind picked from the mix (plain chat, streams, long jobs, tool calls, RAG
 * questions). Each prompt ends with a unique nonce word, and the mocks echo the prompt, so an
 * answer is complete iff it ends with its nonce (a tool call: iff it calls the request's own tool).
 * Chat and streams go through the official `openai` SDK (./load-chat), jobs over fetch (./load-jobs).
 */
import { randomBytes } from 'node:crypto';
import { runChatRequest, type ChatSpec } from './load-chat';
import { runJobRequest } from './load-jobs';
import type { RequestKind, RequestRecord } from './records';

/** Idempotency-Keys on the load's requests (see the scenario schema's `load.idempotency`). */
export interface LoadIdempotency {
  kinds: Array<'job' | 'chat'>;
  maxSends: number;
  backoffMs: number;
  resendAnswered: number;
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  apiUrl: string;
  rate: number;
  seconds: number;
  mix: Partial<Record<RequestKind, number>>;
  model: string;
  clientTimeoutS: number;
  promptWords: number;
  rag?: { collection: string; topK?: number; question: string };
  idempotency?: LoadIdempotency;
  prompt?: PromptStyle;
  /** ms since the load started. */
  now: () => number;
  /** Checked before each start: true stops the load early (abort). */
  stopped?: () => boolean;
  /** Every record, as soon as it is created (it is filled in as the request progresses). */
  onStart?: (r: RequestRecord) => void;
}

const WORDS =
  'alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa quebec romeo sierra tango'.split(' ');
const GOLDEN = 0.6180339887498949;
/**
 * How prompts ask for their answer: `echo` relies on the mock providers echoing the prompt;
 * `repeat` asks a real model to repeat the words (so its answer ends with the nonce too).
 */
export type PromptStyle = 'echo' | 'repeat';
const REPEAT = 'Repeat the following words exactly, with nothing before or after them:'.split(' ');

/** A question the default config's sample collection answers. */
export const DEFAULT_RAG_QUESTION = 'When does a circuit breaker open?';

/** The nonce of request `id`: a word matching recorder.NONCE_RE. */
export function nonceFor(id: number): string {
  return `qz${id.toString(36)}x${randomBytes(3).toString('hex')}`;
}

/**
 * A prompt of `words` words (at least the lead and the nonce) ending with the nonce. A tool
 * request's starts by asking for the tool; a RAG question's with `question`, so that keyword
 * search (which, unlike vector search, finds nothing for unrelated words) has something to match.
 */
export function promptFor(
  id: number,
  nonce: string,
  words: number,
  kind: RequestKind = 'chat',
  question = '',
  style: PromptStyle = 'echo',
): string {
  const ask = style === 'repeat' ? REPEAT : [];
  const lead = [...ask, ...(kind === 'tool' ? ['use', 'the', 'tool'] : kind === 'rag' ? (question.match(/\S+/g) ?? []) : [])];
  const filler = Array.from({ length: Math.max(0, words - 1 - lead.length) }, (_, i) => WORDS[(id + i) % WORDS.length]);
  return [...lead, ...filler, nonce].join(' ');
}

/** The kind of request `i`: a deterministic, evenly spread weighted choice. */
export function kindFor(i: number, mix: Partial<Record<RequestKind, number>>): RequestKind {
  const kinds = (Object.keys(mix) as RequestKind[]).filter((k) => (mix[k] ?? 0) > 0);
  const total = kinds.reduce((n, k) => n + mix[k]!, 0);
  const x = ((i * GOLDEN) % 1) * total;
  let acc = 0;
  for (const k of kinds) {
    acc += mix[k]!;
    if (x < acc) return k;
  }
  return kinds[kinds.length - 1];
}

/** How request `i` of kind `kind` is sent: tool requests alternate between streamed and not. */
export function chatSpecFor(i: number, kind: Exclude<RequestKind, 'job'>): ChatSpec {
  return { stream: kind === 'stream' || (kind === 'tool' && i % 2 === 1), tool: kind === 'tool', rag: kind === 'rag' };
}

/** The Idempotency-Key policy of request `i`, when its kind carries one. */
function keyFor(o: LoadOptions, i: number, kind: RequestKind, nonce: string) {
  const k = o.idempotency;
  const keyed = kind === 'job' ? k?.kinds.includes('job') : kind === 'chat' && k?.kinds.includes('chat');
  if (!k || !keyed) return undefined;
  // Spread the resends evenly over the run (a different sequence from the kinds').
  const resend = (i * GOLDEN * 7) % 1 < k.resendAnswered;
  return { key: `gameday-${nonce}`, maxSends: k.maxSends, backoffMs: k.backoffMs, resend };
}

/** Runs the load; resolves with every record once every request ended. */
export async function runLoad(o: LoadOptions): Promise<RequestRecord[]> {
  const records: RequestRecord[] = [];
  const pending: Array<Promise<void>> = [];
  const total = Math.floor(o.rate * o.seconds);
  const intervalMs = 1000 / o.rate;
  const rag = o.rag ?? { collection: 'sample', question: DEFAULT_RAG_QUESTION };
  const chatOpts = { ...o, rag };
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
    const prompt = promptFor(i, nonce, o.promptWords, kind, rag.question, o.prompt);
    const key = keyFor(o, i, kind, nonce);
    const run =
      kind === 'job'
        ? runJobRequest(o, r, prompt, key)
        : runChatRequest(chatOpts, r, { ...chatSpecFor(i, kind), ...(key ? { key } : {}) }, prompt);
    pending.push(
      run.finally(() => {
        r.endedAt = o.now();
      }),
    );
  }
  await Promise.all(pending);
  return records;
}
