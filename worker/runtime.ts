/** Installs the Temporal Core runtime once per process: SDK logs at warn, optional Prometheus metrics. */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;

export function installRuntime(opts: { metricsPort?: number; logLevel?: LogLevel } = {}): void {
  if (installed) return;
  installed = true;
  const level = opts.logLevel ?? ((process.env.STORMPROOF_SDK_LOG_LEVEL as LogLevel | undefined) ?? 'WARN');
  Runtime.install({
    logger: new DefaultLogger(level),
    ...(opts.metricsPort ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `127.0.0.1:${opts.metricsPort}` } } } } : {}),
  });
}
