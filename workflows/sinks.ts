/**
 * Workflow sinks: how workflow code reports metrics without I/O. Sink calls run in the worker
 * after the activation, and not again on replay.
 */
import { proxySinks, type Sinks } from '@temporalio/workflow';

/** One request's end, for the metrics. */
export interface RequestFinished {
  status: 'completed' | 'failed' | 'cancelled';
  target?: string;
  /** The request's failovers: `switches.length` (see contracts/response.ts SwitchSchema). */
  failovers: number;
  degradations: string[];
  /** Workflow-clock ms from start to finish. */
  durationMs: number;
  /** One entry per failover, in order: target ids, and why the request left `from`. */
  switches: Array<{ from: string; to: string; reason: string }>;
  /** The tier of the requested model (or the tier itself when one was named), when it has one. */
  tier?: string;
}

export interface GatewaySinks extends Sinks {
  gateway: {
    requestFinished(ev: RequestFinished): void;
  };
}

export const { gateway: gatewaySink } = proxySinks<GatewaySinks>();
