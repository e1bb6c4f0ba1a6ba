/**
 * The live config of one task queue: holds the last validated reloadable sections, takes changes
 * through an update (refused when the caller's expected version is stale) and publishes them in
 * its memo, which every API and worker process reads (shared/live-config.ts). Validation against
 * the start-up schema happens in the publisher, before the update is sent.
 */
import {
  allHandlersFinished,
  condition,
  defineQuery,
  defineUpdate,
  makeContinueAsNewFunc,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import {
  LIVE_CONFIG_MEMO_KEY,
  LIVE_CONFIG_QUERY,
  SET_LIVE_CONFIG_UPDATE,
  type LiveConfigChange,
  type LiveConfigState,
} from '../contracts/live-config';

export const setLiveConfigUpdate = defineUpdate<LiveConfigState, [LiveConfigChange]>(SET_LIVE_CONFIG_UPDATE);
export const liveConfigQuery = defineQuery<LiveConfigState>(LIVE_CONFIG_QUERY);

/** Why: a change is a few events; a run continues as new long before its history matters. */
const CONTINUE_AS_NEW_AFTER_EVENTS = 1_000;

export async function liveConfigWorkflow(carry?: LiveConfigState): Promise<void> {
  let state: LiveConfigState = carry ?? { version: 0 };
  setHandler(liveConfigQuery, () => state);
  setHandler(
    setLiveConfigUpdate,
    (change) => {
      state = { version: state.version + 1, overlay: change.overlay, appliedAt: Date.now(), ...(change.by ? { by: change.by } : {}) };
      upsertMemo({ [LIVE_CONFIG_MEMO_KEY]: state });
      return state;
    },
    {
      validator: (change) => {
        if (!change || typeof change.overlay !== 'object' || change.overlay === null)
          throw new Error('a live config change carries an overlay');
        if (change.expectedVersion !== undefined && change.expectedVersion !== state.version) {
          throw new Error(`live config is at version ${state.version}, not ${change.expectedVersion}: read it again and retry`);
        }
      },
    },
  );
  await condition(() => workflowInfo().historyLength >= CONTINUE_AS_NEW_AFTER_EVENTS || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  // The memo goes along, so a process reading between the runs still sees the config.
  await makeContinueAsNewFunc<typeof liveConfigWorkflow>({ memo: { [LIVE_CONFIG_MEMO_KEY]: state } })(state);
}
