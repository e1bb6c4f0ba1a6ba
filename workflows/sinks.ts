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

/**
 * One breaker transition (of the target, or of one of its models when `model` is set), exported
 * by the breaker workflow itself: once, by the worker that ran the workflow task, never on replay.
 * `seq` numbers a breaker's transitions in order (target's and models' together), so a consumer
 * can drop the rare repeat of a retried workflow task.
 */
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
