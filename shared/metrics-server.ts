/**
 * Serving a process's metrics: its gateway registry plus, when the process exports them, the
 * Temporal SDK's own series (read from the Core runtime's internal endpoint), as one text.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GatewayMetrics } from './telemetry';
import { sdkMetricsUrl } from './runtime';

/** The Prometheus text of this process: gateway series, then the SDK's. */
export async function metricsText(metrics: GatewayMetrics): Promise<{ contentType: string; body: string }> {
  const url = sdkMetricsUrl();
  const [own, sdk] = await Promise.all([
    metrics.registry.metrics(),
    url
      ? fetch(url, { signal: AbortSignal.timeout(2_000) })
          .then((r) => (r.ok ? r.text() : ''))
          .catch(() => '')
      : Promise.resolve(''),
  ]);
  const body = sdk.trim() ? `${own.trimEnd()}\n${sdk.trimEnd()}\n` : own;
  return { contentType: metrics.registry.contentType, body };
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `GET /metrics` on host:port (0: a free port). */
export async function serveMetrics(metrics: GatewayMetrics, opts: { host: string; port: number }): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
      return;
    }
    metricsText(metrics).then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/metrics`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
