/**
 * A real Prometheus (Debian's `prometheus` binary) for tests: a temporary config and data dir, a
 * free port, scraping the given targets every second and evaluating the given rule files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../shared/runtime';

export interface TestPrometheus {
  url: string;
  /** Instant query; the result vector (or scalar as one sample). */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop(): Promise<void>;
}

export async function startPrometheus(opts: { targets: string[]; job?: string; ruleFiles?: string[] }): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-prom-'));
  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: opts.ruleFiles ?? [],
    scrape_configs: [{ job_name: opts.job ?? 'stormproof', static_configs: [{ targets: opts.targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = '';
  const child: ChildProcess = spawn(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  child.once('error', (err) => (output += `\n${err.message} (Debian: apt-get install prometheus)`));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Prometheus did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { resultType: string; result: unknown } };
      if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error}`);
      if (body.data.resultType === 'scalar') return [{ metric: {}, value: body.data.result as [number, string] }];
      return body.data.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
