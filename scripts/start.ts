/**
 * `npm start`: the whole embedded stack in the foreground — Temporal dev server (+ Web UI), mock
 * providers for mock targets, the worker and the API — stopped cleanly on Ctrl-C.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkEnvironment, ConfigError, loadConfig } from '../config/load';
import type { GatewayConfig } from '../config/schema';
import { startMockProvider, type MockProvider } from '../chaos/mock-provider';
import { ensureTemporalCli } from './ensure-temporal';
import { startDevServerProcess, type DevServer } from './dev-server';
import { codecFromConfig } from '../shared/codec';
import { assertPortsFree } from './ports';
import { startGateway, type RunningGateway } from './gateway';
import { ensureSampleCollection } from '../activities/retrieval';
import { reloadFromFile } from '../shared/live-config';
import { logger } from '../shared/log';

const say = (line: string) => process.stdout.write(`${line}\n`);

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Refuses to start twice; cleans up the Temporal server an earlier, crashed run left behind. */
function claimPidFile(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'stack.pid');
  if (existsSync(file)) {
    const prev = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number; temporalPid?: number };
    if (alive(prev.pid))
      throw new Error(`Stormproof is already running (pid ${prev.pid}); stop it first (Ctrl-C in its terminal, or kill ${prev.pid})`);
    if (alive(prev.temporalPid)) {
      say(`[stormproof] an earlier run ended without cleaning up; stopping its Temporal server (pid ${prev.temporalPid})`);
      process.kill(prev.temporalPid!, 'SIGTERM');
    }
  }
  writeFileSync(file, JSON.stringify({ pid: process.pid }));
  return file;
}

function mockTargets(config: GatewayConfig) {
  return config.targets.filter((t) => t.mock).map((t) => ({ target: t, url: new URL(t.baseUrl) }));
}

async function main(): Promise<void> {
  const config = loadConfig();
  checkEnvironment(config);
  const dataDir = resolve(config.temporal.dataDir);
  const [tHost, tPort] = config.temporal.address.split(':');
  const pidFile = claimPidFile(dataDir);
  await new Promise((r) => setTimeout(r, 300)); // let a stopped orphan release its ports
  await assertPortsFree([
    { port: config.api.port, host: config.api.host, key: 'api.port' },
    { port: config.worker.metricsPort, host: config.worker.metricsHost, key: 'worker.metricsPort' },
    ...(config.temporal.embedded
      ? [
          { port: Number(tPort), host: tHost, key: 'temporal.address' },
          { port: config.temporal.uiPort, host: tHost, key: 'temporal.uiPort' },
        ]
      : []),
    ...mockTargets(config).map(({ target, url }) => ({
      port: Number(url.port),
      host: url.hostname,
      key: `targets (${target.id}).baseUrl`,
    })),
  ]);

  let server: DevServer | undefined;
  const mocks: MockProvider[] = [];
  let gateway: RunningGateway | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('\n[stormproof] stopping…');
    await gateway?.stop().catch((e: Error) => say(`  gateway: ${e.message}`));
    await Promise.all(mocks.map((m) => m.close()));
    await server?.stop();
    rmSync(pidFile, { force: true });
    say('[stormproof] stopped.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    if (config.temporal.embedded) {
      const bin = ensureTemporalCli(say);
      say(`[stormproof] starting the Temporal dev server (data in ${dataDir})…`);
      // Sealed payloads (codec keys set): the Web UI asks the API's codec endpoint to show them.
      const codecEndpoint = codecFromConfig(config) ? `http://${config.api.host}:${config.api.port}/v1/codec` : undefined;
      server = await startDevServerProcess({
        bin,
        host: tHost,
        port: Number(tPort),
        uiPort: config.temporal.uiPort,
        dataDir,
        namespace: config.temporal.namespace,
        log: say,
        codecEndpoint,
      });
      writeFileSync(pidFile, JSON.stringify({ pid: process.pid, temporalPid: server.process.pid }));
      server.process.once('exit', (code) => {
        if (!stopping) {
          say(`[stormproof] the Temporal dev server exited unexpectedly (code ${code})`);
          void stop(1);
        }
      });
    }
    for (const { target, url } of mockTargets(config)) {
      mocks.push(
        await startMockProvider({
          kind: target.kind,
          name: target.id,
          port: Number(url.port),
          host: url.hostname,
          models: target.models.map((m) => m.providerModel ?? m.id),
        }),
      );
    }
    // After the mocks (they embed); a failure only costs the sample its vectors, never the start.
    await ensureSampleCollection(config, { log: say }).catch((e: Error) => say(`[stormproof] sample RAG collection: ${e.message}`));
    say('[stormproof] starting the worker and the API (bundling workflows takes a few seconds)…');
    gateway = await startGateway({ config, metricsPort: config.worker.metricsPort });
    const running = gateway;
    // SIGHUP: re-read the config file and publish its live keys (README "Changing the config without a restart").
    process.on(
      'SIGHUP',
      () =>
        void reloadFromFile({
          client: running.client,
          live: running.live,
          taskQueue: running.taskQueue,
          read: () => loadConfig(),
          by: `SIGHUP npm start ${process.pid}`,
          log: logger,
        }),
    );
  } catch (err) {
    say(`[stormproof] ${(err as Error).message}`);
    await stop(1);
    return;
  }

  say('');
  say('Stormproof is up.');
  say(`  API              ${gateway.apiUrl}   (POST /v1/jobs, GET /v1/jobs/:id)`);
  say(`  Health           ${gateway.apiUrl}/readyz`);
  say(`  War room         ${gateway.apiUrl}/warroom`);
  say(`  Metrics          ${gateway.apiUrl}/metrics   (gateway and Temporal SDK; also ${gateway.metricsUrl})`);
  if (server) say(`  Temporal Web UI  ${server.uiUrl}   (frontend ${server.address})`);
  for (const m of mocks) say(`  mock ${m.kind.padEnd(17)} ${m.origin}   (${m.name}; faults: PUT ${m.origin}/__faults)`);
  say('Ctrl-C stops everything.');
}

main().catch((err) => {
  say(err instanceof ConfigError ? `[stormproof] ${err.message}` : `[stormproof] failed to start: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
