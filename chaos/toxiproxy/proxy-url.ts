/**
 * Rewrites a target's baseUrl so its traffic goes through a toxiproxy proxy listening on 127.0.0.1.
 */

/** Result of {@link proxiedBaseUrl}. */
export interface ProxiedUrl {
  /** `host:port` for the proxy's `upstream` field. */
  upstream: string;
  /** The baseUrl to give the gateway: same scheme and path, host `127.0.0.1:<listenPort>`. */
  baseUrl: string;
  /** True for https targets: see the limitation on {@link proxiedBaseUrl}. */
  tls: boolean;
}

/**
 * Turns `http://127.0.0.1:18081/v1` into upstream `127.0.0.1:18081` and baseUrl `http://127.0.0.1:<listenPort>/v1`.
 * Default ports: 443 for https, 80 for http.
 *
 * toxiproxy works at the TCP level and does not terminate TLS. For an https target the returned baseUrl keeps
 * `https://`, so the client speaks TLS straight through the proxy, but to `127.0.0.1`: wrong SNI, failed certificate
 * check. Such a target needs its real host name to resolve to the proxy for the gateway (a hosts override), or TLS
 * started behind the proxy, as the game-day recorder does; `tls: true` flags the case. See docs/gameday/real-upstreams.md.
 */
export function proxiedBaseUrl(baseUrl: string, listenPort: number): ProxiedUrl {
  const url = new URL(baseUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`proxiedBaseUrl: unsupported scheme in ${baseUrl}`);
  const tls = url.protocol === 'https:';
  const port = url.port || (tls ? '443' : '80');
  const upstream = `${url.hostname}:${port}`;
  const proxied = new URL(url.href);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(listenPort);
  return { upstream, baseUrl: proxied.href, tls };
}
