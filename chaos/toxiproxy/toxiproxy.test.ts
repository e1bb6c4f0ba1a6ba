/**
 * Runs the typed client against a REAL toxiproxy server (installed by ensureToxiproxy) in front of a tiny HTTP upstream.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { ToxiproxyError, toxics } from './client';
import { proxiedBaseUrl } from './proxy-url';
import { startToxiproxy, type RunningToxiproxy } from './server';

const BIG = 'x'.repeat(64 * 1024);

describe('toxiproxy (real server)', () => {
  let tp: RunningToxiproxy;
  let upstream: http.Server;
  let base: string;
  const name = 'upstream_http';

  before(async () => {
    // Connection: close, so every request opens a fresh connection through the proxy (no keep-alive reuse).
    upstream = http.createServer((req, res) => {
      const body = req.url === '/big' ? BIG : 'hello';
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upPort = (upstream.address() as AddressInfo).port;
    tp = await startToxiproxy();
    const proxy = await tp.client.createProxy({ name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${upPort}` });
    const listenPort = Number(proxy.listen.split(':').pop());
    assert.ok(listenPort > 0, `proxy listens on a real port: ${proxy.listen}`);
    base = `http://127.0.0.1:${listenPort}`;
  });

  afterEach(async () => {
    await tp.client.reset();
  });

  after(async () => {
    await tp?.stop();
    await new Promise<void>((r) => upstream?.close(() => r()));
  });

  it('passes a request through untouched', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello');
    assert.match(await tp.client.version(), /2\.12\.0|git/);
  });

  it('latency toxic delays the answer by at least its latency', async () => {
    const t = await tp.client.addToxic(name, toxics.latency(300));
    assert.equal(t.name, 'latency_downstream');
    assert.equal(t.attributes.latency, 300);
    const started = performance.now();
    const res = await fetch(`${base}/`);
    assert.equal(await res.text(), 'hello');
    assert.ok(performance.now() - started >= 300, `took ${performance.now() - started} ms`);
    await tp.client.removeToxic(name, t.name);
    assert.deepEqual((await tp.client.getProxy(name)).toxics, []);
  });

  it('a disabled proxy refuses connections, and comes back when enabled', async () => {
    const p = await tp.client.setEnabled(name, false);
    assert.equal(p.enabled, false);
    await assert.rejects(fetch(`${base}/`), (err: Error & { cause?: { code?: string } }) => {
      assert.ok(['ECONNREFUSED', 'ECONNRESET'].includes(err.cause?.code ?? ''), `cause: ${String(err.cause?.code)}`);
      return true;
    });
    await tp.client.setEnabled(name, true);
    assert.equal(await (await fetch(`${base}/`)).text(), 'hello');
  });

  it('timeout 0 is a black hole: no answer within 500 ms', async () => {
    // Upstream stream: the request never reaches the server. (On downstream, the server's close would still get through.)
    await tp.client.addToxic(name, toxics.timeout(0, { stream: 'upstream' }));
    await assert.rejects(fetch(`${base}/`, { signal: AbortSignal.timeout(500) }), { name: 'TimeoutError' });
  });

  it('reset_peer makes the request fail', async () => {
    await tp.client.addToxic(name, toxics.resetPeer(0));
    await assert.rejects(async () => {
      const res = await fetch(`${base}/`);
      await res.text();
    });
  });

  it('limit_data cuts the body short', async () => {
    const whole = await (await fetch(`${base}/big`)).text();
    assert.equal(whole.length, BIG.length);
    await tp.client.addToxic(name, toxics.limitData(1024));
    await assert.rejects(async () => {
      const res = await fetch(`${base}/big`);
      await res.text();
    });
  });

  it('reset() re-enables every proxy and removes every toxic', async () => {
    await tp.client.addToxic(name, toxics.timeout(0));
    await tp.client.addToxic(name, toxics.bandwidth(1, { stream: 'upstream' }));
    await tp.client.setEnabled(name, false);
    await tp.client.reset();
    const proxies = await tp.client.listProxies();
    assert.equal(proxies[name]?.enabled, true);
    assert.deepEqual(proxies[name]?.toxics, []);
    assert.equal(await (await fetch(`${base}/`)).text(), 'hello');
  });

  it('API errors carry the status and message', async () => {
    await assert.rejects(tp.client.createProxy({ name, listen: '127.0.0.1:0', upstream: '127.0.0.1:1' }), (err: unknown) => {
      assert.ok(err instanceof ToxiproxyError);
      assert.equal(err.status, 409);
      assert.match(err.message, /already exists/);
      return true;
    });
    await assert.rejects(tp.client.removeToxic(name, 'nope'), { status: 404 });
  });

  it('can delete a proxy', async () => {
    const p = await tp.client.createProxy({ name: 'scratch', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enabled: false });
    assert.equal(p.enabled, false);
    await tp.client.deleteProxy('scratch');
    assert.deepEqual(Object.keys(await tp.client.listProxies()), [name]);
  });
});

describe('proxiedBaseUrl', () => {
  it('maps an http target to its upstream and a local baseUrl with the same path', () => {
    assert.deepEqual(proxiedBaseUrl('http://127.0.0.1:18081/v1', 29000), {
      upstream: '127.0.0.1:18081',
      baseUrl: 'http://127.0.0.1:29000/v1',
      tls: false,
    });
    assert.equal(proxiedBaseUrl('http://example.com/api', 1).upstream, 'example.com:80');
  });

  it('flags https targets and defaults them to port 443', () => {
    assert.deepEqual(proxiedBaseUrl('https://api.openai.com/v1', 29001), {
      upstream: 'api.openai.com:443',
      baseUrl: 'https://127.0.0.1:29001/v1',
      tls: true,
    });
  });

  it('rejects other schemes', () => {
    assert.throws(() => proxiedBaseUrl('ftp://x/v1', 1), /unsupported scheme/);
  });
});
