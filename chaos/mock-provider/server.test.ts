/**
 * Control API, health, routing, stats and fault semantics over plain HTTP (fetch).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, test } from 'node:test';
import { FaultState } from './faults';
import { startMockProvider } from './server';
import { waitFor, withMock } from './test-utils';

const json = { 'content-type': 'application/json' };
const chatBody = (content = 'hi') => JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] });

describe('control API', () => {
  test('PUT/GET/DELETE /__faults', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      let r = await fetch(`${mock.origin}/__faults`);
      assert.deepEqual(await r.json(), {});
      r = await fetch(`${mock.origin}/__faults`, { method: 'PUT', headers: json, body: JSON.stringify({ latencyMs: 5, errorRate: 0.25 }) });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { latencyMs: 5, errorRate: 0.25 });
      // PUT replaces the whole set.
      r = await fetch(`${mock.origin}/__faults`, { method: 'PUT', headers: json, body: JSON.stringify({ malformed: true }) });
      assert.deepEqual(await (await fetch(`${mock.origin}/__faults`)).json(), { malformed: true });
      assert.deepEqual(mock.faults(), { malformed: true });
      r = await fetch(`${mock.origin}/__faults`, { method: 'DELETE' });
      assert.equal(r.status, 200);
      assert.deepEqual(mock.faults(), {});
    }));

  test('invalid key or value → 400 naming the key', () =>
    withMock({ kind: 'anthropic' }, async (mock) => {
      for (const [body, key] of [
        [{ latencyMS: 5 }, 'latencyMS'],
        [{ errorRate: 1.5 }, 'errorRate'],
        [{ errorStatus: 200 }, 'errorStatus'],
        [{ down: 'yes' }, 'down'],
        [{ stallAfterChunks: -1 }, 'stallAfterChunks'],
      ] as const) {
        const r = await fetch(`${mock.origin}/__faults`, { method: 'PUT', headers: json, body: JSON.stringify(body) });
        assert.equal(r.status, 400);
        const text = await r.text();
        assert.ok(text.includes(key), text);
        assert.deepEqual((JSON.parse(text) as { error: { keys: string[] } }).error.keys, [key]);
      }
      const r = await fetch(`${mock.origin}/__faults`, { method: 'PUT', body: '{nope' });
      assert.equal(r.status, 400);
      assert.deepEqual(mock.faults(), {});
      assert.throws(() => mock.setFaults({ bogus: 1 } as never), /bogus/);
    }));

  test('errorRate 0.5 fails exactly every second call, errors first; faults never hit control API', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      await fetch(`${mock.origin}/__faults`, { method: 'PUT', headers: json, body: JSON.stringify({ errorRate: 0.5 }) });
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`${mock.baseUrl}/chat/completions`, { method: 'POST', headers: json, body: chatBody() });
        await r.arrayBuffer();
        statuses.push(r.status);
      }
      assert.deepEqual(statuses, [500, 200, 500, 200, 500, 200]);
      assert.equal((await fetch(`${mock.origin}/health`)).status, 200);
      const stats = (await (await fetch(`${mock.origin}/__stats`)).json()) as { requests: number; errors: number };
      assert.equal(stats.requests, 6);
      assert.equal(stats.errors, 3);
      const del = await fetch(`${mock.origin}/__stats`, { method: 'DELETE' });
      assert.equal(((await del.json()) as { requests: number }).requests, 0);
    }));

  test('error body format, Retry-After and request-id headers', async () => {
    await withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ errorRate: 1, errorStatus: 503, retryAfterS: 2 });
      const r = await fetch(`${mock.baseUrl}/chat/completions`, { method: 'POST', headers: json, body: chatBody() });
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('retry-after'), '2');
      assert.match(r.headers.get('x-request-id') ?? '', /^req_/);
      const body = (await r.json()) as { error: Record<string, unknown> };
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error.type, 'server_error');
    });
    await withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ errorRate: 1, retryAfterS: 1 });
      const r = await fetch(`${mock.baseUrl}/v1/messages`, { method: 'POST', headers: json, body: chatBody() });
      assert.equal(r.status, 429);
      assert.match(r.headers.get('request-id') ?? '', /^req_/);
      const body = (await r.json()) as { type: string; error: { type: string } };
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'rate_limit_error');
    });
  });

  test('unknown routes → 404 in provider format', async () => {
    await withMock({ kind: 'openai' }, async (mock) => {
      const r = await fetch(`${mock.baseUrl}/nope`, { method: 'POST' });
      assert.equal(r.status, 404);
      assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
      assert.equal((await fetch(`${mock.origin}/v1/messages`, { method: 'POST' })).status, 404);
    });
    await withMock({ kind: 'anthropic' }, async (mock) => {
      const r = await fetch(`${mock.origin}/v1/chat/completions`, { method: 'POST' });
      assert.equal(r.status, 404);
      assert.equal(((await r.json()) as { error: { type: string } }).error.type, 'not_found_error');
    });
  });
});

describe('health, down, stats, close', () => {
  test('health ok, and reset when down', () =>
    withMock({ kind: 'openai', name: 'prov-a' }, async (mock) => {
      assert.deepEqual(await (await fetch(`${mock.origin}/health`)).json(), { status: 'ok', name: 'prov-a' });
      mock.setFaults({ down: true });
      await assert.rejects(fetch(`${mock.origin}/health`));
      // The control API still answers.
      assert.deepEqual(await (await fetch(`${mock.origin}/__faults`)).json(), { down: true });
      mock.clearFaults();
      assert.equal((await fetch(`${mock.origin}/health`)).status, 200);
    }));

  test('stats track routes, lastRequest and completion', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      await (await fetch(`${mock.baseUrl}/chat/completions`, { method: 'POST', headers: json, body: chatBody('yo') })).arrayBuffer();
      await (await fetch(`${mock.baseUrl}/models`)).arrayBuffer();
      await waitFor(() => mock.stats().completed === 2);
      const s = mock.stats();
      assert.equal(s.requests, 2);
      assert.deepEqual(s.byRoute, { 'POST /v1/chat/completions': 1, 'GET /v1/models': 1 });
      assert.equal(s.lastRequest?.route, 'POST /v1/chat/completions');
      assert.equal(s.lastRequest?.model, 'm');
      assert.equal(s.lastRequest?.stream, false);
      assert.equal(s.inFlight, 0);
      mock.resetStats();
      assert.equal(mock.stats().requests, 0);
    }));

  test('jitter is deterministic and bounded', () => {
    const a = new FaultState();
    const b = new FaultState();
    a.set({ latencyMs: 10, jitterMs: 20 });
    b.set({ latencyMs: 10, jitterMs: 20 });
    const da = Array.from({ length: 20 }, () => a.nextDelayMs());
    const db = Array.from({ length: 20 }, () => b.nextDelayMs());
    assert.deepEqual(da, db);
    assert.ok(da.every((d) => d >= 10 && d < 30));
    assert.ok(new Set(da).size > 1);
    const c = new FaultState();
    c.set({ errorRate: 1 / 3 });
    assert.deepEqual(
      Array.from({ length: 6 }, () => c.nextShouldFail()),
      [true, false, false, true, false, false],
    );
  });

  test('close() does not hang on a stalled stream or latency wait', async () => {
    const mock = await startMockProvider({ kind: 'openai' });
    mock.setFaults({ stallAfterChunks: 1 });
    const first = new Promise<void>((resolve, reject) => {
      const req = http.request(`${mock.baseUrl}/chat/completions`, { method: 'POST', headers: json }, (res) => {
        res.once('data', () => resolve());
        res.on('error', () => undefined);
      });
      req.on('error', () => undefined);
      req.on('timeout', () => reject(new Error('timeout')));
      req.end(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'a b c' }], stream: true }));
    });
    await first;
    const t0 = Date.now();
    await mock.close();
    assert.ok(Date.now() - t0 < 1000);
    await mock.close(); // idempotent
  });
});

/** Reads a whole SSE body as text (fetch; resolves when the server closes the stream). */
async function sseText(url: string, body: unknown): Promise<string> {
  const r = await fetch(url, { method: 'POST', headers: json, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  return r.text();
}

/** A streamed Anthropic request for `content`. */
const anthropicReq = (content: string) => ({ model: 'm', max_tokens: 9, stream: true, messages: [{ role: 'user', content }] });

/** The `data:` payloads of an SSE body, in order. */
const dataLines = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));

