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
  makeContinueAsNewFunc,
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
  SETTINGS_SIGNAL,
  type BreakerAction,
  type BreakerPublished,
  type BreakerSettingsUpdate,
  type BreakerWorkflowInput,
  type OutcomeBatch,
  type ProbeResult,
} from '../contracts/breaker';
import {
  initialState,
  nextDeadline,
  probePlan,
  publish,
  settingsForRun,
  step,
  transitionsAfter,
  type MachineEvent,
  type MachineState,
} from './breaker-machine';
import { DEFAULT_PUBLISH_INTERVAL_MS } from './breaker-rules';
import { gatewaySink } from './sinks';

export const outcomesSignal = defineSignal<[OutcomeBatch]>(OUTCOMES_SIGNAL);
export const overrideSignal = defineSignal<[BreakerAction]>(OVERRIDE_SIGNAL);
export const settingsSignal = defineSignal<[BreakerSettingsUpdate]>(SETTINGS_SIGNAL);
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
/**
 * Revision 3 of the rules (per-model cells, half-open decided by the probe or by call-time trials
 * with a deadline, publication seq and heartbeat, shared 429 cool-downs, the memo carried on
 * continue-as-new). Decided once per run: a run that replays without the marker keeps the older
 * rules to its end, its next run takes these (docs/replay.md).
 */
const RULES_PATCH = 'breaker-models-probes-trials';
/** New settings from a worker (the `settings` signal) apply at once. */
const SETTINGS_PATCH = 'breaker-settings-signal';
/** Shown as the settings hash of a run started without one (by an older worker): any worker's differs. */
const UNKNOWN_SETTINGS = 'unknown';

function samePublished(a: BreakerPublished | undefined, b: BreakerPublished): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

const failedProbe = (err: unknown): ProbeResult => ({
  at: Date.now(),
  ok: false,
  latencyMs: 0,
  error: `probe did not complete: ${err instanceof Error ? err.message : String(err)}`,
});

