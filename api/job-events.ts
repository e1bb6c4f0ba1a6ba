/**
 * `GET /v1/jobs/:id/events`: server-sent events derived from the job's state (status, attempt
 * trace, degradations, live progress), polled at a modest interval. Every event's id is the cursor
 * after it (counts of status, attempt, failover and degradation events sent), so a client that
 * reconnects with `Last-Event-ID` resumes exactly there; without it, the past events are replayed.
 */
import { Router, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { JobView } from '../contracts/jobs';
import type { RequestProgress } from '../contracts/workflow-api';
import { jobIdParam, withNotFound } from './jobs';
import { readJobState } from './job-view';

/** How far a client has read: counts of each kind of event. */
export interface EventCursor {
  status: number;
  attempts: number;
  failovers: number;
  degradations: number;
}

/** One event to send. */
export interface JobEvent {
  event: string;
  data: unknown;
  cursor: EventCursor;
}

const STATUS_RANK = { queued: 1, running: 2, completed: 3, failed: 3, cancelled: 3 } as const;

/** Parses a `Last-Event-ID` (`s.a.f.d`); anything else starts from the beginning. */
export function parseCursor(value: string | undefined): EventCursor {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(value ?? '');
  if (!m) return { status: 0, attempts: 0, failovers: 0, degradations: 0 };
  return { status: Number(m[1]), attempts: Number(m[2]), failovers: Number(m[3]), degradations: Number(m[4]) };
}

/** The id of an event: the cursor after it. */
export function formatCursor(c: EventCursor): string {
  return `${c.status}.${c.attempts}.${c.failovers}.${c.degradations}`;
}

/**
 * The events not yet sent, in order, for a job state. Pure: the same state and cursor always give
 * the same events, which is what makes resuming exact.
 */
export function deriveEvents(view: JobView, progress: RequestProgress | undefined, from: EventCursor): JobEvent[] {
  const c = { ...from };
  const out: JobEvent[] = [];
  const emit = (event: string, data: unknown) => out.push({ event, data, cursor: { ...c } });
  const rank = STATUS_RANK[view.status];
  const terminal = rank === 3;
  if (c.status < 1) {
    c.status = 1;
    emit('queued', { id: view.id, status: 'queued' });
  }
  if (c.status < 2 && (rank >= 2 || view.attempts.length > 0)) {
    c.status = 2;
    emit('running', { id: view.id, status: 'running', target: progress?.currentTarget ?? view.attempts[0]?.target });
  }
  // Failovers as the workflow's trace defines them, each before the first attempt after it; one
  // whose attempt is still running comes after the attempts so far.
  const switches = view.switches ?? [];
  const failoversUpTo = (attempt: number) => {
    while (c.failovers < switches.length && switches[c.failovers].attempt <= attempt) {
      const s = switches[c.failovers];
      c.failovers += 1;
      emit('failover', { from: s.from, to: s.to, reason: s.reason });
    }
  };
  for (let i = c.attempts; i < view.attempts.length; i++) {
    failoversUpTo(i);
    c.attempts = i + 1;
    emit('attempt', { index: i, ...view.attempts[i] });
  }
  failoversUpTo(Infinity);
  for (let i = c.degradations; i < view.degradations.length; i++) {
    c.degradations = i + 1;
    emit('degradation', { index: i, ...view.degradations[i] });
  }
  if (terminal && c.status < 3) {
    c.status = 3;
    emit(view.status, view);
  }
  return out;
}

export interface JobEventsDeps {
  client: Client;
  /** Poll interval of the job's state. */
  pollMs: number;
  /** Keep-alive comment interval, so proxies keep an idle stream open. */
  keepAliveMs?: number;
}

function write(res: Response, e: JobEvent): void {
  res.write(`id: ${formatCursor(e.cursor)}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
}

/** Route `GET /:id/events` (mounted under /v1/jobs). */
export function jobEventsRouter(deps: JobEventsDeps): Router {
  const router = Router();
  router.get('/:id/events', async (req, res) => {
    const id = jobIdParam(req);
    let state = await withNotFound(id, () => readJobState(deps.client, id));
    let cursor = parseCursor(
      req.header('last-event-id') ?? (typeof req.query.lastEventId === 'string' ? req.query.lastEventId : undefined),
    );
    res.status(200);
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('x-accel-buffering', 'no');
    res.write(`retry: ${Math.max(500, deps.pollMs)}\n\n`);
    let open = true;
    res.on('close', () => {
      open = false;
    });
    let lastWrite = Date.now();
    for (;;) {
      for (const e of deriveEvents(state.view, state.progress, cursor)) {
        write(res, e);
        cursor = e.cursor;
        lastWrite = Date.now();
      }
      if (STATUS_RANK[state.view.status] === 3 || !open) break;
      if (Date.now() - lastWrite >= (deps.keepAliveMs ?? 15_000)) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
      await new Promise((r) => setTimeout(r, deps.pollMs));
      if (!open) break;
      try {
        state = await readJobState(deps.client, id);
      } catch {
        // Temporal briefly unreachable: keep the stream, try again next poll.
      }
    }
    res.end();
  });
  return router;
}
