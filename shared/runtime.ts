/**
 * Installs the Temporal Core runtime once per process: SDK logs at warn, and optionally the SDK's
 * own Prometheus metrics on an internal loopback port, which this process's metrics endpoints
 * merge into theirs (shared/metrics-server.ts), so one scrape gets gateway and SDK series.
 */
import { createServer } from 'node:net';
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;
let sdkUrl: string | undefined;

export function installRuntime(opts: { sdkMetricsPort?: number; logLevel?: LogLevel } = {}): void {
  if (installed) return;
  installed = true;
  const level = opts.logLevel ?? (process.env.STORMPROOF_SDK_LOG_LEVEL as LogLevel | undefined) ?? 'WARN';
  const bindAddress = opts.sdkMetricsPort ? `127.0.0.1:${opts.sdkMetricsPort}` : undefined;
  Runtime.install({
    logger: new DefaultLogger(level),
    // Prometheus naming: counters end in _total, durations are histograms in seconds with the unit.
    ...(bindAddress
      ? {
          telemetryOptions: {
            metrics: { prometheus: { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
          },
        }
      : {}),
  });
  if (bindAddress) sdkUrl = `http://${bindAddress}/metrics`;
}

/** Installs the runtime with the SDK's metrics on a free internal port (unless already installed). */
export async function installRuntimeWithMetrics(): Promise<void> {
  if (installed) return;
  installRuntime({ sdkMetricsPort: await freePort() });
}

/** Where this process's Temporal SDK metrics are, if it exports them. */
export function sdkMetricsUrl(): string | undefined {
  return sdkUrl;
}

/** A free loopback port (the OS's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
