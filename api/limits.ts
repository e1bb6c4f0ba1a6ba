/**
 * Limits where input can grow, checked at the edge so a caller can neither freeze nor flood the
 * gateway: JSON depth (before parsing), the AI requests a body carries (RAG query length, who may
 * read the collection, whether any model could ever serve it), per-key jobs, batches and event
 * streams in flight, and what a batch costs of the rate limit. Every refusal is a 4xx with a code.
 */
import type { Request, Response } from 'express';
import type { Client } from '@temporalio/client';
import { AiRequestSchema, type AiRequest } from '../contracts/request';
import { BATCH_WORKFLOW } from '../contracts/batches';
import { JOB_WORKFLOW } from '../contracts/callbacks';
import { ErrorCode } from '../contracts/errors';
import { REQUEST_WORKFLOW } from '../contracts/workflow-api';
import type { GatewayConfig } from '../config/schema';
import { equivalentModels, needsOf, tierOf } from '../workflows/selector';
import { SEARCH_ATTRIBUTES } from '../contracts/workflow-api';
import type { Admission } from './access';
import type { ChargeFn, Principal } from './auth';
import { ApiError } from './errors';
import { mayUse } from './access';
import { MessagesRequestSchema, toAiRequest } from './messages-format';
import type { Owners } from './owners';

/** Deepest nesting of the JSON text in `buf` (objects and arrays), stopping early past `max`. */
export function jsonDepth(buf: Buffer, max = Infinity): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > max) return deepest;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}

/** `express.json`'s `verify`: refuses a body nested deeper than `max` before it is parsed. */
export function depthGuard(max: number): (req: unknown, res: unknown, buf: Buffer) => void {
  return (_req, _res, buf) => {
    if (jsonDepth(buf, max) > max)
      throw new ApiError(400, ErrorCode.JsonTooDeep, `the JSON body nests deeper than ${max} levels (limits.jsonDepth)`);
  };
}

/** Models that could ever answer `request`: its equivalents, then its degradation chain when allowed. */
export function candidateModels(request: AiRequest, config: GatewayConfig): string[] {
  const pin = request.routing?.pinModel === true;
  const models = equivalentModels(request.model, config.tiers, pin);
  if (!pin && (request.routing?.allowDegradation ?? config.routing.allowDegradation)) {
    const chains = config.degradation.chains;
    const tier = tierOf(request.model, config.tiers) ?? (config.tiers[request.model] ? request.model : undefined);
    models.push(...(chains[request.model] ?? (tier ? chains[tier] : undefined) ?? []));
  }
  return models;
}

/** Why no configured model could ever serve `request` (context window), or undefined. */
export function unsatisfiable(request: AiRequest, config: GatewayConfig): string | undefined {
  const wanted = new Set(candidateModels(request, config));
  const windows = config.targets.flatMap((t) => t.models.filter((m) => wanted.has(m.id)).map((m) => m.capabilities.contextWindow));
  if (!windows.length) return undefined; // an unknown model: the handler's 400
  const largest = Math.max(...windows);
  const needs = needsOf(request);
  if (needs.contextTokens <= largest) return undefined;
  return `the prompt (~${needs.promptTokens} tokens) plus max_tokens (${needs.maxOutputTokens}) exceed the largest context window (${largest}) of every model that may answer ${request.model}`;
}

/** The AI requests a body carries, for the admissions that start workflows. */
function requestsIn(what: Admission, body: unknown): unknown[] {
  const b = (body ?? {}) as Record<string, unknown>;
  if (what === 'job') return [b.request];
  if (what === 'chat') return [b];
  if (what === 'messages') {
    const m = MessagesRequestSchema.safeParse(b);
    return m.success ? [toAiRequest(m.data)] : [];
  }
  if (what === 'batch') return Array.isArray(b.requests) ? b.requests : [];
  return [];
}

export interface LimitDeps {
  client: Client;
  config: GatewayConfig;
  taskQueue: string;
  owners: Owners;
  charge: ChargeFn;
}

