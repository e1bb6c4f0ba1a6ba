/**
 * How every process connects to Temporal, from the config (and `TEMPORAL_ADDRESS`, which overrides
 * `temporal.address` for one process): the address, TLS (on when asked, or with an API key) with an
 * optional client certificate for mTLS, and a Temporal Cloud API key read from the environment.
 * The same options suit the client's `Connection` and the worker's `NativeConnection`.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError } from './load';
import type { GatewayConfig } from './schema';

/** Options for `Connection.connect` / `NativeConnection.connect`. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/** Resolves the connection options; a missing key or unreadable certificate names the config key. */
export function temporalConnectionOptions(
  config: GatewayConfig,
  env: NodeJS.ProcessEnv = process.env,
  source = '(config)',
): TemporalConnectionOptions {
  const t = config.temporal;
  const out: TemporalConnectionOptions = { address: env.TEMPORAL_ADDRESS || t.address };
  if (t.apiKeyEnv) {
    const key = env[t.apiKeyEnv];
    if (!key)
      throw new ConfigError(source, [
        `temporal.apiKeyEnv: environment variable ${t.apiKeyEnv} is not set; export the Temporal Cloud API key in it, or remove temporal.apiKeyEnv`,
      ]);
    out.apiKey = key;
  }
  const read = (key: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(source, [`temporal.tls.${key}: cannot read ${path} (${(err as Error).message})`]);
    }
  };
  if (typeof t.tls === 'object') {
    out.tls = {
      clientCertPair: { crt: read('clientCertPath', t.tls.clientCertPath), key: read('clientKeyPath', t.tls.clientKeyPath) },
      ...(t.tls.serverRootCaPath ? { serverRootCACertificate: read('serverRootCaPath', t.tls.serverRootCaPath) } : {}),
      ...(t.tls.serverName ? { serverNameOverride: t.tls.serverName } : {}),
    };
  } else if (t.tls ?? out.apiKey !== undefined) out.tls = true;
  return out;
}
