/**
 * Workflow sinks: how workflow code reports metrics without I/O. Sink calls run in the worker
 * after the activation, and not again on replay.
 */
import { proxySinks, type Sinks } from '@temporalio/workflow';
import type { BreakerState } from '../contracts/routing';

/** One switch of a request from a target to another (a failover), counted once per switch. */
export interface TargetSwitch {
  from: string;
  to: string;
  /** Why it left `from`: the failure type, or e.g. "slow" for a hedge. */
  reason: string;
}

/** One request's end, for the metrics. */
export interface RequestFinished {
  status: 'completed' | 'failed' | 'cancelled';
  target?: string;
  /** The request's failovers: `switches.length` (see contracts/response.ts SwitchSchema). */
  failovers: number;
  /** Failure type of a failed request (a request fault, e.g. a 400, is the client's, not the gateway's). */
  errorType?: string;
  degradations: string[];
  /** Workflow-clock ms from start to finish. */
  durationMs: number;
  /** One entry per failover, in order: target ids, and why the request left `from`. */
  switches: TargetSwitch[];
  /** The tier of the requested model (or the tier itself when one was named), when it has one. */
  tier?: string;
}

/** A breaker transition, emitted once by the breaker workflow that decided it. */
export interface BreakerTransitionEvent {
  target: string;
  model?: string;
  from: BreakerState;
  to: BreakerState;
  reason: string;
  /** Workflow-clock epoch ms of the decision. */
  at: number;
  /** Position of this transition in the breaker's life (for ordering and de-duplication). */
  seq: number;
  /** The breaker's trip count after the transition. */
  trips: number;
}

export interface GatewaySinks extends Sinks {
  gateway: {
    requestFinished(ev: RequestFinished): void;
    breakerTransition(ev: BreakerTransitionEvent): void;
  };
}

export const { gateway: gatewaySink } = proxySinks<GatewaySinks>();
