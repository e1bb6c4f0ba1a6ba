/**
 * Request forgery through callbackUrl: a corpus of more than 50 URLs that name loopback, private,
 * link-local (cloud metadata), reserved and translated addresses in every spelling, local names,
 * credentials, other schemes, redirects and DNS rebinding. Every one is refused, at submission
 * or at delivery, and a listener on this machine's loopback (v4 and v6) sees zero connections.
 * A failed delivery's error reads the same whatever went wrong (no port or status oracle).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { createCallbackActivities, DELIVERY_FAILED } from '../activities/callback';
import { checkUrl, OutboundRefused } from '../activities/outbound-guard';
import type { CallbackDelivery, CallbackReceipt } from '../contracts/callbacks';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../config/load';
import { chat, startTestStack, type TestStack } from './support/stack';

/** Counts every TCP connection it is offered. */
async function listener(host: string, handler: http.RequestListener = (_q, r) => r.end('ok')) {
  const server = http.createServer(handler);
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}

let forbidden: Awaited<ReturnType<typeof listener>>;
let allowed: Awaited<ReturnType<typeof listener>>;
let P: number;

before(async () => {
  process.env.STORMPROOF_CALLBACK_SECRET ??= 'ssrf-test-secret';
  // '::' takes IPv4 and IPv6 loopback connections alike (dual stack).
  forbidden = await listener('::');
  P = forbidden.port;
  allowed = await listener('127.0.0.2', (req, res) => {
    if (req.url?.startsWith('/redirect')) {
      res.statusCode = req.url.includes('307') ? 307 : 302;
      res.setHeader('location', req.url.includes('307') ? `http://localhost:${P}/` : `http://127.0.0.1:${P}/`);
    }
    res.end();
  });
});
after(async () => {
  await forbidden?.close();
  await allowed?.close();
});

/** URLs refused by their shape alone (at submission: no DNS, no connection). */
const STATIC = (): string[] => [
  `http://127.0.0.1:${P}/`,
  `http://127.1:${P}/`,
  `http://127.0.1:${P}/`,
  `http://2130706433:${P}/`,
  `http://0x7f000001:${P}/`,
  `http://0x7f.0.0.1:${P}/`,
  `http://0177.0.0.1:${P}/`,
  `http://017700000001:${P}/`,
  `http://127.255.255.254:${P}/`,
  `http://0.0.0.0:${P}/`,
  `http://0:${P}/`,
  `http://[::1]:${P}/`,
  `http://[::ffff:127.0.0.1]:${P}/`,
  `http://[::ffff:7f00:1]:${P}/`,
  `http://[0:0:0:0:0:ffff:127.0.0.1]:${P}/`,
  `http://[::]:${P}/`,
  `http://[::127.0.0.1]:${P}/`,
  `http://localhost:${P}/`,
  `http://LOCALHOST:${P}/`,
  `http://localhost.:${P}/`,
  `http://app.localhost:${P}/`,
  'http://10.0.0.1/',
  'http://10.255.255.255/',
  'http://172.16.0.1/',
  'http://172.31.255.255/',
  'http://192.168.0.1/',
  'http://192.168.255.255/',
  'http://100.64.0.1/',
  'http://100.100.100.200/latest/meta-data/',
  'http://169.254.169.254/latest/meta-data/',
  'http://169.254.170.2/v2/credentials',
  'http://[fd00:ec2::254]/latest/meta-data/',
  'http://[fc00::1]/',
  'http://[fe80::1]/',
  'http://metadata.google.internal/computeMetadata/v1/',
  'http://metadata/',
  'http://instance-data/latest/',
  'http://198.18.0.1/',
  'http://224.0.0.1/',
  'http://255.255.255.255/',
  'http://192.0.2.1/',
  'http://[64:ff9b::7f00:1]/',
  'http://[2002:7f00:1::]/',
  'http://[2001::1]/',
  'http://[ff02::1]/',
  'http://user:pass@example.com/',
  `http://user@127.0.0.1:${P}/`,
  `http://example.com@127.0.0.1:${P}/`,
  `https://example.com/${'a'.repeat(3000)}`,
  'ftp://example.com/',
  'file:///etc/passwd',
  `gopher://127.0.0.1:${P}/`,
  `http://127.0.0.1:${P}#@example.com/`,
  'http://temporal-frontend.internal:7243/api/v1/namespaces',
];

/** Names that pass the shape check; the resolver below answers what an attacker's DNS would. */
const DNS: Record<string, string[]> = {
  'evil.example.com': ['127.0.0.1'],
  'v6.example.com': ['::1'],
  'mapped.example.com': ['::ffff:127.0.0.1'],
  'meta.example.com': ['169.254.169.254'],
  'private.example.com': ['10.1.2.3'],
  'mixed.example.com': ['127.0.0.2', '127.0.0.1'],
  'cgnat.example.com': ['100.64.1.1'],
};
const RESOLVED = (): string[] => [
  ...Object.keys(DNS).map((h) => `http://${h}:${P}/hook`),
  `http://example.com\\@127.0.0.1:${P}/`, // a backslash is a path separator: the host is example.com
];

const policy = { allowedCidrs: ['127.0.0.2/32'], allowHttp: true, maxUrlLength: 2048 };

