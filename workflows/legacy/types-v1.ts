/**
 * The shapes the frozen v1 request workflow (request-v1.ts) works with: its answer and progress
 * have no failover count or switch list, and its metrics event has no switches. v1 counted a
 * failover per attempt before the answer; {@link withTraceV1} states that rule once, so answers of
 * v1 runs finishing after the upgrade carry the same fields as new ones.
 */
import type { AiResponse as Current, Attempt, Switch } from '../../contracts/response';
import type { RequestProgress as CurrentProgress } from '../../contracts/workflow-api';
import { gatewaySink as sink, type RequestFinished } from '../sinks';

/** An answer of the v1 workflow. */
export type AiResponse = Omit<Current, 'failovers' | 'switches'>;

/** The progress of a v1 run. */
export type RequestProgress = Omit<CurrentProgress, 'result' | 'switches' | 'failovers'> & { result?: AiResponse };

/** The metrics sink as v1 calls it: no switch list (a v1 run reports none). */
export const gatewaySink = {
  requestFinished: (ev: Omit<RequestFinished, 'switches'>): void => sink.requestFinished({ ...ev, switches: [] }),
};

/** v1's failovers: every attempt before the last one moved the request to the next attempt's target. */
export function switchesV1(attempts: Attempt[]): Switch[] {
  return attempts.slice(1).map((to, i) => ({
    from: attempts[i].target,
    fromModel: attempts[i].model,
    to: to.target,
    toModel: to.model,
    reason: attempts[i].outcome,
    attempt: i + 1,
  }));
}

/** A v1 answer with the fields answers carry today. */
export function withTraceV1(r: AiResponse): Current {
  const switches = switchesV1(r.attempts);
  return { ...r, failovers: switches.length, switches };
}
