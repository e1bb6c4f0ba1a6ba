/**
 * What one request costs in history: events, bytes (protobuf, as the server stores it, and the
 * proto3 JSON of the fixtures), workflow tasks, markers and search-attribute upserts.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { historyToJson } from '../worker/history-json';

const T = temporal.api.enums.v1.EventType;

/** The cost of one workflow's history. */
export interface HistoryCost {
  events: number;
  bytes: number;
  jsonBytes: number;
  workflowTasks: number;
  markers: number;
  upserts: number;
  /** Workflow tasks that timed out or failed (each repeats work, e.g. a local activity). */
  taskTimeouts: number;
  /** Events by type (short names), for the JSON report. */
  byType: Record<string, number>;
}

/** Reads the history of workflow `id` and measures it. */
export async function historyCost(client: Client, id: string): Promise<HistoryCost> {
  const history = await client.workflow.getHandle(id).fetchHistory();
  const events = history.events ?? [];
  const byType: Record<string, number> = {};
  for (const e of events) {
    const name = (T[e.eventType ?? 0] ?? String(e.eventType)).replace('EVENT_TYPE_', '').toLowerCase();
    byType[name] = (byType[name] ?? 0) + 1;
  }
  const n = (t: number) => events.filter((e) => e.eventType === t).length;
  return {
    events: events.length,
    bytes: temporal.api.history.v1.History.encode(history).finish().length,
    jsonBytes: Buffer.byteLength(historyToJson(history)),
    workflowTasks: n(T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) + n(T.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) + n(T.EVENT_TYPE_WORKFLOW_TASK_FAILED),
    markers: n(T.EVENT_TYPE_MARKER_RECORDED),
    upserts: n(T.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
    taskTimeouts: n(T.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) + n(T.EVENT_TYPE_WORKFLOW_TASK_FAILED),
    byType,
  };
}

/** The mean of each figure over several histories (rounded to one decimal). */
export function meanCost(costs: HistoryCost[]): Omit<HistoryCost, 'byType'> & { n: number } {
  const keys = ['events', 'bytes', 'jsonBytes', 'workflowTasks', 'markers', 'upserts', 'taskTimeouts'] as const;
  const out = { n: costs.length } as Omit<HistoryCost, 'byType'> & { n: number };
  for (const k of keys) out[k] = Math.round((costs.reduce((a, c) => a + c[k], 0) / Math.max(1, costs.length)) * 10) / 10;
  return out;
}
