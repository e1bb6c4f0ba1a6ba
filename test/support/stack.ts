/**
 * A whole gateway for one test file: one mock per default target (ephemeral ports), a worker on
 * its own task queue, and the API on a free port, all against the test Temporal server.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../../config/load';
import type { GatewayConfig } from '../../config/schema';
import type { JobView } from '../../contracts/jobs';
import type { CallOutcome } from '../../activities';
import { startMockProvider, type MockProvider, type MockProviderOptions } from '../../chaos/mock-provider';
import { startGateway, type RunningGateway } from '../../scripts/gateway';
import { testTemporalAddress } from './temporal';
import type { Tracing } from '../../shared/tracing';

export interface TestStack {
  config: GatewayConfig;
  address: string;
  mocks: Record<string, MockProvider>;
  gateway: RunningGateway;
  /** fetch against the API. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<{ status: number; body: any; headers: Headers }>;
  /** Polls a job until it leaves queued/running. */
  waitForJob(id: string, timeoutMs?: number): Promise<JobView>;
  /** POST /v1/jobs (asserting 202); returns the job id. */
  submitJob(request: unknown, extra?: Record<string, unknown>): Promise<string>;
  /** Submits a job and waits for its end. */
  runJob(request: unknown, timeoutMs?: number): Promise<JobView>;
  /** Clears every mock's faults and stats and this worker's 429 cool-downs (between tests). */
  resetFaults(): void;
  close(): Promise<void>;
}

export interface TestStackOptions {
  maxCachedWorkflows?: number;
  /** Edits the raw config (the default.yaml object) before validation. */
  edit?: (raw: any) => void;
  /** Options for every mock (e.g. chunkDelayMs). */
  mockOptions?: Partial<MockProviderOptions>;
  /** OpenTelemetry tracing of the stack (its worker then bundles its own workflow code). */
  tracing?: Tracing;
}

/** Raw default config with every target pointed at a fresh mock. */
export async function mockedConfig(
  address: string,
  edit?: (raw: any) => void,
  mockOptions: Partial<MockProviderOptions> = {},
): Promise<{ raw: any; mocks: Record<string, MockProvider> }> {
  const raw = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
  const mocks: Record<string, MockProvider> = {};
  for (const t of raw.targets) {
    const mock = await startMockProvider({ ...mockOptions, kind: t.kind, name: t.id });
    mocks[t.id] = mock;
    t.baseUrl = mock.baseUrl;
  }
  raw.temporal.address = address;
  raw.temporal.taskQueue = `test-${randomUUID()}`;
  raw.temporal.workflowIdPrefix = `${raw.temporal.taskQueue}-`;
  // Breakers and probes are off unless a test turns them on: failover tests need the primary
  // tried first every time, whatever the previous test did to it.
  raw.breaker = { consecutiveFailures: 100_000, minCalls: 100_000, probes: false };
  // Hedging too (test/deadlines.test.ts turns it on): a test of one target's retries or latency
  // must not see a second target start beside it after a second.
  raw.routing = { ...raw.routing, hedgeAfterMs: 0 };
  raw.api.port = 0;
  // Quick retries keep tests short; the policy's shape is what is under test.
  raw.retry = { ...raw.retry, initialIntervalMs: 50, maxIntervalMs: 200 };
  raw.timeouts = { ...raw.timeouts, streamIdleMs: 1_500, heartbeatMs: 3_000 };
  // Each stack gets its own RAG indexes (and no sample collection unless a test asks).
  raw.rag = { ...raw.rag, dataDir: mkdtempSync(join(tmpdir(), 'stormproof-rag-')), sample: { ...raw.rag?.sample, enabled: false } };
  edit?.(raw);
  return { raw, mocks };
}

export async function startTestStack(opts: TestStackOptions = {}): Promise<TestStack> {
  const address = await testTemporalAddress();
  const { raw, mocks } = await mockedConfig(address, opts.edit, opts.mockOptions);
  const config = parseConfig(raw, 'test');
  const gateway = await startGateway({ config, apiPort: 0, maxCachedWorkflows: opts.maxCachedWorkflows, tracing: opts.tracing });
  const api: TestStack['api'] = async (path, init = {}) => {
    const { json, ...rest } = init;
    const res = await fetch(`${gateway.apiUrl}${path}`, {
      ...rest,
      headers: { ...(json !== undefined ? { 'content-type': 'application/json' } : {}), ...(rest.headers as Record<string, string>) },
      body: json !== undefined ? JSON.stringify(json) : rest.body,
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, headers: res.headers };
  };
  const stack: TestStack = {
    config,
    address,
    mocks,
    gateway,
    api,
    async waitForJob(id, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { status, body } = await api(`/v1/jobs/${id}`);
        if (status !== 200) throw new Error(`GET /v1/jobs/${id} answered ${status}: ${JSON.stringify(body)}`);
        if (body.status !== 'queued' && body.status !== 'running') return body as JobView;
        if (Date.now() > deadline) throw new Error(`job ${id} still ${body.status} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async submitJob(request, extra = {}) {
      const res = await api('/v1/jobs', { method: 'POST', json: { request, ...extra } });
      if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    async runJob(request, timeoutMs) {
      return stack.waitForJob(await stack.submitJob(request), timeoutMs);
    },
    resetFaults() {
      gateway.routing.quota.clearCoolDowns();
      for (const m of Object.values(mocks)) {
        m.clearFaults();
        m.resetStats();
      }
    },
    async close() {
      await gateway.stop();
      await Promise.all(Object.values(mocks).map((m) => m.close()));
    },
  };
  return stack;
}

/** Copies every call outcome the stack's worker hands its routing state (and the breakers) into `into`. */
export function tapOutcomes(stack: TestStack, into: CallOutcome[]): void {
  const record = stack.gateway.routing.record.bind(stack.gateway.routing);
  stack.gateway.routing.record = (o) => {
    into.push(o);
    record(o);
  };
}

/** A one-message chat request. */
export function chat(model: string, text: string, extra: Record<string, unknown> = {}) {
  return { model, messages: [{ role: 'user', content: text }], ...extra };
}
