/**
 * One long-running breaker workflow per target. Its state lives in Temporal (it survives worker
 * and server restarts); workers send it aggregated outcome batches and read its decision from
 * its memo. It probes its target on a timer and continues-as-new before history grows large.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type * as activities from '../activities/types';
import {
  BREAKER_MEMO_KEY,
  BREAKER_STATE_QUERY,
  OUTCOMES_SIGNAL,
  OVERRIDE_SIGNAL,
  type BreakerAction,
  type BreakerPublished,
  type BreakerWorkflowInput,
  type OutcomeBatch,
} from '../contracts/breaker';
import { initialState, nextDeadline, publish, settingsForRun, step, type MachineEvent, type MachineState } from './breaker-machine';

export const outcomesSignal = defineSignal<[OutcomeBatch]>(OUTCOMES_SIGNAL);
export const overrideSignal = defineSignal<[BreakerAction]>(OVERRIDE_SIGNAL);
export const breakerStateQuery = defineQuery<BreakerPublished>(BREAKER_STATE_QUERY);

/** Probes, no retries (the next probe is the retry). Runs recorded before the patch below used this. */
const PROBE_OPTIONS = { startToCloseTimeout: '10s', retry: { maximumAttempts: 1 }, summary: 'probe target' } as const;
const { probeTarget: probeLocally } = proxyLocalActivities<activities.ProbeActivities>(PROBE_OPTIONS);
/**
 * A regular activity: a running local activity holds the workflow task, so outcome batches that
 * arrive while a slow target's probe hangs would wait for it (seconds of a brownout unjudged).
 */
const { probeTarget: probeAside } = proxyActivities<activities.ProbeActivities>(PROBE_OPTIONS);
const PROBE_ASIDE_PATCH = 'breaker-probe-as-activity';

function samePublished(a: BreakerPublished | undefined, b: BreakerPublished): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

export async function breakerWorkflow(input: BreakerWorkflowInput): Promise<never> {
  // Runs started on code older than the fast window (issue 11) keep the old rules to their end, so
  // their histories replay; from their next run on they get it (docs/replay.md).
  const s = settingsForRun(input.settings, patched('breaker-fast-window'));
  const m: MachineState = (input.carry as MachineState | undefined) ?? initialState(input.target, Date.now());
  const pending: MachineEvent[] = [];
  let lastProbeAt = 0;
  let probing = false;
  setHandler(outcomesSignal, (batch) => {
    pending.push({ kind: 'batch', batch });
  });
  setHandler(overrideSignal, (action) => {
    pending.push({ kind: 'override', action });
    if (action === 'reset') lastProbeAt = 0;
  });
  setHandler(breakerStateQuery, () => publish(m, s, Date.now()));

  let published: BreakerPublished | undefined;
  // Probes run faster while the target is out of rotation, so recovery is seen sooner.
  const nextProbeAt = () => lastProbeAt + (m.state === 'closed' ? s.probeIntervalMs : s.probeOpenIntervalMs);
  for (;;) {
    while (pending.length) step(m, pending.shift()!, Date.now(), s);
    step(m, { kind: 'tick' }, Date.now(), s);

    // The probe runs beside the loop, never blocking it: a slow target makes slow probes, and
    // outcome batches and overrides must still be handled (and published) at once meanwhile.
    if (s.probes && !probing && Date.now() >= nextProbeAt()) {
      probing = true;
      lastProbeAt = Date.now();
      const probeTarget = patched(PROBE_ASIDE_PATCH) ? probeAside : probeLocally;
      void probeTarget(input.target).then(
        (result) => {
          probing = false;
          lastProbeAt = Date.now();
          pending.push({ kind: 'probe', result });
        },
        // The probe activity itself failed (e.g. its timeout, no worker): a failed probe, never a
        // rejection nobody handles (that would wedge the breaker).
        (err: unknown) => {
          probing = false;
          lastProbeAt = Date.now();
          pending.push({ kind: 'probe', result: { at: Date.now(), ok: false, latencyMs: 0, error: `probe did not complete: ${err instanceof Error ? err.message : String(err)}` } });
        },
      );
    }

    const view = publish(m, s, Date.now());
    if (!samePublished(published, view)) {
      upsertMemo({ [BREAKER_MEMO_KEY]: view });
      published = view;
    }

    // Why here: history grows with time (signals are batched per flush interval), so a size
    // check each loop keeps it bounded; handlers are synchronous, so nothing is in flight.
    if (workflowInfo().historyLength >= s.continueAsNewAfterEvents || workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() && !probing);
      while (pending.length) step(m, pending.shift()!, Date.now(), s);
      await continueAsNew<typeof breakerWorkflow>({ ...input, carry: m });
    }

    const wakeAt = Math.min(s.probes && !probing ? nextProbeAt() : Infinity, nextDeadline(m) ?? Infinity);
    if (wakeAt === Infinity) await condition(() => pending.length > 0);
    else await condition(() => pending.length > 0, Math.max(1, wakeAt - Date.now()));
  }
}
