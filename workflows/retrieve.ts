/**
 * RAG in the request workflow: retrieves passages for a request that asks for them. A keyword
 * fallback is a data degradation, refused when the request forbids degradation.
 */
import { ActivityFailure, ApplicationFailure, proxyLocalActivities } from '@temporalio/workflow';
import type * as activities from '../activities/types';
import { GatewayFailure } from '../contracts/failures';
import type { AiRequest } from '../contracts/request';
import { RagFailure } from '../contracts/rag-failure';
import type { RetrievalResult } from '../contracts/retrieval';
import type { RoutingSnapshot } from '../contracts/routing';
import { degradationAllowed } from './degrade';
import { retrievalCall } from './options';
import { dataDegradationOf, retrievalInputOf } from './rag';
import type { Trace } from './trace';

/** The passages for `request`, or undefined when it asks for none; failures end the request. */
export async function retrieveFor(
  request: AiRequest,
  snapshot: RoutingSnapshot,
  trace: Trace,
  /** Runs the retrieval again when the worker, not the client, cancelled it. */
  again: <T>(f: () => Promise<T>) => Promise<T>,
): Promise<RetrievalResult | undefined> {
  const ask = retrievalInputOf(request, snapshot.rag?.defaultTopK ?? 4);
  if (!ask) return undefined;
  const { retrieve } = proxyLocalActivities<activities.RetrievalActivities>(retrievalCall(snapshot.rag?.vectorBudgetMs ?? 2_000));
  let result: RetrievalResult;
  try {
    result = await again(() => retrieve(ask));
  } catch (err) {
    const cause = err instanceof ActivityFailure ? err.cause : err;
    if (cause instanceof ApplicationFailure) throw trace.fail(cause.type ?? RagFailure.Unavailable, cause.message);
    throw err;
  }
  const degraded = dataDegradationOf(result);
  if (!degraded) return result;
  trace.degrade(degraded);
  if (!degradationAllowed({ ...request, routing: { ...request.routing, pinModel: false } }, snapshot)) {
    const why = `vector retrieval failed (${degraded.reason}) and the request forbids degradation (routing.allowDegradation: false)`;
    throw trace.fail(GatewayFailure.DataDegradationRefused, why);
  }
  return result;
}
