/** Typed search attribute keys (registered when the dev server starts). */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributeUpdatePair } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../contracts/workflow-api';

export const TARGET_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.target.name, SearchAttributeType.KEYWORD);
export const FAILOVERS_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.failovers.name, SearchAttributeType.INT);
export const STATUS_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.status.name, SearchAttributeType.KEYWORD);
export const MODEL_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.model.name, SearchAttributeType.KEYWORD);
export const OWNER_KEY = defineSearchAttributeKey(SEARCH_ATTRIBUTES.owner.name, SearchAttributeType.KEYWORD);

/** Builds the update pairs for the given fields. */
export function searchAttributeUpdates(v: {
  target?: string;
  failovers?: number;
  status?: string;
  model?: string;
}): SearchAttributeUpdatePair[] {
  const out: SearchAttributeUpdatePair[] = [];
  if (v.target !== undefined) out.push({ key: TARGET_KEY, value: v.target });
  if (v.failovers !== undefined) out.push({ key: FAILOVERS_KEY, value: v.failovers });
  if (v.status !== undefined) out.push({ key: STATUS_KEY, value: v.status });
  if (v.model !== undefined) out.push({ key: MODEL_KEY, value: v.model });
  return out;
}
