/**
 * Long jobs of the load: `POST /v1/jobs`, then polling `GET /v1/jobs/:id` until an outcome. With
 * an Idempotency-Key the client sends the submission again through errors (no answer, 5xx, 429)
 * with the same key, as a careful client does through an outage, and may send it once more after
 * its 202 (a client that lost the answer); every 202's job id is kept: one key must mean one job.
 */
import { endsWithNonce, type RequestRecord, type TraceAttempt } from './records';

/** What a job of the load needs to know. */
export interface JobLoadOptions {
  apiUrl: string;
  model: string;
  clientTimeoutS: number;
  now: () => number;
}

/** Idempotency-Key and the client's retry policy. */
export interface JobKey {
  key: string;
  maxSends: number;
  backoffMs: number;
  resend: boolean;
}

interface JobView {
  status?: string;
  result?: { target?: string; model?: string; message?: { content?: string | null }; sources?: unknown };
  error?: { type?: string; message?: string };
  attempts?: TraceAttempt[];
  degradations?: Array<{ kind: string }>;
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

type Submitted = { id: string } | { error: NonNullable<RequestRecord['error']>; retryable: boolean };

async function submitOnce(o: JobLoadOptions, prompt: string, key: string | undefined): Promise<Submitted> {
  try {
    const res = await fetch(`${o.apiUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify({ request: { model: o.model, messages: [{ role: 'user', content: prompt }] } }),
      signal: AbortSignal.timeout(o.clientTimeoutS * 1000),
    });
    const body = (await res.json().catch(() => ({}))) as { id?: string; error?: { code?: string; message?: string } };
    if (res.status === 202 && body.id) return { id: body.id };
    return {
      error: {
        message: body.error?.message ?? `POST /v1/jobs answered ${res.status}`,
        status: res.status,
        code: body.error?.code ?? `HTTP ${res.status}`,
        explicit: true,
      },
      retryable: res.status === 429 || res.status >= 500,
    };
  } catch (err) {
    const timeout = (err as Error).name === 'TimeoutError';
    return {
      error: { message: (err as Error).message, code: timeout ? 'client_timeout' : 'connection', explicit: false },
      retryable: true,
    };
  }
}

/** Submits the job (sending again with the same key when told); the accepted job id, or undefined (r.error set). */
async function submit(o: JobLoadOptions, r: RequestRecord, prompt: string, key: JobKey | undefined): Promise<string | undefined> {
  if (key) r.idempotency = { key: key.key, sends: 0, jobIds: [] };
  let accepted: string | undefined;
  for (let send = 1; ; send++) {
    if (r.idempotency) r.idempotency.sends = send;
    const s = await submitOnce(o, prompt, key?.key);
    if ('id' in s) {
      r.error = undefined;
      r.idempotency?.jobIds.push(s.id);
      // A client that lost its first answer sends the same submission once more.
      if (key?.resend && !accepted) {
        accepted = s.id;
        continue;
      }
      return accepted ?? s.id;
    }
    if (accepted) return accepted; // the resend failed: the client still has its first answer
    r.error = s.error;
    if (!key || !s.retryable || send >= key.maxSends || o.now() >= r.startedAt + o.clientTimeoutS * 1000) return undefined;
    await sleep(key.backoffMs * 2 ** (send - 1));
  }
}

/** Runs one job of the load and fills in its record. */
export async function runJobRequest(o: JobLoadOptions, r: RequestRecord, prompt: string, key?: JobKey): Promise<void> {
  const deadline = r.startedAt + o.clientTimeoutS * 2_000;
  r.job = { accepted: false, lost: false };
  const id = await submit(o, r, prompt, key);
  if (!id) return;
  r.job = { accepted: true, id, lost: false };
  let seen: string | undefined;
  for (;;) {
    await sleep(500);
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
    const view = (await res.json().catch(() => undefined)) as JobView | undefined;
    if (view?.status) seen = view.status;
    if (!view?.status || view.status === 'queued' || view.status === 'running') continue;
    r.job.status = view.status;
    if (Array.isArray(view.attempts))
      r.attempts = view.attempts.map((a) => ({ target: a.target, model: a.model, outcome: a.outcome, retries: a.retries }));
    if (Array.isArray(view.degradations)) r.degraded = [...new Set(view.degradations.map((d) => d.kind))].join(',');
    if (view.status === 'completed') {
      r.target = view.result?.target;
      r.model = view.result?.model;
      r.failovers = Math.max(0, (r.attempts?.length ?? 1) - 1);
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