/** The admission checks the access table names (see `Admission`). */
export function admission(deps: LimitDeps) {
  const { config } = deps;
  const limits = config.limits;
  const streams = new Map<string, number>();

  async function running(who: Principal, types: string[]): Promise<number> {
    const q = [
      `${SEARCH_ATTRIBUTES.owner.name} = "${who.id}"`,
      'ExecutionStatus = "Running"',
      `TaskQueue = "${deps.taskQueue}"`,
      `(${types.map((t) => `WorkflowType = "${t}"`).join(' OR ')})`,
    ];
    return (await deps.client.workflow.count(q.join(' AND '))).count;
  }

  async function checkRequest(raw: unknown, at: string, who: Principal): Promise<void> {
    const parsed = AiRequestSchema.safeParse(raw);
    if (!parsed.success) return; // the handler validates and answers 400
    const r = parsed.data;
    if (r.rag?.query && r.rag.query.length > limits.ragQueryChars) {
      throw new ApiError(
        400,
        ErrorCode.LimitExceeded,
        `${at}rag.query is ${r.rag.query.length} characters; at most ${limits.ragQueryChars} (limits.ragQueryChars)`,
      );
    }
    if (r.rag) {
      const o = await deps.owners.of('collection', r.rag.collection);
      if (o.exists && !mayUse(who, 'collection', o.owner))
        throw new ApiError(404, ErrorCode.CollectionNotFound, `${at}rag.collection: no collection "${r.rag.collection}"`);
    }
    const why = unsatisfiable(r, config);
    if (why) throw new ApiError(422, ErrorCode.Unsatisfiable, `${at}${why}`);
  }

  async function admitWork(what: Admission, req: Request, res: Response, who: Principal): Promise<void> {
    const items = requestsIn(what, req.body);
    for (const [i, r] of items.entries())
      await checkRequest(r, what === 'batch' ? `requests.${i}.` : what === 'job' ? 'request.' : '', who);
    if (what === 'batch') deps.charge(res, Math.max(1, items.length));
    if (who.admin || what === 'chat' || what === 'messages') return;
    if (what === 'batch' && (await running(who, [BATCH_WORKFLOW])) >= limits.batchesInFlightPerKey) {
      res.setHeader('retry-after', '5');
      throw new ApiError(
        429,
        ErrorCode.TooManyInFlight,
        `key "${who.id}" has ${limits.batchesInFlightPerKey} batches running (limits.batchesInFlightPerKey); wait for one to finish`,
      );
    }
    if (what === 'job' && (await running(who, [REQUEST_WORKFLOW, JOB_WORKFLOW])) >= limits.jobsInFlightPerKey) {
      res.setHeader('retry-after', '5');
      throw new ApiError(
        429,
        ErrorCode.TooManyInFlight,
        `key "${who.id}" has ${limits.jobsInFlightPerKey} jobs running (limits.jobsInFlightPerKey); wait for some to finish`,
      );
    }
  }

  function openStream(res: Response, who: Principal): void {
    const open = streams.get(who.id) ?? 0;
    if (!who.admin && open >= limits.eventStreamsPerKey) {
      res.setHeader('retry-after', '5');
      throw new ApiError(
        429,
        ErrorCode.TooManyInFlight,
        `key "${who.id}" has ${open} event streams open (limits.eventStreamsPerKey); close one first`,
      );
    }
    streams.set(who.id, open + 1);
    // Why: a stream of a job that never ends (no worker, paused) must not poll Temporal forever;
    // the client reconnects with Last-Event-ID and resumes exactly where it was.
    const lifetime = setTimeout(() => res.end(), limits.eventStreamMaxMs);
    res.once('close', () => {
      clearTimeout(lifetime);
      const n = (streams.get(who.id) ?? 1) - 1;
      if (n > 0) streams.set(who.id, n);
      else streams.delete(who.id);
    });
  }

  return async (what: Admission, req: Request, res: Response, who: Principal): Promise<void> => {
    if (what === 'event-stream') return openStream(res, who);
    if (what === 'collection-query') {
      const q = (req.body as { query?: unknown } | undefined)?.query;
      if (typeof q === 'string' && q.length > limits.ragQueryChars)
        throw new ApiError(
          400,
          ErrorCode.LimitExceeded,
          `query is ${q.length} characters; at most ${limits.ragQueryChars} (limits.ragQueryChars)`,
        );
      return;
    }
    return admitWork(what, req, res, who);
  };
}
