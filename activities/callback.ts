/**
 * Delivering a job's result to its callback URL: a JSON POST signed with HMAC-SHA256 over
 * `"<unix seconds>.<body>"` with the secret from this worker's environment (never from workflow
 * input), sent as `x-stormproof-signature: t=<ts>,v1=<hex>`. Receivers verify the MAC and reject
 * old timestamps (replays). Any non-2xx answer or network fault throws, so Temporal retries.
 */
import { createHmac } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { SIGNATURE_HEADER, type CallbackDelivery, type CallbackReceipt } from '../contracts/callbacks';
import type { GatewayConfig } from '../config/schema';
import type { CallbackActivities } from './types';

/** The signature header value for `body` sent at `timestampS`. */
export function signCallback(secret: string, timestampS: number, body: string): string {
  return `t=${timestampS},v1=${createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex')}`;
}

export interface CallbackDeps {
  config: GatewayConfig;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

/** Creates `deliverCallback`. */
export function createCallbackActivities(deps: CallbackDeps): CallbackActivities {
  const env = deps.env ?? process.env;
  const now = deps.now ?? Date.now;
  return {
    async deliverCallback(delivery: CallbackDelivery): Promise<CallbackReceipt> {
      const ctx = Context.current();
      const secret = env[deps.config.callbacks.secretEnv];
      if (!secret) {
        throw ApplicationFailure.create({ type: 'CallbackNotConfigured', message: `set ${deps.config.callbacks.secretEnv} in the worker's environment to sign callbacks`, nonRetryable: true });
      }
      const body = JSON.stringify(delivery.payload);
      const t = Math.floor(now() / 1000);
      let res: Response;
      try {
        res = await fetch(delivery.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-stormproof-job-id': delivery.jobId, [SIGNATURE_HEADER]: signCallback(secret, t, body), 'user-agent': 'stormproof-callback/1' },
          body,
          redirect: 'manual',
          signal: ctx.cancellationSignal,
        });
      } catch (err) {
        throw ApplicationFailure.create({ type: 'CallbackUnreachable', message: `POST ${delivery.url} failed: ${(err as Error).message}` });
      }
      await res.body?.cancel().catch(() => undefined);
      if (res.status < 200 || res.status > 299) {
        throw ApplicationFailure.create({ type: 'CallbackRejected', message: `POST ${delivery.url} answered HTTP ${res.status}` });
      }
      return { status: res.status, attempts: ctx.info.attempt, deliveredAt: new Date(now()).toISOString() };
    },
  };
}
