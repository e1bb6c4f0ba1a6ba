/**
 * Failure types of retrieval, matched by `type` across Temporal. Pure and without zod: workflow code
 * imports it, and every module the workflow bundle imports is evaluated again for each workflow.
 */
export const RagFailure = {
  /** No collection of that name: non-retryable, the request names something that does not exist. */
  CollectionNotFound: 'RagCollectionNotFound',
  /** Both the vector path and the keyword index failed. Retryable. */
  Unavailable: 'RagUnavailable',
  /** An ingestion the indexes refuse (a bad collection name): non-retryable. */
  InvalidIngest: 'RagInvalidIngest',
} as const;
