/**
 * RAG collections: `GET /v1/collections`, `POST /v1/collections/:name/documents` (ingest: chunk,
 * embed, both indexes; run by a worker as `ragIngestWorkflow`, so this process needs no provider
 * key) and `POST /v1/collections/:name/query` (retrieval alone, to try it).
 * A collection belongs to the tenant that first ingested into it; shared ones (the sample, CLI
 * ingests) are read by every tenant and written by admins only (api/access.ts checks both).
 */
import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { GatewayConfig } from '../config/schema';
import { ErrorCode } from '../contracts/errors';
import {
  CollectionNameSchema,
  IngestRequestSchema,
  RAG_INGEST_WORKFLOW,
  RagFailure,
  type IngestResult,
  type RagIngestInput,
} from '../contracts/retrieval';
import {
  CollectionNotFoundError,
  listCollections,
  retrieve,
  RetrievalUnavailableError,
  sharedRagService,
  type RagService,
} from '../activities/retrieval';
import { ApiError, fromZod } from './errors';
import { requirePrincipal } from './auth';
import { mayUse } from './access';

export interface CollectionsDeps {
  config: GatewayConfig;
  client: Client;
  taskQueue: string;
  /** Default: the process's shared service for the config (the one the worker's activity uses). */
  rag?: RagService;
}

const QuerySchema = z.object({ query: z.string().min(1), topK: z.number().int().min(1).max(50).optional() }).strict();

function collectionName(raw: string): string {
  const r = CollectionNameSchema.safeParse(raw);
  if (!r.success) throw new ApiError(400, ErrorCode.InvalidRequest, `collection name "${raw}": ${r.error.issues[0].message}`);
  return r.data;
}

/** Runs the ingestion workflow on a worker and waits for what it did. */
async function ingestByWorker(deps: CollectionsDeps, input: RagIngestInput): Promise<IngestResult> {
  try {
    return await deps.client.workflow.execute(RAG_INGEST_WORKFLOW, {
      taskQueue: deps.taskQueue,
      workflowId: `${deps.config.temporal.workflowIdPrefix}ingest-${input.collection}-${randomUUID()}`,
      args: [input],
    });
  } catch (err) {
    // The activity's failure, wrapped in the ActivityFailure the workflow failed with.
    const cause = err instanceof WorkflowFailedError ? ((err.cause?.cause ?? err.cause) as Error | undefined) : undefined;
    if (cause instanceof ApplicationFailure && cause.type === RagFailure.InvalidIngest)
      throw new ApiError(400, ErrorCode.InvalidRequest, cause.message);
    if (err instanceof WorkflowFailedError)
      throw new ApiError(503, ErrorCode.Unavailable, `ingestion failed: ${cause?.message ?? err.message}`);
    throw err;
  }
}

export function collectionsRouter(deps: CollectionsDeps): Router {
  const rag = () => deps.rag ?? sharedRagService(deps.config);
  const router = Router();

  router.get('/', async (_req, res) => {
    const who = requirePrincipal(res);
    const owners = new Map(
      rag()
        .keyword.list()
        .map((c) => [c.name, c.owner ?? null]),
    );
    const data = (await listCollections(rag())).flatMap((c) => {
      const owner = owners.get(c.name) ?? null;
      if (!mayUse(who, 'collection', owner)) return [];
      const { owner: _hidden, ...rest } = c as typeof c & { owner?: string };
      return [who.admin && owner ? { ...rest, owner } : rest];
    });
    res.json({ data });
  });

  router.post('/:name/documents', async (req, res) => {
    const name = collectionName(req.params.name);
    const body = IngestRequestSchema.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    const who = requirePrincipal(res);
    // Claimed before ingesting: of two tenants racing for a new name, one owns it.
    const owned = rag().keyword.claim(name, who.admin ? null : who.id);
    if (!mayUse(who, 'collection', owned.owner, true)) throw new ApiError(404, ErrorCode.CollectionNotFound, `no collection "${name}"`);
    res.json(await ingestByWorker(deps, { collection: name, documents: body.data.documents }));
  });

  router.post('/:name/query', async (req, res) => {
    const name = collectionName(req.params.name);
    const body = QuerySchema.safeParse(req.body);
    if (!body.success) throw fromZod(body.error);
    try {
      res.json(await retrieve(rag(), { collection: name, query: body.data.query, topK: body.data.topK ?? deps.config.rag.defaultTopK }));
    } catch (err) {
      if (err instanceof CollectionNotFoundError) throw new ApiError(404, ErrorCode.CollectionNotFound, err.message);
      if (err instanceof RetrievalUnavailableError) throw new ApiError(503, ErrorCode.Unavailable, err.message);
      throw err;
    }
  });

  return router;
}
