/**
 * What a history-recording scenario is: a named path through the real stack that leaves one or
 * more workflow histories behind, each written as one fixture named after it.
 */
export { waitFor } from '../../test/support/wait';
import type { Client } from '@temporalio/client';
import type { TestStack, TestStackOptions } from '../../test/support/stack';

/** Which run of which workflow a fixture is taken from. */
export interface RecordedRun {
  workflowId: string;
  /** Default: the latest run. */
  runId?: string;
}

export interface ScenarioContext {
  address: string;
  /** A client of its own (fetches histories; starts workflows directly when a path needs it). */
  client: Client;
  /** The stack shared by scenarios with the same `key` (faults and cool-downs cleared before each). */
  shared(key: string, opts?: TestStackOptions): Promise<TestStack>;
  /** A stack of its own (fresh task queue, fresh breaker ids), closed after the scenario. */
  fresh(opts?: TestStackOptions): Promise<TestStack>;
  /** Registers cleanup to run after the scenario (kill processes, close servers). */
  defer(fn: () => Promise<void> | void): void;
  log(msg: string): void;
}

export interface Scenario {
  /** Group name, printed as progress. */
  name: string;
  /** One line: the path it drives. */
  describe: string;
  /** Fixture names it writes (`<name>.json` in the fixtures folder). */
  fixtures: string[];
  /** Drives the path; returns the run behind each fixture name. */
  run(ctx: ScenarioContext): Promise<Record<string, RecordedRun>>;
}

/** Submits a job through the API; returns its id. */
export async function submitJob(s: TestStack, request: unknown, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await s.api('/v1/jobs', { method: 'POST', json: { request, ...extra } });
  if (res.status !== 202) throw new Error(`POST /v1/jobs answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/** Submits a job, waits for it, and checks it ended as expected. */
export async function job(
  s: TestStack,
  request: unknown,
  expect: 'completed' | 'failed' | 'cancelled',
  extra: Record<string, unknown> = {},
): Promise<RecordedRun> {
  const id = await submitJob(s, request, extra);
  const view = await s.waitForJob(id, 60_000);
  if (view.status !== expect) throw new Error(`job ${id} ended ${view.status}, expected ${expect}: ${JSON.stringify(view)}`);
  return { workflowId: id };
}
