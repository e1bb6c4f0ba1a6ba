/**
 * Open-loop load for the bench: requests fired on a fixed schedule whatever the answers do
 * (bounded in count and time: each request has a time limit, the run waits for the last one),
 * and the calls it fires (OpenAI-format chat, buffered or streamed, and the floor) over loopback.
 */

/** What one call measured. */
export interface Sample {
  ms: number;
  /** Streams: ms to the first content token. */
  ttftMs?: number;
  jobId?: string;
  /** Buffered: the answer's `stormproof` extension. */
  stormproof?: { attempts?: Array<{ target: string; model: string; retries?: number }> };
  /** Streamed: the text received. */
  text?: string;
  /** Its index in the run (pairs runs that got the same provider delays). */
  i?: number;
}

/** Percentiles and counts of one run. */
export interface RunResult {
  rate: number;
  seconds: number;
  ok: number;
  failed: number;
  /** The first failure's message, if any. */
  error?: string;
  achieved: number;
  p50: number;
  p90: number;
  p99: number;
  ttftP50?: number;
  ttftP99?: number;
  samples: Sample[];
}

/** The p-th percentile of sorted values (nearest rank). */
export function pct(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Fires `fn` `rate` times a second for `seconds` (open loop); reports progress every 5 s. */
export async function atRate(
  rate: number,
  seconds: number,
  fn: () => Promise<Sample>,
  progress?: (line: string) => void,
): Promise<RunResult> {
  const total = Math.round(rate * seconds);
  const samples: Sample[] = [];
  let failed = 0;
  let error: string | undefined;
  const t0 = performance.now();
  const inflight: Array<Promise<void>> = [];
  let lastReport = t0;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      fn().then(
        (s) => void samples.push(s),
        (err: Error) => {
          failed += 1;
          error ??= err.message;
        },
      ),
    );
    if (progress && performance.now() - lastReport > 5_000) {
      lastReport = performance.now();
      progress(`  … ${i + 1}/${total} sent, ${samples.length} answered, ${failed} failed`);
    }
  }
  await Promise.all(inflight);
  const took = (performance.now() - t0) / 1000;
  const lat = samples.map((s) => s.ms).sort((a, b) => a - b);
  const ttft = samples
    .filter((s) => s.ttftMs !== undefined)
    .map((s) => s.ttftMs!)
    .sort((a, b) => a - b);
  return {
    rate,
    seconds,
    ok: samples.length,
    failed,
    ...(error ? { error } : {}),
    achieved: samples.length / took,
    p50: pct(lat, 50),
    p90: pct(lat, 90),
    p99: pct(lat, 99),
    ...(ttft.length ? { ttftP50: pct(ttft, 50), ttftP99: pct(ttft, 99) } : {}),
    samples,
  };
}

/** `concurrency` callers in a closed loop for `seconds`: completed calls per second. */
export async function closedLoop(
  concurrency: number,
  seconds: number,
  fn: () => Promise<unknown>,
): Promise<{ perSecond: number; failed: number }> {
  let done = 0;
  let failed = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await fn().then(
          () => (done += 1),
          () => (failed += 1),
        );
      }
    }),
  );
  return { perSecond: done / ((performance.now() - t0) / 1000), failed };
}

const JSON_HEADERS = { 'content-type': 'application/json' };
/** A time limit on every call: the load stays bounded whatever the stack does. */
const CALL_LIMIT_MS = 120_000;

/** A chat body: `words` words of prompt (the mock echoes them, one streamed chunk per word). */
export function chatBody(model: string, words: number, stream: boolean, nonce = Math.random().toString(36).slice(2, 8)) {
  const text = Array.from({ length: words }, (_, i) => (i === words - 1 ? nonce : `word${i}`)).join(' ');
  return { model, stream, messages: [{ role: 'user', content: text }] };
}

/** POSTs a buffered chat completion; fails unless 200 with an answer. */
export async function chat(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Sample> {
  const s = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_LIMIT_MS),
  });
  const json = (await res.json()) as { choices?: Array<{ message?: { content?: unknown } }>; stormproof?: Sample['stormproof'] };
  const ms = performance.now() - s;
  if (res.status !== 200 || typeof json?.choices?.[0]?.message?.content !== 'string')
    throw new Error(`HTTP ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return { ms, jobId: res.headers.get('x-stormproof-job-id') ?? undefined, ...(json.stormproof ? { stormproof: json.stormproof } : {}) };
}

/** POSTs a streamed chat completion; fails unless it ends with [DONE]. Measures the first token. */
export async function chatStream(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Sample> {
  const s = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...JSON_HEADERS, ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_LIMIT_MS),
  });
  if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const decoder = new TextDecoder();
  let buf = '';
  let text = '';
  let ttftMs: number | undefined;
  let done = false;
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = event
        .split('\n')
        .find((l) => l.startsWith('data: '))
        ?.slice(6);
      if (!data) continue;
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const json = JSON.parse(data) as { error?: unknown; choices?: Array<{ delta?: { content?: unknown } }> };
      if (json.error) throw new Error(`stream error: ${JSON.stringify(json.error).slice(0, 300)}`);
      const piece = json.choices?.[0]?.delta?.content;
      if (typeof piece === 'string' && piece) {
        ttftMs ??= performance.now() - s;
        text += piece;
      }
    }
  }
  if (!done) throw new Error('stream ended without [DONE]');
  return {
    ms: performance.now() - s,
    ...(ttftMs !== undefined ? { ttftMs } : {}),
    jobId: res.headers.get('x-stormproof-job-id') ?? undefined,
    text,
  };
}

/** POSTs to the floor endpoint (an empty workflow, eager start). */
export async function floor(url: string): Promise<Sample> {
  const s = performance.now();
  const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(CALL_LIMIT_MS) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`floor: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return { ms: performance.now() - s };
}

/** Sets a mock's faults (replaces them; also restarts its jitter sequence). */
export async function setFaults(origin: string, faults: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${origin}/__faults`, { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify(faults) });
  if (res.status !== 200) throw new Error(`faults on ${origin}: HTTP ${res.status} ${await res.text()}`);
}

/** A mock's call counters. */
export async function mockStats(origin: string, reset = false): Promise<{ requests: number; byRoute: Record<string, number> }> {
  const res = await fetch(`${origin}/__stats`, { method: reset ? 'DELETE' : 'GET' });
  return (await res.json()) as { requests: number; byRoute: Record<string, number> };
}
