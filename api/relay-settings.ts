/** Settings of the cross-process stream relay, read once at start-up from config and environment. */
import type { GatewayConfig } from '../config/schema';

/** The relay's token and how this API names itself to workers. */
export interface RelaySettings {
  /** Shared token (undefined: relay off, streams still end correctly from the workflow result). */
  token?: string;
  /** `streamTo` for a request, once the API's port is known; undefined when the relay is off. */
  streamToFor(port: number): string | undefined;
}

/** Reads `config.api.internalTokenEnv` from `env`; the URL is `api.internalUrl` or http://host:port. */
export function relaySettings(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): RelaySettings {
  const token = env[config.api.internalTokenEnv] || undefined;
  const host = ['0.0.0.0', '::', ''].includes(config.api.host) ? '127.0.0.1' : config.api.host;
  return {
    token,
    streamToFor(port) {
      if (!token) return undefined;
      return config.api.internalUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    },
  };
}
