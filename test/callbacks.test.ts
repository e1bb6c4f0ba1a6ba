/** Result callbacks: signed, retried with backoff until delivered or the limit, status in the job record. */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chat, startTestStack, type TestStack } from './support/stack';

const SECRET = 'test-callback-secret';
const MAX_ATTEMPTS = 4;

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

let s: TestStack;
let receiver: http.Server;
let receiverUrl: string;
let received: Received[] = [];
/** Status the receiver answers for the n-th request (0-based). */
let answer: (n: number) => number = () => 200;

before(async () => {
  process.env.STORMPROOF_CALLBACK_SECRET = SECRET;
  // The receiver listens on loopback: allowed here explicitly (by default a callback may reach public addresses only).
  s = await startTestStack({
    edit: (raw) =>
      (raw.callbacks = {
        maxAttempts: MAX_ATTEMPTS,
        initialIntervalMs: 100,
        maxIntervalMs: 200,
        timeoutMs: 2_000,
        allowedCidrs: ['127.0.0.1/32'],
        allowHttp: true,
      }),
  });
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = answer(received.length - 1);
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
after(async () => {
  await s?.close();
  receiver?.closeAllConnections();
  await new Promise((r) => receiver?.close(r));
});
afterEach(() => {
  received = [];
  answer = () => 200;
  for (const m of Object.values(s.mocks)) m.clearFaults();
});

/** What a receiver does: check the MAC over "<t>.<body>" and the timestamp's age. */
function verify(header: string | undefined, body: string, secret: string, maxAgeS = 300): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return false;
  if (Math.abs(Date.now() / 1000 - Number(m[1])) > maxAgeS) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2], 'hex'));
}

async function submit(request: unknown): Promise<string> {
  const res = await s.api('/v1/jobs', { method: 'POST', json: { request, callbackUrl: receiverUrl } });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id;
}

async function waitForCallback(id: string, status: string): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const job = (await s.api(`/v1/jobs/${id}`)).body;
    if (job.callback?.status === status) return job;
    if (Date.now() > deadline) throw new Error(`callback of ${id} not ${status}: ${JSON.stringify(job.callback)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a receiver failing twice, then recovering: delivered on the 3rd try, signed, status in the job record', async () => {
  answer = (n) => (n < 2 ? 500 : 200);
  const id = await submit(chat('gpt-4o', 'call me back'));
  const job = await waitForCallback(id, 'delivered');
  assert.equal(job.status, 'completed');
  assert.equal(job.callback.attempts, 3);
  assert.ok(!Number.isNaN(Date.parse(job.callback.deliveredAt)));
  assert.equal(received.length, 3);
  for (const r of received) {
    assert.ok(verify(r.headers['x-stormproof-signature'] as string, r.body, SECRET), 'the signature verifies');
    assert.ok(!verify(r.headers['x-stormproof-signature'] as string, r.body, 'wrong-secret'), 'and only with the secret');
    assert.ok(
      !verify(r.headers['x-stormproof-signature'] as string, r.body.replace('call me back', 'call me later'), SECRET),
      'a tampered body fails',
    );
    assert.equal(r.headers['x-stormproof-job-id'], id);
  }
  const payload = JSON.parse(received[2].body);
  assert.equal(payload.id, id);
  assert.equal(payload.status, 'completed');
  assert.equal(payload.result.message.content, 'Echo from gpt-4o: call me back');
});

test('a receiver that never recovers: the job is completed at once, delivery fails after the limit', async () => {
  answer = () => 503;
  const id = await submit(chat('gpt-4o', 'nobody home'));
  const done = await s.waitForJob(id);
  assert.equal(done.status, 'completed', 'the job does not wait for its callback');
  const job = await waitForCallback(id, 'failed');
  assert.equal(job.callback.attempts, MAX_ATTEMPTS);
  assert.equal(
    job.callback.lastError,
    'the callback receiver did not accept the delivery',
    'the same words whatever failed: no status or address oracle',
  );
  assert.equal(received.length, MAX_ATTEMPTS, 'tried exactly maxAttempts times');
});

test('a failed job is reported too, with its error and trace', async () => {
  s.mocks['openai-us-east-1'].setFaults({ down: true });
  const id = await submit(chat('gpt-4o', 'doomed', { routing: { pinModel: true } }));
  await waitForCallback(id, 'delivered');
  const payload = JSON.parse(received[0].body);
  assert.equal(payload.status, 'failed');
  assert.equal(payload.error.type, 'AllTargetsFailed');
  assert.deepEqual(
    payload.attempts.map((a: any) => a.outcome),
    ['ProviderUnavailable'],
  );
  const job = (await s.api(`/v1/jobs/${id}`)).body;
  assert.equal(job.status, 'failed');
});