/** The default config with this suite's callback policy (no gateway: the activity alone). */
const config = parseConfig({ ...parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8')), callbacks: { ...policy, timeoutMs: 2_000 } }, 'ssrf');

async function deliver(url: string, lookup: (h: string) => Promise<LookupAddress[]>): Promise<CallbackReceipt> {
  const { deliverCallback } = createCallbackActivities({ config, lookup });
  const env = new MockActivityEnvironment({ attempt: 1 });
  const delivery: CallbackDelivery = {
    url,
    jobId: 'job-ssrf',
    payload: { id: 'job-ssrf', status: 'completed', attempts: [], degradations: [] },
  };
  return env.run(deliverCallback, delivery);
}

const fakeDns = async (host: string): Promise<LookupAddress[]> =>
  (DNS[host] ?? ['127.0.0.1']).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('SSRF corpus', () => {
  test('the corpus has at least 50 URLs', () => {
    assert.ok(STATIC().length + RESOLVED().length + 3 >= 50, `${STATIC().length + RESOLVED().length + 3} URLs`);
  });

  test('every URL of the static corpus is refused by its shape, before any lookup', () => {
    for (const url of STATIC())
      assert.throws(
        () => checkUrl(url, policy),
        (e: unknown) => e instanceof OutboundRefused || e instanceof TypeError,
        url,
      );
    assert.throws(() => checkUrl('http://example.com/', { ...policy, allowHttp: false }), OutboundRefused, 'plain http only when allowed');
    assert.doesNotThrow(() => checkUrl('https://hooks.example.com/x?y=1', policy));
  });

  test('delivery refuses every URL of both corpora at once (non-retryable, the same words), with zero connections', async () => {
    const before = forbidden.connections();
    for (const url of [...STATIC(), ...RESOLVED()]) {
      await assert.rejects(deliver(url, fakeDns), (err: unknown) => {
        assert.ok(err instanceof ApplicationFailure, url);
        assert.equal(err.message, DELIVERY_FAILED, url);
        assert.equal(err.nonRetryable, true, `${url}: a refused address is not retried`);
        return true;
      });
    }
    assert.equal(forbidden.connections() - before, 0, 'the loopback listener saw no connection');
  });

  test('redirects are not followed: a receiver answering 302/307 to loopback fails the delivery, the listener sees nothing', async () => {
    const before = forbidden.connections();
    for (const path of ['/redirect-302', '/redirect-307']) {
      await assert.rejects(
        deliver(`http://127.0.0.2:${allowed.port}${path}`, fakeDns),
        (err: unknown) => err instanceof ApplicationFailure && err.message === DELIVERY_FAILED && !err.nonRetryable,
      );
    }
    assert.equal(forbidden.connections() - before, 0);
  });

  test('DNS rebinding: the name is resolved once and the checked address is the one connected to', async () => {
    let lookups = 0;
    const rebinding = async (): Promise<LookupAddress[]> => [{ address: lookups++ === 0 ? '127.0.0.2' : '127.0.0.1', family: 4 }];
    const before = { forbidden: forbidden.connections(), allowed: allowed.connections() };
    const receipt = await deliver(`http://rebind.example.com:${allowed.port}/hook`, rebinding);
    assert.equal(receipt.status, 200);
    assert.equal(lookups, 1, 'one resolution per delivery');
    assert.equal(allowed.connections() - before.allowed, 1);
    assert.equal(forbidden.connections() - before.forbidden, 0);
  });

  test('the error is the same for a refused address, a closed port and an HTTP error (no oracle)', async () => {
    const closed = await listener('127.0.0.2');
    const closedPort = closed.port;
    await closed.close();
    const messages = new Set<string>();
    for (const url of [`http://127.0.0.1:${P}/`, `http://127.0.0.2:${closedPort}/`, `http://127.0.0.2:${allowed.port}/redirect-302`]) {
      await deliver(url, fakeDns).catch((err: Error) => messages.add(err.message));
    }
    assert.deepEqual([...messages], [DELIVERY_FAILED]);
  });
});

describe('through the API and the worker', () => {
  let s: TestStack;
  before(async () => {
    s = await startTestStack({
      edit: (raw) => (raw.callbacks = { ...policy, maxAttempts: 2, initialIntervalMs: 50, maxIntervalMs: 100, timeoutMs: 2_000 }),
    });
  });
  after(async () => {
    await s?.close();
  });

  test('a job with a refused callbackUrl is a 400 with a stable code, and nothing starts', async () => {
    for (const url of [
      `http://127.0.0.1:${P}/`,
      'http://169.254.169.254/latest/meta-data/',
      `http://[::ffff:7f00:1]:${P}/`,
      'http://user:pw@example.com/',
      'http://metadata.google.internal/',
    ]) {
      const res = await s.api('/v1/jobs', { method: 'POST', json: { request: chat('gpt-4o', 'x'), callbackUrl: url } });
      assert.equal(res.status, 400, url);
      assert.equal(res.body.error.code, 'STORMPROOF_ERR_CALLBACK_URL_REFUSED', url);
    }
  });

  test('a redirecting receiver: the job completes, the delivery fails with the uniform error, the listener sees nothing', async () => {
    const before = forbidden.connections();
    const res = await s.api('/v1/jobs', {
      method: 'POST',
      json: { request: chat('gpt-4o', 'redirect me'), callbackUrl: `http://127.0.0.2:${allowed.port}/redirect-302` },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const deadline = Date.now() + 30_000;
    let job;
    do {
      await new Promise((r) => setTimeout(r, 200));
      job = (await s.api(`/v1/jobs/${res.body.id}`)).body;
    } while (job.callback?.status !== 'failed' && Date.now() < deadline);
    assert.equal(job.status, 'completed');
    assert.equal(job.callback.status, 'failed');
    assert.equal(job.callback.lastError, DELIVERY_FAILED);
    assert.ok(!JSON.stringify(job.callback).includes(String(allowed.port)), 'no address in the job view');
    assert.equal(forbidden.connections() - before, 0);
  });
});
