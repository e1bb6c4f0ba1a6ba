/**
 * toxiproxy in front of an HTTPS provider, end to end: a real toxiproxy server, a TLS server with a
 * certificate from a CA made at test time (SNI checked like a CDN does) before a mock provider,
 * a gateway config whose target points at the proxy, and the gateway's own adapter in a separate
 * process trusting that CA through NODE_EXTRA_CA_CERTS, as a worker would be started.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { DEFAULT_CONFIG_PATH } from '../../config/load';
import { startMockProvider, type MockProvider } from '../mock-provider';
import { startRecorder } from '../gameday/recorder';
import { toxics } from './client';
import { startToxiproxy, type RunningToxiproxy } from './server';
import { makeTestCertificates, startTlsFront, type TlsFront } from './tls';

const ROOT = resolve(__dirname, '..', '..');
const HOST = 'localhost';
const TARGET = 'openai-us-east-1';

describe('toxiproxy in front of an HTTPS provider (TLS passes through, SNI and trust end to end)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-tls-'));
  let mock: MockProvider;
  let front: TlsFront;
  let tp: RunningToxiproxy;
  let configPath: string;
  let caFile: string;

  /** One call of the target through the gateway's adapter in a fresh process (async: this process hosts the provider). */
  async function call(
    env: Record<string, string>,
    config = configPath,
  ): Promise<{ ok: boolean; content?: string; type?: string; message?: string }> {
    const { NODE_EXTRA_CA_CERTS: _inherited, ...parentEnv } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'chaos/toxiproxy/call-target.ts'), config, TARGET], {
      cwd: ROOT,
      env: { ...parentEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.ok(out.trim(), `call-target printed nothing (exit ${code}): ${err}`);
    return JSON.parse(out.trim().split('\n').at(-1)!);
  }

  before(async () => {
    const certs = makeTestCertificates(dir, HOST);
    caFile = certs.caFile;
    mock = await startMockProvider({ kind: 'openai', name: 'https-upstream' });
    front = await startTlsFront({ host: HOST, key: certs.key, cert: certs.cert, upstreamPort: Number(new URL(mock.origin).port) });
    tp = await startToxiproxy();
    const proxy = await tp.client.createProxy({ name: TARGET, listen: '127.0.0.1:0', upstream: `127.0.0.1:${front.port}` });
    const proxyPort = Number(proxy.listen.split(':').at(-1));
    // The default config with the target pointed at the proxy, by the name the certificate is for.
    const raw = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
    const t = raw.targets.find((x: { id: string }) => x.id === TARGET);
    t.baseUrl = `https://${HOST}:${proxyPort}/v1`;
    t.mock = false;
    configPath = join(dir, 'config.yaml');
    writeFileSync(configPath, stringify(raw));
  });

  /** A config whose target is plain HTTP at `port` (the game-day stack's shape: TLS starts at the recorder). */
  function httpConfig(port: number): string {
    const raw = parse(readFileSync(configPath, 'utf8'));
    raw.targets.find((x: { id: string }) => x.id === TARGET).baseUrl = `http://127.0.0.1:${port}/v1`;
    const p = join(dir, `config-http-${port}.yaml`);
    writeFileSync(p, stringify(raw));
    return p;
  }

  afterEach(async () => {
    await tp.client.reset();
  });

  after(async () => {
    await tp?.stop();
    await front?.close();
    await mock?.close();
  });

  it('answers through the proxy over TLS when the adapter trusts the test CA; the provider saw the right SNI', async () => {
    const before = mock.stats().completed;
    const r = await call({ NODE_EXTRA_CA_CERTS: caFile });
    assert.deepEqual(r, { ok: true, target: TARGET, model: 'gpt-4o', content: 'Echo from gpt-4o: ping' });
    assert.equal(mock.stats().completed, before + 1, 'the call reached the provider behind TLS');
    assert.equal(front.serverNames.at(-1), HOST, 'toxiproxy passed the client hello (SNI) through untouched');
    assert.match(
      front.hostHeaders.at(-1) ?? '',
      /^localhost:\d+$/,
      'the Host the client sent (the proxy port: keep the real port in passthrough)',
    );
  });

  it('without the CA the adapter refuses the certificate: trust comes from the CA, not from the proxy', async (t) => {
    const handshakes = front.handshakes;
    const r = await call({});
    t.diagnostic(r.message ?? '');
    assert.equal(r.ok, false);
    assert.match(r.message ?? '', /SELF_SIGNED|self[- ]signed|UNABLE_TO_VERIFY|unable to verify|certificate/i);
    assert.equal(front.handshakes, handshakes, 'no TLS session was established');
  });

  it('toxics act on the TLS stream: a reset peer fails the call, a disabled proxy refuses it', async (t) => {
    const completed = mock.stats().completed;
    await tp.client.addToxic(TARGET, toxics.resetPeer(0));
    const reset = await call({ NODE_EXTRA_CA_CERTS: caFile });
    t.diagnostic(reset.message ?? '');
    assert.equal(reset.ok, false);
    assert.equal(reset.type, 'ProviderUnavailable', reset.message);
    await tp.client.reset();
    await tp.client.setEnabled(TARGET, false);
    const down = await call({ NODE_EXTRA_CA_CERTS: caFile });
    assert.deepEqual([down.ok, down.type], [false, 'ProviderUnavailable']);
    assert.match(down.message ?? '', /ECONNREFUSED|ECONNRESET|Connection error/);
    assert.equal(mock.stats().completed, completed, 'no call got through');
  });

  it('the game-day recorder speaks TLS to a real upstream (SNI, Host, verified against the CA) behind toxiproxy', async () => {
    // gateway --http--> toxiproxy --> recorder --https--> provider: what `npm run gameday -- --config` builds for a real target.
    const recorder = await startRecorder(TARGET, `https://${HOST}:${front.port}`, () => 0, { ca: readFileSync(caFile, 'utf8') });
    const untrusting = await startRecorder(TARGET, `https://${HOST}:${front.port}`, () => 0);
    try {
      const proxy = await tp.client.createProxy({ name: 'recorded', listen: '127.0.0.1:0', upstream: `127.0.0.1:${recorder.port}` });
      const r = await call({}, httpConfig(Number(proxy.listen.split(':').at(-1))));
      assert.deepEqual(r, { ok: true, target: TARGET, model: 'gpt-4o', content: 'Echo from gpt-4o: ping' });
      assert.deepEqual(
        recorder.calls.map((c) => [c.route, c.status, c.completed]),
        [['POST /v1/chat/completions', 200, true]],
      );
      assert.equal(front.serverNames.at(-1), HOST);
      assert.equal(front.hostHeaders.at(-1), `${HOST}:${front.port}`, "the upstream's own Host, not the proxy's");
      await tp.client.deleteProxy('recorded');
      // A recorder that does not trust the CA refuses the upstream: the call fails, nothing is answered.
      const bad = await tp.client.createProxy({ name: 'untrusting', listen: '127.0.0.1:0', upstream: `127.0.0.1:${untrusting.port}` });
      const refused = await call({}, httpConfig(Number(bad.listen.split(':').at(-1))));
      assert.equal(refused.ok, false);
      assert.deepEqual(
        untrusting.calls.map((c) => [c.status, c.completed]),
        [[undefined, false]],
      );
      await tp.client.deleteProxy('untrusting');
    } finally {
      await recorder.close();
      await untrusting.close();
    }
  });
});
