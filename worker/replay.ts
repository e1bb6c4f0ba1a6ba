/**
 * Replaying workflow histories against the workflow code a production worker runs (the same
 * bundle, or workflows/ bundled the same way), for the fixture replay suite and `npm run replay`.
 * A replay runs no activities and calls no sinks; it only checks that today's code issues the
 * same commands, in the same order, as the code that wrote the history.
 */
import { readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { GatewaySinks } from '../workflows/sinks';
import { historyFromJson, type History } from './history-json';

export type { History };
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Where the workflow code comes from, exactly as `createGatewayWorker` picks it. */
export interface ReplaySource {
  /** A pre-built bundle; default `STORMPROOF_WORKFLOW_BUNDLE`, else `workflowsPath` is bundled. */
  workflowBundlePath?: string;
  /** Default: workflows/ (what production registers). */
  workflowsPath?: string;
  /** Bundled code (from `bundleWorkflowCode`), e.g. a test-only variant of a workflow. */
  code?: string;
  /** The data converter of the workers that wrote the histories (a payload codec, when configured). */
  dataConverter?: import('@temporalio/common').DataConverter;
}

/** Options for a replay worker running the production workflow code (or `source`). */
export function replayWorkerOptions(source: ReplaySource = {}): ReplayWorkerOptions {
  const bundle = source.workflowsPath || source.code ? undefined : (source.workflowBundlePath ?? process.env.STORMPROOF_WORKFLOW_BUNDLE);
  return {
    ...(source.code
      ? { workflowBundle: { code: source.code } }
      : bundle
        ? { workflowBundle: { codePath: bundle } }
        : { workflowsPath: source.workflowsPath ?? require.resolve('../workflows') }),
    // The same sinks production injects; never called on replay, but registered so the code finds them.
    sinks: {
      gateway: { requestFinished: { fn: () => undefined }, breakerTransition: { fn: () => undefined } },
    } satisfies import('@temporalio/worker').InjectedSinks<GatewaySinks>,
    replayName: 'stormproof-replay',
    ...(source.dataConverter ? { dataConverter: source.dataConverter } : {}),
  };
}

/** Reads a history JSON file (a fixture, the CLI's `--output json`, or the Web UI's download). */
export function readHistoryFile(path: string): History {
  return historyFromJson(JSON.parse(readFileSync(path, 'utf8')));
}

function startedAttributes(history: History) {
  return history.events?.[0]?.workflowExecutionStartedEventAttributes ?? undefined;
}

/** The workflow type that wrote the history. */
export function workflowTypeOf(history: History): string {
  return startedAttributes(history)?.workflowType?.name ?? 'unknown';
}

/** The workflow id recorded in the history (replay needs it: child ids and results depend on it). */
export function workflowIdOf(history: History, fallback: string): string {
  return startedAttributes(history)?.workflowId || fallback;
}

function eventTypeName(e: HistoryEvent): string {
  const name = temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType);
  return name.replace(/^EVENT_TYPE_/, '');
}

/** The decoded JSON of a marker's main detail (a local activity's `data`, a patch's `patch-data`). */
export function markerDetails(e: HistoryEvent): Record<string, unknown> | undefined {
  const details = e.markerRecordedEventAttributes?.details;
  const data = (details?.data ?? details?.['patch-data'])?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** One line per event: `#7 MARKER_RECORDED (core_local_activity callProvider)`. */
export function describeEvent(e: HistoryEvent): string {
  const marker = e.markerRecordedEventAttributes ? markerDetails(e) : undefined;
  const detail =
    e.activityTaskScheduledEventAttributes?.activityType?.name ??
    (e.markerRecordedEventAttributes
      ? [e.markerRecordedEventAttributes.markerName, marker?.activity_type ?? marker?.id].filter(Boolean).join(' ')
      : undefined) ??
    e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name ??
    e.workflowExecutionSignaledEventAttributes?.signalName ??
    e.workflowExecutionStartedEventAttributes?.workflowType?.name ??
    undefined;
  return `#${e.eventId} ${eventTypeName(e)}${detail ? ` (${detail})` : ''}`;
}

/** The event the SDK's message points at: by id, else the first event naming a quoted word of it. */
function failingEvent(events: HistoryEvent[], message: string): HistoryEvent | undefined {
  const id = /(?:HistoryEvent\(id: |event[ _]?id[:= ]+|event #?)(\d+)/i.exec(message)?.[1];
  if (id) return events.find((e) => String(e.eventId) === id);
  const names = [...message.matchAll(/'([^'\s]+)'|change ([\w.-]+)/g)].map((m) => m[1] ?? m[2]);
  for (const name of names) {
    const hit = events.find((e) => describeEvent(e).includes(` ${name}`));
    if (hit) return hit;
  }
  return undefined;
}

/**
 * A readable account of a failed replay: the workflow type, the kind of failure, the SDK's
 * reason, and the history event it points at with the events around it.
 */
export function describeReplayFailure(history: History, err: unknown, label?: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const kind =
    err instanceof DeterminismViolationError
      ? 'nondeterminism (DeterminismViolationError)'
      : `replay error (${err instanceof Error ? err.name : typeof err})`;
  const reason = /message: "((?:[^"\\]|\\.)*)"/.exec(message)?.[1] ?? message;
  const events = history.events ?? [];
  const at = failingEvent(events, reason);
  const lines = [`${label ? `${label}: ` : ''}${workflowTypeOf(history)} does not replay: ${kind}`, `  ${reason}`];
  if (at) {
    const n = Number(at.eventId);
    lines.push(`  at history event ${describeEvent(at)}; around it:`);
    for (const e of events.filter((e) => Math.abs(Number(e.eventId) - n) <= 3))
      lines.push(`    ${Number(e.eventId) === n ? '>' : ' '} ${describeEvent(e)}`);
  } else {
    lines.push(`  history: ${events.length} events, last ${events.length ? describeEvent(events[events.length - 1]) : '-'}`);
  }
  if (reason !== message) lines.push(`  (SDK: ${message})`);
  return lines.join('\n');
}

/** Replays one history; resolves with undefined, or with the described failure. */
export async function replayOne(
  history: History,
  workflowId: string,
  source: ReplaySource = {},
  label?: string,
): Promise<string | undefined> {
  try {
    await Worker.runReplayHistory(replayWorkerOptions(source), history, workflowIdOf(history, workflowId));
    return undefined;
  } catch (err) {
    return describeReplayFailure(history, err, label);
  }
}

/** Replays many histories on one replay worker, in order; yields each one's failure (or none) by name. */
export async function* replayMany(
  entries: Array<{ name: string; history: History }>,
  source: ReplaySource = {},
): AsyncGenerator<{ name: string; failure?: string; error?: unknown }> {
  const histories = entries.map((e) => ({ workflowId: workflowIdOf(e.history, e.name), history: e.history }));
  // One history at a time: results arrive in input order (ids may repeat, e.g. runs of one breaker).
  let i = 0;
  for await (const r of Worker.runReplayHistories(replayWorkerOptions(source), histories)) {
    const entry = entries[i++];
    yield { name: entry.name, ...(r.error ? { failure: describeReplayFailure(entry.history, r.error, entry.name), error: r.error } : {}) };
  }
}
