/** A minimal server-sent events reader for tests. */

export interface SseEvent {
  id?: string;
  event?: string;
  data: any;
}

/**
 * Reads events from `url` until the server ends the stream or `stop(event)` returns true (then the
 * connection is dropped, like a client going away).
 */
export async function readSse(
  url: string,
  opts: { headers?: Record<string, string>; stop?: (e: SseEvent) => boolean; timeoutMs?: number } = {},
): Promise<{ status: number; events: SseEvent[] }> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs ?? 30_000);
  let res: Response;
  try {
    res = await fetch(url, { headers: opts.headers, signal: abort.signal });
  } catch (err) {
    clearTimeout(timer); // a refused connection must not leave the timer holding the process
    throw err;
  }
  const events: SseEvent[] = [];
  if (!res.body || !res.headers.get('content-type')?.startsWith('text/event-stream')) {
    clearTimeout(timer);
    return { status: res.status, events };
  }
  const decoder = new TextDecoder();
  let buf = '';
  try {
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(part, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: SseEvent = { data: undefined };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) e.id = line.slice(4);
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) data.push(line.slice(6));
        }
        if (!data.length) continue;
        e.data = JSON.parse(data.join('\n'));
        events.push(e);
        if (opts.stop?.(e)) {
          abort.abort();
          return { status: res.status, events };
        }
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return { status: res.status, events };
}
