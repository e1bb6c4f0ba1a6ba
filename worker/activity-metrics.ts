/**
 * An activity interceptor that reads what the activities return, so metrics need no change in
 * the activities: tokens and cost of every answered provider call (the winner's, for a hedged
 * pair; the loser was aborted) and every callback delivery attempt.
 */
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptors } from '@temporalio/worker';
import type { ProviderCallResult } from '../contracts/routing';
import type { GatewayMetrics } from '../shared/telemetry';

const PROVIDER_ACTIVITIES = new Set(['callProvider', 'streamProvider']);

/** The interceptor factory for `interceptors.activity`. */
export function activityMetrics(metrics: GatewayMetrics): (ctx: Context) => ActivityInterceptors {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const type = ctx.info.activityType;
        if (PROVIDER_ACTIVITIES.has(type)) {
          const result = (await next(input)) as ProviderCallResult;
          if (result?.usage) metrics.recordUsage(result.target, result.model, result.usage);
          return result;
        }
        if (type !== 'deliverCallback') return next(input);
        try {
          const receipt = await next(input);
          metrics.callbackDeliveries.inc({ outcome: 'delivered' });
          return receipt;
        } catch (err) {
          metrics.callbackDeliveries.inc({ outcome: err instanceof ApplicationFailure && err.type ? err.type : 'error' });
          throw err;
        }
      },
    },
  });
}
