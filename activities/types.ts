/**
 * Activity interfaces, as types only: workflows import this file with `import type`, so no
 * activity code ends up in the workflow bundle.
 */
import type { ProbePlan, ProbeResult } from '../contracts/breaker';
import type { AiRequest } from '../contracts/request';
import type { ProviderCallInput, ProviderCallResult, RoutingSnapshot } from '../contracts/routing';

/** Calls to a provider target. */
export interface ProviderActivities {
  /** Non-streaming call (run as a local activity). */
  callProvider(input: ProviderCallInput): Promise<ProviderCallResult>;
  /** Streaming call (a regular, heartbeating activity); chunks are published as they arrive. */
  streamProvider(input: ProviderCallInput): Promise<ProviderCallResult>;
}

/** Reading routing state. */
export interface RoutingActivities {
  /** The snapshot; for `request`, trimmed to what its plan can use (without: the whole snapshot, as older workflows read it). */
  getRoutingSnapshot(request?: Pick<AiRequest, 'model' | 'routing' | 'rag'>): Promise<RoutingSnapshot>;
}

/** Active health checks. */
export interface ProbeActivities {
  /**
   * The target's health endpoint plus known-answer calls of its models (`plan`; without one, as
   * breakers recorded before it asked: its last model, once).
   */
  probeTarget(target: string, plan?: ProbePlan): Promise<ProbeResult>;
}

/** Delivering job results to callback URLs. */
export interface CallbackActivities {
  /** POSTs the payload, signed; throws (and is retried) unless the receiver answers 2xx. */
  deliverCallback(delivery: import('../contracts/callbacks').CallbackDelivery): Promise<import('../contracts/callbacks').CallbackReceipt>;
}

/** Retrieval for RAG requests (data degradation: vector → keyword). */
export interface RetrievalActivities {
  /**
   * The `topK` passages for `query`: vector search within `rag.vectorBudgetMs`, else keyword
   * search with `mode: 'keyword'` and a `degradedReason`. Fails with type `RagCollectionNotFound`
   * (non-retryable) for an unknown collection, `RagUnavailable` when both paths fail.
   */
  retrieve(input: { collection: string; query: string; topK: number }): Promise<import('../contracts/retrieval').RetrievalResult>;
  /**
   * Chunks, embeds and indexes documents (both indexes; keyword-only with a `degradedReason` when
   * embedding fails). Replaces by document id, so a retry repeats nothing. Fails with type
   * `RagInvalidIngest` (non-retryable) for input the indexes refuse.
   */
  ingestCollection(input: import('../contracts/retrieval').RagIngestInput): Promise<import('../contracts/retrieval').IngestResult>;
}
