/** Connecting to an existing Temporal cluster or Temporal Cloud by config. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, parseConfig } from './load';
import { temporalConnectionOptions } from './temporal-connection';

const TARGETS = [{ id: 't', kind: 'openai', region: 'r', baseUrl: 'http://127.0.0.1:1/v1', mock: true, models: [{ id: 'gpt-4o' }] }];
const cfg = (temporal: Record<string, unknown>) => parseConfig({ temporal, targets: TARGETS });

test('plain: the address (TEMPORAL_ADDRESS overrides it for one process), no TLS, no key', () => {
  assert.deepEqual(temporalConnectionOptions(cfg({ address: 'temporal:7233' }), {}), { address: 'temporal:7233' });
  assert.deepEqual(temporalConnectionOptions(cfg({}), { TEMPORAL_ADDRESS: 'other:7233' }), { address: 'other:7233' });
});

test('Temporal Cloud: an API key from the environment turns TLS on; a missing key names the config key', () => {
  const config = cfg({ address: 'my-ns.a1b2c.tmprl.cloud:7233', namespace: 'my-ns.a1b2c', apiKeyEnv: 'TEMPORAL_CLOUD_KEY' });
  assert.deepEqual(temporalConnectionOptions(config, { TEMPORAL_CLOUD_KEY: 'k' }), {
    address: 'my-ns.a1b2c.tmprl.cloud:7233',
    apiKey: 'k',
    tls: true,
  });
  assert.throws(
    () => temporalConnectionOptions(config, {}),
    (e) => e instanceof ConfigError && /temporal\.apiKeyEnv: environment variable TEMPORAL_CLOUD_KEY is not set/.test(e.message),
  );
  assert.equal(temporalConnectionOptions(cfg({ tls: false, apiKeyEnv: 'K' }), { K: 'k' }).tls, undefined, 'tls: false is kept');
});

test('mTLS: client certificate files are read at start-up; an unreadable one names its key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-tls-'));
  writeFileSync(join(dir, 'client.pem'), 'CERT');
  writeFileSync(join(dir, 'client.key'), 'KEY');
  const tls = { clientCertPath: join(dir, 'client.pem'), clientKeyPath: join(dir, 'client.key'), serverName: 'temporal.internal' };
  const opts = temporalConnectionOptions(cfg({ tls }), {});
  assert.deepEqual(opts.tls, {
    clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
    serverNameOverride: 'temporal.internal',
  });
  assert.throws(
    () => temporalConnectionOptions(cfg({ tls: { ...tls, clientKeyPath: join(dir, 'missing.key') } }), {}),
    /temporal\.tls\.clientKeyPath: cannot read/,
  );
  assert.throws(() => cfg({ tls: { clientCertPath: 'x' } }), /temporal\.tls/);
});
