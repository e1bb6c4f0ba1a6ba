/**
 * The API's own calls to Temporal go through one request-level policy (cockatiel): a deadline per
 * call, a short retry when Temporal is unavailable, and a breaker that, after repeated failures,
 * refuses at once. An outage of Temporal then fails fast with a 503 and Retry-After instead of
 * hanging every client; nothing is accepted that is not durable. Long polls (waiting for a
 * workflow's result) are left alone: they wait by design and a failure there is not an outage.
 */
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  wrap,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { Client } from '@temporalio/client';
import type { LimitsConfig } from '../config/limits-schema';

/** gRPC status codes that mean "Temporal cannot take this call now". */
const UNAVAILABLE = new Set([4 /* DEADLINE_EXCEEDED */, 8 /* RESOURCE_EXHAUSTED */, 14 /* UNAVAILABLE */]);
/** RPCs that wait by design (a workflow's result, an update's outcome). */
const LONG_POLLS = new Set(['getWorkflowExecutionHistory', 'pollWorkflowExecutionUpdate']);
/** RPCs a worker answers: slow when no worker polls, which is not an outage of Temporal. */
const WORKER_ANSWERED = new Set(['queryWorkflow']);

/** Thrown (and mapped to 503) when Temporal is unavailable or the breaker is open. */
export class TemporalUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(message);
    this.name = 'TemporalUnavailableError';
  }
}

/** True for a gRPC error that says Temporal is unreachable, overloaded or too slow (or our own timeout). */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof TaskCancelledError || err instanceof TemporalUnavailableError) return true;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'number' && UNAVAILABLE.has(code)) return true;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause !== undefined && cause !== err && isUnavailable(cause);
}

/** The policy and the client whose workflow-service calls run under it. */
export interface GuardedTemporal {
  client: Client;
  breaker: CircuitBreakerPolicy;
}

/** A Client on the same connection (eager start still works) whose calls run under the policy. */
export function guardTemporal(base: Client, settings: LimitsConfig['temporal']): GuardedTemporal {
  const retryAfterS = Math.max(1, Math.ceil(settings.breakerOpenMs / 1000));
  const breaker = circuitBreaker(handleWhen(isUnavailable), {
    halfOpenAfter: settings.breakerOpenMs,
    breaker: new ConsecutiveBreaker(settings.breakerFailures),
  });
  const retries = retry(handleWhen(isUnavailable), {
    maxAttempts: settings.retries,
    backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1_000 }),
  });
  // Why aggressive: the connection retries a refused call for about ten seconds on its own and
  // takes no deadline for that; the caller stops waiting at the timeout (tries included).
  const limit = timeout(settings.callTimeoutMs, TimeoutStrategy.Aggressive);
  const policy = wrap(breaker, limit, retries);
  const workerPolicy = limit;
  const connection = base.connection;
  const service = connection.workflowService as unknown as Record<string | symbol, unknown>;

  const guarded = new Proxy(service, {
    get(target, prop) {
      const value = target[prop];
      if (typeof value !== 'function') return value;
      if (typeof prop !== 'string' || LONG_POLLS.has(prop)) return value.bind(target);
      return async (req: unknown) => {
        try {
          // Why a deadline: with Temporal gone, a call is retried inside the connection for a
          // long while; the client should hear "unavailable" within the call timeout instead.
          return await (WORKER_ANSWERED.has(prop) ? workerPolicy : policy).execute(() =>
            connection.withDeadline(Date.now() + settings.callTimeoutMs, () =>
              (value as (r: unknown) => Promise<unknown>).call(target, req),
            ),
          );
        } catch (err) {
          if (err instanceof BrokenCircuitError)
            throw new TemporalUnavailableError(
              'Temporal is unavailable (the API stopped calling it for a moment after repeated failures)',
              retryAfterS,
            );
          if (err instanceof TaskCancelledError)
            throw new TemporalUnavailableError(`Temporal did not answer within ${settings.callTimeoutMs} ms (${prop})`, retryAfterS);
          if (isUnavailable(err)) throw new TemporalUnavailableError(`Temporal is unavailable (${prop})`, retryAfterS);
          throw err;
        }
      };
    },
  });
  const proxied = new Proxy(connection, {
    get(target, prop) {
      if (prop === 'workflowService') return guarded;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const client = new Client({
    connection: proxied,
    namespace: base.options.namespace,
    identity: base.options.identity,
    dataConverter: base.options.loadedDataConverter,
    interceptors: base.options.interceptors,
  });
  return { client, breaker };
}
