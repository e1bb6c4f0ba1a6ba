/**
 * One bench gateway as its own process: the embedded stack of `npm start` (worker and API on one
 * NativeConnection, eager start) from the checkout at BENCH_ROOT (default: this one), with the
 * config at STORMPROOF_CONFIG. Beside the API it serves `POST /floor`: an empty workflow started
 * eagerly from this process (the Temporal floor), so floor and gateway are driven the same way.
 * Prints `BENCH_READY {apiUrl, floorUrl}` on stdout once both listen.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';

const root = resolve(process.env.BENCH_ROOT ?? join(__dirname, '..'));

interface Gateway {
  client: { workflow: { execute(type: string, opts: Record<string, unknown>): Promise<unknown> } };
  taskQueue: string;
  apiUrl: string;
  stop(): Promise<void>;
}

async function main(): Promise<void> {
  // The checkout under test, loaded by path: its own workflows are bundled by its own worker.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadConfig } = require(join(root, 'config/load.ts')) as { loadConfig(): unknown };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startGateway } = require(join(root, 'scripts/gateway.ts')) as {
    startGateway(o: { config: unknown; apiPort: number }): Promise<Gateway>;
  };
  const gw = await startGateway({ config: loadConfig(), apiPort: 0 });
  const floor = http.createServer((req, res) => {
    req.resume();
    gw.client.workflow
      .execute('noopWorkflow', { taskQueue: gw.taskQueue, workflowId: `floor-${randomUUID()}`, requestEagerStart: true })
      .then(
        () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
  });
  await new Promise<void>((r) => floor.listen(0, '127.0.0.1', r));
  const floorUrl = `http://127.0.0.1:${(floor.address() as AddressInfo).port}/floor`;
  process.stdout.write(`BENCH_READY ${JSON.stringify({ apiUrl: gw.apiUrl, floorUrl })}\n`);
  const stop = () => {
    floor.close();
    void gw.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
