/**
 * Limits where input can grow, each refusal a 4xx with a stable code (never a 5xx, never a frozen
 * process): JSON depth, out-of-range times, page tokens, RAG query size and terms, batch cost and
 * size, per-key jobs, batches and event streams, stream lifetime, unsatisfiable requests; Temporal
 * unreachable is a fast 503 with Retry-After; an open API answers only to local Host names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { chat, mockedConfig, startTestStack, type TestStack } from './support/stack';
import { readSse } from './support/sse';
import { startDevServer } from './support/temporal';
import { parseConfig } from '../config/load';
import { startGateway } from '../scripts/gateway';

const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const KEYS = {
  alice: 'alice-key-0123456789abcdef',
  tiny: 'tiny-key-0123456789abcdef',
  pager: 'pager-key-0123456789abcdef',
  flight: 'flight-key-0123456789abcdef',
  ops: 'ops-key-0123456789abcdef',
};
const as = (k: keyof typeof KEYS) => ({ authorization: `Bearer ${KEYS[k]}` });
const deep = (d: number) => JSON.parse('{"a":'.repeat(d) + '1' + '}'.repeat(d)) as unknown;

let s: TestStack;
before(async () => {
  s = await startTestStack({
    edit: (raw) => {
      raw.auth = {
        keys: [
          { id: 'alice', sha256: sha(KEYS.alice) },
          { id: 'tiny', sha256: sha(KEYS.tiny), rateLimitPerMinute: 10 },
          { id: 'pager', sha256: sha(KEYS.pager) },
          { id: 'flight', sha256: sha(KEYS.flight) },
          { id: 'ops', sha256: sha(KEYS.ops), admin: true },
        ],
      };
      raw.limits = { eventStreamsPerKey: 1, eventStreamMaxMs: 1_500, batchesInFlightPerKey: 1, jobsInFlightPerKey: 3 };
    },
  });
});
after(async () => {
  await s?.close();
});

/** Polls a job (with a key) until it leaves queued/running. */
async function finished(id: string, key: keyof typeof KEYS): Promise<any> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { body } = await s.api(`/v1/jobs/${id}`, { headers: as(key) });
    if (body.status !== 'queued' && body.status !== 'running') return body;
    assert.ok(Date.now() < deadline, `job ${id} still ${body.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function count(owner: string): Promise<number> {
  return (
    await s.gateway.client.workflow.count(
      `StormproofOwner = "${owner}" AND ExecutionStatus = "Running" AND TaskQueue = "${s.gateway.taskQueue}"`,
    )
  ).count;
}

describe('input that could crash or freeze the gateway is a 4xx', () => {
  test('JSON nested 2,500 deep (in a tool schema) is a 400 on every body route, before anything reads it', async () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: deep(2_500) } }];
    const cases: Array<[string, unknown]> = [
      ['/v1/jobs', { request: chat('gpt-4o', 'x', { tools }) }],
      ['/v1/batches', { requests: [chat('gpt-4o', 'x', { tools })] }],
      ['/v1/chat/completions', chat('gpt-4o', 'x', { tools })],
      ['/v1/collections/c/query', { query: 'x', extra: deep(100) }],
    ];
    for (const [path, body] of cases) {
      const res = await s.api(path, { method: 'POST', json: body, headers: as('alice') });
      assert.equal(res.status, 400, path);
      assert.equal(res.body.error.code, 'STORMPROOF_ERR_JSON_TOO_DEEP', path);
    }
  });

  test('times past what a date can hold are 400s, not 500s', async () => {
    for (const q of ['since=8700000000000000', 'until=9007199254740991', 'since=99999999999999999999', 'since=-1']) {
      const res = await s.api(`/v1/jobs?${q}`, { headers: as('alice') });
      assert.equal(res.status, 400, q);
      assert.equal(res.body.error.code, 'STORMPROOF_ERR_INVALID_REQUEST', q);
    }
  });

  test("pages follow Temporal's own token: no row twice or missed; a made-up token is a 400", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push((await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', `page ${i}`) }, headers: as('pager') })).body.id);
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 5; page++) {
      const res = await s.api(`/v1/jobs?limit=2${token ? `&pageToken=${token}` : ''}`, { headers: as('pager') });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      seen.push(...res.body.data.map((j: { id: string }) => j.id));
      token = res.body.nextPageToken;
      if (!token) break;
    }
    assert.deepEqual([...seen].sort(), [...ids].sort());
    const other = await s.api(`/v1/jobs?limit=1`, { headers: as('pager') });
    const t: string = other.body.nextPageToken;
    const forged = `${t.slice(0, 10)}${t[10] === 'A' ? 'B' : 'A'}${t.slice(11)}`;
    for (const bad of ['1000000000', 'AAAAAAAA', forged]) {
      const res = await s.api(`/v1/jobs?pageToken=${bad}`, { headers: as('pager') });
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.error.code, 'STORMPROOF_ERR_INVALID_PAGE_TOKEN');
    }
    assert.equal((await s.api('/v1/jobs?pageToken=%25%25', { headers: as('pager') })).status, 400);
    const filtered = await s.api(`/v1/jobs?limit=1&pageToken=${other.body.nextPageToken}&status=completed`, { headers: as('pager') });
    assert.equal(filtered.status, 400, 'a token belongs to the filters it was issued for');
    assert.equal(
      (await s.api(`/v1/jobs?limit=1&pageToken=${other.body.nextPageToken}`, { headers: as('alice') })).status,
      400,
      "and to its caller's listing",
    );
  });

  test('a RAG query of 100,000 distinct words is a 400; 30,000 as the last message are answered (the keyword search takes the last 32)', async () => {
    const words = Array.from({ length: 100_000 }, (_, i) => `w${i.toString(36)}`).join(' ');
    const ingest = await s.api('/v1/collections/big/documents', {
      method: 'POST',
      json: { documents: [{ id: 'd', source: 'd.md', text: 'w1 w2 w3 some words' }] },
      headers: as('alice'),
    });
    assert.equal(ingest.status, 200, JSON.stringify(ingest.body));
    const q = await s.api('/v1/collections/big/query', { method: 'POST', json: { query: words }, headers: as('alice') });
    assert.equal(q.status, 400);
    assert.equal(q.body.error.code, 'STORMPROOF_ERR_LIMIT_EXCEEDED');
    const explicit = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('llama-3.1-8b', 'x', { rag: { collection: 'big', query: words } }) },
      headers: as('alice'),
    });
    assert.equal(explicit.status, 400);
    assert.equal(explicit.body.error.code, 'STORMPROOF_ERR_LIMIT_EXCEEDED');
    // Embeddings down: the keyword index answers, with the whole message as its query (the
    // unit tests of ftsQuery prove the cap; unbounded, 40k words blocked the process for 2.6 s).
    s.mocks['openai-us-east-1'].setFaults({ down: true });
    try {
      const message = `${words.split(' ').slice(0, 30_000).join(' ')} w1 w2`;
      const res = await s.api('/v1/jobs', {
        method: 'POST',
        json: { request: chat('llama-3.1-8b', message, { rag: { collection: 'big' } }) },
        headers: as('alice'),
      });
      assert.equal(res.status, 202, JSON.stringify(res.body).slice(0, 300));
      const job = await finished(res.body.id, 'alice');
      assert.equal(job.status, 'completed', JSON.stringify(job).slice(0, 300));
      assert.deepEqual(
        job.degradations.map((d: { kind: string; to: string }) => [d.kind, d.to]),
        [['data', 'keyword']],
      );
      assert.deepEqual(job.result.sources, ['d.md'], 'the words at the end of the message found the document');
    } finally {
      s.resetFaults();
    }
  });

  test('an answer budget above every context window is a 422 (permanent), not a 503 clients retry', async () => {
    const job = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('gpt-4o', 'x', { max_tokens: 300_000 }) },
      headers: as('alice'),
    });
    assert.equal(job.status, 422);
    assert.equal(job.body.error.code, 'STORMPROOF_ERR_UNSATISFIABLE');
    const pinned = await s.api('/v1/chat/completions', {
      method: 'POST',
      json: chat('gpt-4o', 'x', { max_tokens: 150_000, routing: { pinModel: true } }),
      headers: as('alice'),
    });
    assert.equal(pinned.status, 422);
    assert.equal(pinned.body.error.code, 'STORMPROOF_ERR_UNSATISFIABLE', 'OpenAI error shape, Stormproof code');
    assert.equal(
      (await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'x', { max_tokens: 150_000 }) }, headers: as('alice') }))
        .status,
      202,
      'a larger window of the tier can serve it',
    );
  });
});

describe('what one key can ask of the gateway is bounded', () => {
  test('a max_tokens reservation is given back once the answer says what it used', async () => {
    const quota = s.gateway.routing.quota;
    const before = quota.left('openai-us-east-1').tokens!;
    const res = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('gpt-4o', 'a short answer, please', { max_tokens: 100_000, routing: { pinModel: true } }) },
      headers: as('alice'),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const job = await finished(res.body.id, 'alice');
    assert.equal(job.status, 'completed');
    const used = job.result.usage.total_tokens;
    const after = quota.left('openai-us-east-1').tokens!;
    // Without the refund the bucket would be 100,000 lower; with it, lower by what was used (it refills meanwhile).
    assert.ok(after >= before - used - 1, `quota ${before} → ${after} after using ${used} tokens`);
  });

  test('a batch costs one request of the rate limit per item', async () => {
    const big = await s.api('/v1/batches', {
      method: 'POST',
      json: { requests: Array.from({ length: 20 }, (_, i) => chat('gpt-4o', `b${i}`)) },
      headers: as('tiny'),
    });
    assert.equal(big.status, 429);
    assert.equal(big.body.error.code, 'STORMPROOF_ERR_RATE_LIMITED');
    assert.ok(Number(big.headers.get('retry-after')) >= 1);
  });

  test('jobs, batches and event streams in flight per key: the next one is a 429; admins are not limited', async () => {
    s.mocks['openai-us-east-1'].setFaults({ latencyMs: 8_000 });
    const started: string[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const r = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', `slow ${i}`) }, headers: as('flight') });
        assert.equal(r.status, 202);
        started.push(r.body.id);
      }
      while ((await count('flight')) < 3) await new Promise((r) => setTimeout(r, 50));
      const fourth = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'one too many') }, headers: as('flight') });
      assert.equal(fourth.status, 429);
      assert.equal(fourth.body.error.code, 'STORMPROOF_ERR_TOO_MANY_IN_FLIGHT');
      assert.equal(
        (await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'operator') }, headers: as('ops') })).status,
        202,
      );

      // One event stream per key here: a second one is refused while the first is open; the
      // first is ended by its lifetime (1.5 s) although the job still runs.
      const first = readSse(`${s.gateway.apiUrl}/v1/jobs/${started[0]}/events`, { headers: as('flight'), timeoutMs: 20_000 });
      await new Promise((r) => setTimeout(r, 300));
      const second = await s.api(`/v1/jobs/${started[1]}/events`, { headers: as('flight') });
      assert.equal(second.status, 429);
      assert.equal(second.body.error.code, 'STORMPROOF_ERR_TOO_MANY_IN_FLIGHT');
      const ended = await first;
      assert.equal(ended.status, 200);
      assert.ok(
        !ended.events.some((e) => e.event === 'completed' || e.event === 'failed'),
        'the stream ended by its lifetime, not with the job',
      );
      const again = await readSse(`${s.gateway.apiUrl}/v1/jobs/${started[1]}/events`, { headers: as('flight'), stop: () => true });
      assert.equal(again.status, 200, 'a closed stream frees its slot');

      const b1 = await s.api('/v1/batches', { method: 'POST', json: { requests: [chat('gpt-4o', 'batch one')] }, headers: as('tiny') });
      assert.equal(b1.status, 202);
      while (
        (
          await s.gateway.client.workflow.count(
            `StormproofOwner = "tiny" AND WorkflowType = "batchWorkflow" AND ExecutionStatus = "Running"`,
          )
        ).count < 1
      )
        await new Promise((r) => setTimeout(r, 50));
      const b2 = await s.api('/v1/batches', { method: 'POST', json: { requests: [chat('gpt-4o', 'batch two')] }, headers: as('tiny') });
      assert.equal(b2.status, 429);
      assert.equal(b2.body.error.code, 'STORMPROOF_ERR_TOO_MANY_IN_FLIGHT');
      await s.api(`/v1/batches/${b1.body.id}`, { method: 'DELETE', headers: as('tiny') });
    } finally {
      for (const id of started) await s.api(`/v1/jobs/${id}`, { method: 'DELETE', headers: as('flight') });
      s.resetFaults();
    }
  });
});

/** A raw request with a Host header of our choosing (fetch does not let one set it). */
function withHost(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('an open API (no keys) and Temporal going away', () => {
  test('open mode answers only to local Host names (DNS rebinding); Temporal down is a fast 503 with Retry-After', async () => {
    const temporal = await startDevServer();
    const { raw, mocks } = await mockedConfig(
      temporal.address,
      (r) => (r.limits = { temporal: { callTimeoutMs: 1_000, retries: 0, breakerFailures: 2, breakerOpenMs: 3_000 } }),
    );
    const gw = await startGateway({ config: parseConfig(raw, 'test'), apiPort: 0 });
    const port = new URL(gw.apiUrl).port;
    let restarted: Awaited<ReturnType<typeof startDevServer>> | undefined;
    try {
      for (const host of ['evil.example', `attacker.example:${port}`, '127.0.0.1.evil.example']) {
        const r = await withHost(`${gw.apiUrl}/v1/models`, host);
        assert.equal(r.status, 403, host);
        assert.equal(JSON.parse(r.body).error.code, 'STORMPROOF_ERR_HOST_NOT_ALLOWED');
      }
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, 'LOCALHOST'])
        assert.equal((await withHost(`${gw.apiUrl}/v1/models`, host)).status, 200, host);

      const job = async () =>
        fetch(`${gw.apiUrl}/v1/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ request: chat('gpt-4o', 'x') }),
        });
      assert.equal((await job()).status, 202);
      const addressPort = Number(temporal.address.split(':')[1]);
      await temporal.teardown();
      const answers = [];
      for (let i = 0; i < 4; i++) {
        const r = await job();
        answers.push({
          status: r.status,
          retryAfter: r.headers.get('retry-after'),
          code: ((await r.json()) as { error: { code: string } }).error.code,
        });
      }
      const read = await fetch(`${gw.apiUrl}/v1/jobs/job-anything`);
      answers.push({
        status: read.status,
        retryAfter: read.headers.get('retry-after'),
        code: ((await read.json()) as { error: { code: string } }).error.code,
      });
      for (const a of answers) assert.deepEqual(a, { status: 503, retryAfter: '3', code: 'STORMPROOF_ERR_TEMPORAL_UNAVAILABLE' });
      // Bring a server back on the same address so the worker can shut down cleanly.
      restarted = await startDevServer({ port: addressPort });
    } finally {
      await gw.stop();
      await Promise.all(Object.values(mocks).map((m) => m.close()));
      await restarted?.teardown();
    }
  });
});
