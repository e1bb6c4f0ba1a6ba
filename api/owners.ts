/**
 * Who owns what: jobs and batches carry their tenant in the `StormproofOwner` search attribute
 * (and memo), set at start; batch items inherit their batch's; collections record theirs in the
 * keyword index's catalog. Owners never change, so known ones are cached.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { BATCH_WORKFLOW } from '../contracts/batches';
import { JOB_WORKFLOW } from '../contracts/callbacks';
import { REQUEST_WORKFLOW } from '../contracts/workflow-api';
import type { RagService } from '../activities/retrieval';
import { OWNER_KEY } from '../workflows/search-attributes';

/** Memo field with the owner (besides the search attribute, which a listing filters on). */
export const OWNER_MEMO = 'owner';

/** Whether a resource exists, and its owner (null: nobody's, i.e. shared or from before tenants). */
export type Ownership = { exists: false } | { exists: true; owner: string | null };

/** Resource kinds the access table can check. */
export type ResourceKind = 'job' | 'batch' | 'collection';

const JOB_TYPES = new Set([REQUEST_WORKFLOW, JOB_WORKFLOW]);
const CACHE_SIZE = 10_000;

/** Looks owners up (from Temporal and the catalog), caching the ones found. */
export class Owners {
  private readonly cache = new Map<string, string | null>();

  constructor(
    private readonly client: Client,
    private readonly rag: () => RagService,
  ) {}

  /** The ownership of a resource of `kind`. */
  async of(kind: ResourceKind, id: string): Promise<Ownership> {
    if (kind === 'collection') return this.rag().keyword.ownership(id);
    return this.workflow(id, kind === 'job' ? JOB_TYPES : new Set([BATCH_WORKFLOW]));
  }

  private async workflow(id: string, types: Set<string>): Promise<Ownership> {
    const key = `${[...types].join('|')}/${id}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return { exists: true, owner: cached };
    let desc;
    try {
      desc = await this.client.workflow.getHandle(id).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { exists: false };
      throw err;
    }
    if (!types.has(desc.type)) return { exists: false };
    let owner: string | null = desc.typedSearchAttributes.get(OWNER_KEY) ?? (desc.memo?.[OWNER_MEMO] as string | undefined) ?? null;
    // Items of batches started before items carried an owner: their batch's.
    const parentId = desc.parentExecution?.workflowId;
    if (owner === null && parentId) {
      const parent = await this.workflow(parentId, new Set([BATCH_WORKFLOW]));
      if (parent.exists) owner = parent.owner;
    }
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, owner);
    return { exists: true, owner };
  }
}