export async function breakerWorkflow(input: BreakerWorkflowInput): Promise<never> {
  // Runs started on code older than the fast window (issue 11) keep the old rules to their end, so
  // their histories replay; from their next run on they get it (docs/replay.md).
  const upgraded = patched('breaker-fast-window');
  const current = upgraded && patched(RULES_PATCH);
  let settings = input.settings;
  let settingsHash = input.settingsHash ?? UNKNOWN_SETTINGS;
  let s = settingsForRun(settings, upgraded, current);
  const m: MachineState = (input.carry as MachineState | undefined) ?? initialState(input.target, Date.now());
  const pending: MachineEvent[] = [];
  let update: BreakerSettingsUpdate | undefined;
  let lastProbeAt = current ? (m.lastProbeAt ?? 0) : 0;
  let probing = false;
  // Transitions carried over were exported by the run before.
  let exported = m.seq ?? 0;
  setHandler(outcomesSignal, (batch) => {
    pending.push({ kind: 'batch', batch });
  });
  setHandler(overrideSignal, (action) => {
    pending.push({ kind: 'override', action });
    if (action === 'reset') lastProbeAt = 0;
  });
  setHandler(settingsSignal, (u) => {
    update = u;
  });
  setHandler(breakerStateQuery, () => publish(m, s, Date.now()));

  const drain = () => {
    if (update && patched(SETTINGS_PATCH)) {
      settings = update.settings;
      settingsHash = update.hash;
      s = settingsForRun(settings, upgraded, current);
      update = undefined;
    }
    while (pending.length) step(m, pending.shift()!, Date.now(), s);
    // Exported from here, once: sinks do not run again when this task replays.
    for (const t of transitionsAfter(m, exported)) {
      gatewaySink.breakerTransition({
        target: input.target,
        ...(t.model ? { model: t.model } : {}),
        from: t.from,
        to: t.to,
        reason: t.reason,
        at: t.at,
        seq: t.seq!,
        trips: t.trips ?? m.trips,
      });
    }
    exported = m.seq ?? 0;
  };

  let published: BreakerPublished | undefined;
  let publishedAt = 0;
  const publishEvery = () => s.publishIntervalMs ?? DEFAULT_PUBLISH_INTERVAL_MS;
  const memoOf = (view: BreakerPublished, now: number): BreakerPublished => {
    if (!current) return { ...view, settingsHash };
    m.publications = (m.publications ?? 0) + 1;
    return { ...view, settingsHash, seq: m.publications, publishedAt: now };
  };
  // Probes run faster while the target is out of rotation, so recovery is seen sooner.
  const nextProbeAt = () => lastProbeAt + (m.state === 'closed' ? s.probeIntervalMs : s.probeOpenIntervalMs);
  for (;;) {
    pending.push({ kind: 'tick' });
    drain();

    // The probe runs beside the loop, never blocking it: a slow target makes slow probes, and
    // outcome batches and overrides must still be handled (and published) at once meanwhile.
    if (s.probes && !probing && (Date.now() >= nextProbeAt() || (current && m.probeDue))) {
      probing = true;
      lastProbeAt = Date.now();
      const startedAt = Date.now();
      const probeTarget = patched(PROBE_ASIDE_PATCH) ? probeAside : probeLocally;
      const run = current ? probeTarget(input.target, probePlan(m, s, startedAt)) : probeTarget(input.target);
      if (current) m.probeDue = false;
      void run.then(
        (result) => {
          probing = false;
          lastProbeAt = Date.now();
          pending.push({ kind: 'probe', result, ...(current ? { startedAt } : {}) });
        },
        // The probe activity itself failed (e.g. its timeout, no worker): a failed probe, never a
        // rejection nobody handles (that would wedge the breaker).
        (err: unknown) => {
          probing = false;
          lastProbeAt = Date.now();
          pending.push({ kind: 'probe', result: failedProbe(err), ...(current ? { startedAt } : {}) });
        },
      );
    }

    const view = { ...publish(m, s, Date.now()), settingsHash };
    // Current rules republish at least every publishIntervalMs: a memo that stops moving means a
    // breaker that stopped working, and readers treat it as unknown (shared/breaker-view.ts).
    if (!samePublished(published, view) || (current && Date.now() - publishedAt >= publishEvery())) {
      upsertMemo({ [BREAKER_MEMO_KEY]: memoOf(view, Date.now()) });
      published = view;
      publishedAt = Date.now();
    }

    // #region guide:continue-as-new
    // Why here: history grows with time (signals are batched per flush interval), so a size
    // check each loop keeps it bounded; handlers are synchronous, so nothing is in flight.
    if (workflowInfo().historyLength >= s.continueAsNewAfterEvents || workflowInfo().continueAsNewSuggested) {
      await condition(() => allHandlersFinished() && !probing);
      drain();
      const next = { target: input.target, settings, ...(settingsHash !== UNKNOWN_SETTINGS ? { settingsHash } : {}), carry: m };
      if (!current) await continueAsNew<typeof breakerWorkflow>(next);
      m.lastProbeAt = lastProbeAt;
      // The memo goes along, so a process reading between the runs still sees the decision.
      const memo = { [BREAKER_MEMO_KEY]: memoOf({ ...publish(m, s, Date.now()), settingsHash }, Date.now()) };
      await makeContinueAsNewFunc<typeof breakerWorkflow>({ memo })(next);
    }
    // #endregion guide:continue-as-new

    const heartbeat = current ? publishedAt + publishEvery() : Infinity;
    const wakeAt = Math.min(
      s.probes && !probing ? (current && m.probeDue ? Date.now() : nextProbeAt()) : Infinity,
      nextDeadline(m, s) ?? Infinity,
      heartbeat,
    );
    const woken = () => pending.length > 0 || update !== undefined;
    if (wakeAt === Infinity) await condition(woken);
    else await condition(woken, Math.max(1, wakeAt - Date.now()));
  }
}
