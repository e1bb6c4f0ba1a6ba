/** Relay settings: how an API names itself to workers, and the start-up checks of each role. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { parseConfig } from '../config/load';
import { relaySettings, relayStartupProblem, watchRelayPeers, INTERNAL_URL_ENV } from './relay-settings';

const TARGETS = [{ id: 't', kind: 'openai', region: 'r', baseUrl: 'http://127.0.0.1:1/v1', mock: true, models: [{ id: 'gpt-4o' }] }];
const cfg = (api: Record<string, unknown> = {}) => parseConfig({ api, targets: TARGETS });
const token = { STORMPROOF_INTERNAL_TOKEN: 's3cret' };
const iface = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as NetworkInterfaceInfo;
const HOST = { lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('fe80::1', 'IPv6'), iface('10.1.2.3', 'IPv4')] };

test('a specific listen address is what workers are told', () => {
  assert.equal(relaySettings(cfg(), token, HOST).streamToFor(8080), 'http://127.0.0.1:8080');
  assert.equal(relaySettings(cfg({ host: '10.9.9.9' }), token, HOST).streamToFor(81), 'http://10.9.9.9:81');
  assert.equal(relaySettings(cfg({ host: '::1' }), token, HOST).streamToFor(81), 'http://[::1]:81');
});

test('an API listening everywhere names its own non-loopback address, never a loopback one', () => {
  const s = relaySettings(cfg({ host: '0.0.0.0' }), token, HOST);
  assert.equal(s.streamToFor(8080), 'http://10.1.2.3:8080');
  assert.equal(s.urlSource, 'interface');
  assert.equal(
    relaySettings(cfg({ host: '::' }), token, { eth0: [iface('2001:db8::5', 'IPv6')] }).streamToFor(1),
    'http://[2001:db8::5]:1',
  );
  assert.throws(() => relaySettings(cfg({ host: '0.0.0.0' }), token, { lo: HOST.lo }), /api\.internalUrl or STORMPROOF_API_INTERNAL_URL/);
});

test('each instance may name itself by environment, over the shared config value', () => {
  const config = cfg({ host: '0.0.0.0', internalUrl: 'http://api:8080' });
  assert.equal(relaySettings(config, token, HOST).streamToFor(8080), 'http://api:8080');
  const s = relaySettings(config, { ...token, [INTERNAL_URL_ENV]: 'http://api-2.internal:9000' }, HOST);
  assert.equal(s.streamToFor(8080), 'http://api-2.internal:9000');
  assert.equal(s.urlSource, 'env');
  assert.throws(
    () => relaySettings(config, { ...token, [INTERNAL_URL_ENV]: 'api-2:9000' }, HOST),
    /STORMPROOF_API_INTERNAL_URL=api-2:9000 is not an http\(s\) URL/,
  );
});

test('without the token the relay is off, and standalone processes refuse to start', () => {
  const config = cfg();
  const off = relaySettings(config, {}, HOST);
  assert.equal(off.streamToFor(8080), undefined);
  assert.match(relayStartupProblem('api', config, off) ?? '', /STORMPROOF_INTERNAL_TOKEN is not set: a standalone API/);
  assert.match(relayStartupProblem('worker', config, off) ?? '', /standalone worker/);
  assert.equal(relayStartupProblem('combined', config, off), undefined);
  assert.equal(relayStartupProblem('api', config, relaySettings(config, token, HOST)), undefined);
});

test('a combined process without the token reports another worker on its task queue, once', async () => {
  const now = Math.floor(Date.now() / 1000);
  const pollers = [
    { identity: 'me@host', lastAccessTime: { seconds: now + 5 } },
    { identity: 'dead@host', lastAccessTime: { seconds: now - 600 } },
    { identity: 'peer@other', lastAccessTime: { seconds: now + 5 } },
  ];
  const client = { workflowService: { describeTaskQueue: async () => ({ pollers }) } } as unknown as Client;
  const errors: unknown[] = [];
  const warnings: unknown[] = [];
  const log = { warn: (o: unknown) => warnings.push(o), error: (o: unknown) => errors.push(o) };
  const config = cfg({ host: '0.0.0.0', internalUrl: 'http://x:1' });
  const stop = watchRelayPeers(relaySettings(config, {}, HOST), {
    client,
    config,
    taskQueue: 'q',
    identity: 'me@host',
    log,
    intervalMs: 20,
  });
  assert.equal(warnings.length, 1, 'reachable from other hosts without a token: warned at start');
  await new Promise((r) => setTimeout(r, 120));
  stop();
  assert.deepEqual(errors, [{ peer: 'peer@other', taskQueue: 'q' }]);
  const quiet: unknown[] = [];
  watchRelayPeers(relaySettings(config, token, HOST), {
    client,
    config,
    taskQueue: 'q',
    identity: 'me@host',
    log: { warn: (o) => quiet.push(o), error: (o) => quiet.push(o) },
    intervalMs: 20,
  })();
  assert.equal(quiet.length, 0, 'with the token nothing is watched');
});
