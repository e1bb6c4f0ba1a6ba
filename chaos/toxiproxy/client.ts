/**
 * Small typed client of toxiproxy's HTTP API (https://github.com/Shopify/toxiproxy#http-api), built on fetch.
 * A proxy forwards TCP between `listen` and `upstream`; toxics injected into it degrade the link.
 */
import { z } from 'zod';

/** Link direction: `upstream` is client → server, `downstream` is server → client. */
export type ToxicStream = 'downstream' | 'upstream';

/** Attributes of each toxic type (times in ms unless noted). */
export interface ToxicAttributes {
  /** Delay all data by `latency` ± `jitter` ms. */
  latency: { latency: number; jitter?: number };
  /** Limit the link to `rate` KB/s. */
  bandwidth: { rate: number };
  /** Delay the socket close by `delay` ms. */
  slow_close: { delay: number };
  /** Drop all data and close after `timeout` ms; 0 = never close (black hole). */
  timeout: { timeout: number };
  /** TCP RST the connection immediately (timeout 0) or after `timeout` ms. */
  reset_peer: { timeout: number };
  /** Slice data into ~`average_size` byte pieces, `delay` in MICROseconds between them. */
  slicer: { average_size: number; size_variation?: number; delay?: number };
  /** Close the connection after `bytes` bytes went through. */
  limit_data: { bytes: number };
}

/** A toxic type name. */
export type ToxicType = keyof ToxicAttributes;

/** A toxic to add. `name` defaults to `<type>_<stream>`, `toxicity` (probability per connection) to 1. */
export interface ToxicSpec<T extends ToxicType = ToxicType> {
  name?: string;
  type: T;
  stream: ToxicStream;
  toxicity?: number;
  attributes: ToxicAttributes[T];
}

const toxicSchema = z.object({
  name: z.string(),
  type: z.string(),
  stream: z.enum(['downstream', 'upstream']),
  toxicity: z.number(),
  attributes: z.record(z.string(), z.number()),
});
/** A toxic as the server reports it. */
export type Toxic = z.infer<typeof toxicSchema>;

const proxySchema = z.object({
  name: z.string(),
  listen: z.string(),
  upstream: z.string(),
  enabled: z.boolean(),
  toxics: z.array(toxicSchema).default([]),
});
/** A proxy as the server reports it; `listen` holds the real port when created with port 0. */
export type Proxy = z.infer<typeof proxySchema>;

/** Fields of a new proxy. `listen` like `127.0.0.1:0` (0 = the server picks a port), `upstream` like `127.0.0.1:8080`. */
export interface ProxySpec {
  name: string;
  listen: string;
  upstream: string;
  enabled?: boolean;
}

/** An error answer of the toxiproxy API. */
export class ToxiproxyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`toxiproxy API ${status}: ${message}`);
    this.name = 'ToxiproxyError';
  }
}

/** Typed client of one toxiproxy server. */
export class ToxiproxyClient {
  /** @param apiUrl e.g. `http://127.0.0.1:8474` */
  constructor(readonly apiUrl: string) {}

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text.trim() || res.statusText;
      try {
        const parsed = z.object({ error: z.string() }).safeParse(JSON.parse(text));
        if (parsed.success) message = parsed.data.error;
      } catch {
        // not JSON: keep the raw text
      }
      throw new ToxiproxyError(res.status, message);
    }
    return text ? JSON.parse(text) : undefined;
  }

  /** The server's version string. */
  async version(): Promise<string> {
    const res = await fetch(`${this.apiUrl}/version`);
    if (!res.ok) throw new ToxiproxyError(res.status, await res.text());
    const text = (await res.text()).trim();
    try {
      return z.object({ version: z.string() }).parse(JSON.parse(text)).version;
    } catch {
      return text;
    }
  }

  /** Creates a proxy (enabled unless `enabled: false`). */
  async createProxy(spec: ProxySpec): Promise<Proxy> {
    return proxySchema.parse(await this.call('POST', '/proxies', { enabled: true, ...spec }));
  }

  /** Deletes a proxy and drops its connections. */
  async deleteProxy(name: string): Promise<void> {
    await this.call('DELETE', `/proxies/${encodeURIComponent(name)}`);
  }

  /** Enables or disables a proxy; a disabled proxy refuses connections and drops open ones (hard down). */
  async setEnabled(name: string, enabled: boolean): Promise<Proxy> {
    return proxySchema.parse(await this.call('POST', `/proxies/${encodeURIComponent(name)}`, { enabled }));
  }

  /** One proxy with its active toxics. */
  async getProxy(name: string): Promise<Proxy> {
    return proxySchema.parse(await this.call('GET', `/proxies/${encodeURIComponent(name)}`));
  }

  /** All proxies by name. */
  async listProxies(): Promise<Record<string, Proxy>> {
    return z.record(z.string(), proxySchema).parse(await this.call('GET', '/proxies'));
  }

  /** Adds a toxic to a proxy; returns it as created (with its default name filled in). */
  async addToxic<T extends ToxicType>(proxy: string, toxic: ToxicSpec<T>): Promise<Toxic> {
    return toxicSchema.parse(await this.call('POST', `/proxies/${encodeURIComponent(proxy)}/toxics`, { toxicity: 1, ...toxic }));
  }

  /** Removes one toxic from a proxy. */
  async removeToxic(proxy: string, toxic: string): Promise<void> {
    await this.call('DELETE', `/proxies/${encodeURIComponent(proxy)}/toxics/${encodeURIComponent(toxic)}`);
  }

  /** Enables every proxy and removes every toxic. */
  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }
}

/** Options shared by the toxic helpers. */
export interface ToxicOptions {
  name?: string;
  stream?: ToxicStream;
  toxicity?: number;
}

function toxic<T extends ToxicType>(type: T, attributes: ToxicAttributes[T], o: ToxicOptions = {}): ToxicSpec<T> {
  return { type, attributes, stream: o.stream ?? 'downstream', ...(o.name ? { name: o.name } : {}), toxicity: o.toxicity ?? 1 };
}

/** Typed builders of each toxic (downstream unless told). */
export const toxics = {
  /** Delay data by `latency` ± `jitter` ms. */
  latency: (latency: number, jitter = 0, o?: ToxicOptions) => toxic('latency', { latency, jitter }, o),
  /** Cap the link at `rate` KB/s. */
  bandwidth: (rate: number, o?: ToxicOptions) => toxic('bandwidth', { rate }, o),
  /** Delay closing by `delay` ms. */
  slowClose: (delay: number, o?: ToxicOptions) => toxic('slow_close', { delay }, o),
  /**
   * Drop data, close after `timeout` ms (0 = black hole, never closes). To black-hole HTTP requests put it on the
   * `upstream` stream: on `downstream` only the answer is dropped, and a server closing its side still gets through.
   */
  timeout: (timeout: number, o?: ToxicOptions) => toxic('timeout', { timeout }, o),
  /** TCP RST after `timeout` ms (0 = at once). */
  resetPeer: (timeout = 0, o?: ToxicOptions) => toxic('reset_peer', { timeout }, o),
  /** Slice data into ~`averageSize` byte pieces with `delayUs` MICROseconds between them. */
  slicer: (averageSize: number, sizeVariation = 0, delayUs = 0, o?: ToxicOptions) =>
    toxic('slicer', { average_size: averageSize, size_variation: sizeVariation, delay: delayUs }, o),
  /** Close after `bytes` bytes. */
  limitData: (bytes: number, o?: ToxicOptions) => toxic('limit_data', { bytes }, o),
};