describe('provider-level faults over plain HTTP', () => {
  test('new keys are validated', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      for (const [body, key] of [
        [{ ttftMs: -1 }, 'ttftMs'],
        [{ malformedAfterChunks: 1.5 }, 'malformedAfterChunks'],
        [{ omitDone: 'yes' }, 'omitDone'],
        [{ models: [] }, 'models'],
        [{ contextLength: 1 }, 'contextLength'],
      ] as const) {
        const r = await fetch(`${mock.origin}/__faults`, { method: 'PUT', headers: json, body: JSON.stringify(body) });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.deepEqual(((await r.json()) as { error: { keys: string[] } }).error.keys, [key]);
      }
      const all = {
        ttftMs: 5,
        omitDone: true,
        malformedAfterChunks: 2,
        contextLength: true,
        contentFilter: true,
        emptyAnswers: true,
        garbageAnswers: true,
        models: ['a'],
      };
      const r = await fetch(`${mock.origin}/__faults`, { method: 'PUT', headers: json, body: JSON.stringify(all) });
      assert.equal(r.status, 200);
      assert.deepEqual(mock.faults(), all);
    }));

  test('omitDone: OpenAI stream ends cleanly without data: [DONE], Anthropic without message_stop', async () => {
    await withMock({ kind: 'openai' }, async (mock) => {
      const req = { model: 'm', stream: true, messages: [{ role: 'user', content: 'a b' }] };
      assert.equal(dataLines(await sseText(`${mock.baseUrl}/chat/completions`, req)).at(-1), '[DONE]');
      mock.setFaults({ omitDone: true });
      const lines = dataLines(await sseText(`${mock.baseUrl}/chat/completions`, req));
      assert.ok(!lines.includes('[DONE]'));
      const last = JSON.parse(lines.at(-1)!) as { choices: { finish_reason: string }[] };
      assert.equal(last.choices[0].finish_reason, 'stop', 'every chunk but the terminator was sent');
      await waitFor(() => mock.stats().completed === 2, 2000, 'completed=2');
    });
    await withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ omitDone: true });
      const text = await sseText(`${mock.baseUrl}/v1/messages`, anthropicReq('a'));
      const types = dataLines(text).map((d) => (JSON.parse(d) as { type: string }).type);
      assert.equal(types.at(-1), 'message_delta');
      assert.ok(!types.includes('message_stop'));
    });
  });

  test('malformedAfterChunks: n content events, then one invalid JSON line, then close', async () => {
    await withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ malformedAfterChunks: 2 });
      const req = { model: 'm', stream: true, messages: [{ role: 'user', content: 'one two three four' }] };
      const lines = dataLines(await sseText(`${mock.baseUrl}/chat/completions`, req));
      assert.equal(lines.length, 4, lines.join('\n')); // role chunk, 2 content chunks, garbage
      assert.equal(lines[3], '{not json');
      const contentOf = (l: string) => (JSON.parse(l) as { choices: { delta: { content: string } }[] }).choices[0].delta.content;
      assert.deepEqual(lines.slice(1, 3).map(contentOf), ['Echo ', 'from ']);
      // More than the answer has: the garbage replaces the terminator.
      mock.setFaults({ malformedAfterChunks: 99 });
      const all = dataLines(await sseText(`${mock.baseUrl}/chat/completions`, req));
      assert.equal(all.at(-1), '{not json');
      assert.ok(!all.includes('[DONE]'));
    });
    await withMock({ kind: 'anthropic' }, async (mock) => {
      mock.setFaults({ malformedAfterChunks: 1 });
      const text = await sseText(`${mock.baseUrl}/v1/messages`, anthropicReq('a b'));
      const lines = dataLines(text);
      assert.equal(lines.at(-1), '{not json');
      const types = lines.slice(0, -1).map((d) => (JSON.parse(d) as { type: string }).type);
      assert.deepEqual(types, ['message_start', 'content_block_start', 'ping', 'content_block_delta']);
    });
  });

  test('one-model outage (down + models): only that model resets; /health, other models and /v1/models work', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ down: true, models: ['gpt-4o'] });
      const chat = (model: string) =>
        fetch(`${mock.baseUrl}/chat/completions`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }),
        });
      await assert.rejects(chat('gpt-4o'));
      const ok = await chat('gpt-4o-mini');
      assert.equal(ok.status, 200);
      const answer = (await ok.json()) as { choices: { message: { content: string } }[] };
      assert.match(answer.choices[0].message.content, /^Echo from gpt-4o-mini/);
      assert.equal((await fetch(`${mock.origin}/health`)).status, 200);
      assert.equal((await fetch(`${mock.baseUrl}/models`)).status, 200);
      assert.equal((await fetch(`${mock.baseUrl}/nope`, { method: 'POST' })).status, 404);
      await waitFor(() => mock.stats().completed === 2 && mock.stats().inFlight === 0, 2000, 'settled');
      const s = mock.stats();
      assert.equal(s.resets, 1);
      assert.equal(s.aborted, 0, 'a reset is not also counted as aborted');
      assert.equal(s.requests, s.resets + s.aborted + s.completed + s.inFlight);
    }));

  test('ttftMs: headers and the role chunk come at once, content after the delay; stallAfterChunks still applies', () =>
    withMock({ kind: 'openai' }, async (mock) => {
      mock.setFaults({ ttftMs: 200, stallAfterChunks: 3 });
      const ac = new AbortController();
      const r = await fetch(`${mock.baseUrl}/chat/completions`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'a b c d' }] }),
        signal: ac.signal,
      });
      assert.equal(r.status, 200);
      const reader = r.body!.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      const events: { data: string; at: number }[] = [];
      while (events.length < 3) {
        const { value, done } = await reader.read();
        assert.ok(!done, 'the stream stalls rather than closing');
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          events.push({ data: buf.slice(6, i), at: Date.now() });
          buf = buf.slice(i + 2);
        }
      }
      const deltas = events.map((e) => (JSON.parse(e.data) as { choices: { delta: Record<string, unknown> }[] }).choices[0].delta);
      assert.equal(deltas[0].role, 'assistant');
      assert.equal(deltas[1].content, 'Echo ');
      assert.ok(events[1].at - events[0].at >= 190, `content came ${events[1].at - events[0].at}ms after the role chunk`);
      ac.abort();
      await reader.cancel().catch(() => undefined);
      await waitFor(() => mock.stats().aborted === 1, 2000, 'aborted');
    }));
});
