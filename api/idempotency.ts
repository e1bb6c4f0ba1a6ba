/**
 * Idempotency-Key handling: the key names the workflow id, so a retried submission finds the same
 * job and no second workflow starts; the body's hash, kept in the workflow memo, tells a retry
 * (same body) from a conflicting reuse of the key (different body → 409). Keys belong to a tenant:
 * the id is derived from the owner and the key, so two tenants' equal keys are two jobs, and an
 * id tells nothing about the key.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { ErrorCode } from '../contracts/errors';
import { ApiError } from './errors';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Memo field holding the submission's body hash. */
export const BODY_HASH_MEMO = 'bodyHash';

/** The hash part of an id derived from a tenant's Idempotency-Key. */
export function scopedKeyHash(idempotencyKey: string, owner?: string): string {
  const scoped = owner === undefined ? idempotencyKey : `${owner}\0${idempotencyKey}`;
  return createHash('sha256').update(scoped).digest('base64url').slice(0, 32);
}

/**
 * Workflow id for a job: derived from the Idempotency-Key (and its owner, the caller's key id)
 * when given, so a retry finds the same job; random otherwise.
 */
export function jobIdFor(idempotencyKey: string | undefined, owner?: string): string {
  if (idempotencyKey === undefined) return `job-${randomUUID()}`;
  return `job-k${scopedKeyHash(idempotencyKey, owner)}`;
}

/** Validates the header value (undefined when absent). */
export function checkIdempotencyKey(key: string | undefined): string | undefined {
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, ErrorCode.InvalidIdempotencyKey, 'Idempotency-Key must be 1-255 printable ASCII characters without spaces');
  }
  return key;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** SHA-256 of the body's canonical JSON (key order and undefined fields do not matter). */
export function bodyHash(body: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)))
    .digest('hex');
}

/** Throws 409 when the job under this key was submitted with another body. */
export async function assertSameBody(handle: WorkflowHandle, hash: string): Promise<void> {
  const desc = await handle.describe();
  const memo = desc.memo as Record<string, unknown> | undefined;
  const stored = memo?.[BODY_HASH_MEMO];
  if (stored !== undefined && stored !== hash) {
    throw new ApiError(
      409,
      ErrorCode.IdempotencyConflict,
      `Idempotency-Key was already used for job ${handle.workflowId} with a different body; use a new key for a new request`,
      { jobId: handle.workflowId },
    );
  }
}
