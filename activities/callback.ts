/**
 * Delivering a job's result to its callback URL: a JSON POST signed with HMAC-SHA256 over
 * `"<unix seconds>.<body>"` with the secret from this worker's environment (never from workflow
 * input), sent as `x-stormproof-signature: t=<ts>,v1=<hex>`, with an `x-stormproof-delivery-id`
 * that is the same on every retry (receivers dedupe on it). The URL passes the outbound guard:
 * resolved once, every address public (or allowed by `callbacks.allowedCidrs`), the connection
 * made to that address, no redirects. Any non-2xx answer or network fault throws, so Temporal
 * retries; the failure message is the same whatever went wrong, so a job view cannot be used to
 * probe a network (the worker's log has the reason).
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { LookupAddress } from 'node:dns';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { DELIVERY_ID_HEADER, SIGNATURE_HEADER, type CallbackDelivery, type CallbackReceipt } from '../contracts/callbacks';
import type { GatewayConfig } from '../config/schema';
import { allowList, checkUrl, OutboundRefused, resolvePinned, systemLookup, type LookupAll } from './outbound-guard';
import type { CallbackActivities } from './types';

/** The signature header value for `body` sent at `timestampS`. */
export function signCallback(secret: string, timestampS: number, body: string): string {
  return `t=${timestampS},v1=${createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex')}`;
}

/** The one message every failed delivery attempt carries. */
export const DELIVERY_FAILED = 'the callback receiver did not accept the delivery';

export interface CallbackDeps {
  config: GatewayConfig;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** DNS resolution (tests inject a rebinding resolver). */
  lookup?: LookupAll;
}

/** POSTs `body` to `url`, connecting only to `pinned`; resolves with the status code. */
function postPinned(
  url: URL,
  pinned: LookupAddress,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<number> {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        // Why: the address checked is the address used; a second DNS answer is never asked for.
        lookup: (_host, opts, cb) => {
          if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: LookupAddress[]) => void)(null, [pinned]);
          else cb(null, pinned.address, pinned.family);
        },
        agent: false,
        signal,
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Creates `deliverCallback`. */
export function createCallbackActivities(deps: CallbackDeps): CallbackActivities {
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  const policy = deps.config.callbacks;
  const allowed = allowList(policy.allowedCidrs);
  return {
    async deliverCallback(delivery: CallbackDelivery): Promise<CallbackReceipt> {
      const ctx = Context.current();
      const secret = env[policy.secretEnv];
      if (!secret) {
        throw ApplicationFailure.create({
          type: 'CallbackNotConfigured',
          message: `set ${policy.secretEnv} in the worker's environment to sign callbacks`,
          nonRetryable: true,
        });
      }
      const body = JSON.stringify(delivery.payload);
      const t = Math.floor(now() / 1000);
      const workflowId = ctx.info.workflowExecution?.workflowId ?? delivery.jobId;
      const headers = {
        'content-type': 'application/json',
        'x-stormproof-job-id': delivery.jobId,
        [DELIVERY_ID_HEADER]: `${workflowId}/${ctx.info.activityId}`,
        [SIGNATURE_HEADER]: signCallback(secret, t, body),
        'user-agent': 'stormproof-callback/1',
      };
      let status: number;
      try {
        const url = checkUrl(delivery.url, policy, allowed);
        const pinned = await resolvePinned(url, allowed, deps.lookup ?? systemLookup);
        status = await postPinned(url, pinned, headers, body, ctx.cancellationSignal, policy.timeoutMs);
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        ctx.log.warn('callback delivery failed', { jobId: delivery.jobId, reason: err instanceof Error ? err.message : String(err) });
        // A refused address never becomes allowed by retrying: stop at once.
        throw ApplicationFailure.create({ type: 'CallbackFailed', message: DELIVERY_FAILED, nonRetryable: err instanceof OutboundRefused });
      }
      if (status < 200 || status > 299) {
        ctx.log.warn('callback delivery failed', { jobId: delivery.jobId, reason: `HTTP ${status}` });
        throw ApplicationFailure.create({ type: 'CallbackFailed', message: DELIVERY_FAILED });
      }
      return { status, attempts: ctx.info.attempt, deliveredAt: new Date(now()).toISOString() };
    },
  };
}
