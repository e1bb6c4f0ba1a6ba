/**
 * Workflow sinks: how workflow code reports metrics without I/O. Sink calls run in the worker
 * after the activation, and not again on replay.
 */
import { proxySinks, type Sinks } from '@temporalio/workflow';

export interface RequestFinished {
  status: 'completed' | 'failed' | 'cancelled';
  target?: string;
  failovers: number;
  degradations: string[];
  /** Workflow-clock ms from start to finish. */
  durationMs: number;
}

export interface GatewaySinks extends Sinks {
  gateway: {
    requestFinished(ev: RequestFinished): void;
  };
}

export const { gateway: gatewaySink } = proxySinks<GatewaySinks>();
