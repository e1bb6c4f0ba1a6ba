/**
 * Activity interfaces, as types only: workflows import this file with `import type`, so no
 * activity code ends up in the workflow bundle.
 */
import type { ProbeResult } from '../contracts/breaker';
import type { ProviderCallInput, ProviderCallResult, RoutingSnapshot } from '../contracts/routing';

/** Calls to a provider target. */
export interface ProviderActivities {
  /** Non-streaming call (run as a local activity). */
  callProvider(input: ProviderCallInput): Promise<ProviderCallResult>;
  /** Streaming call (a regular, heartbeating activity); chunks are published as they arrive. */
  streamProvider(input: ProviderCallInput): Promise<ProviderCallResult>;
}

/** Reading routing state. */
export interface RoutingActivities {
  getRoutingSnapshot(): Promise<RoutingSnapshot>;
}

/** Active health checks. */
export interface ProbeActivities {
  /** The target's health endpoint plus a tiny synthetic call. */
  probeTarget(target: string): Promise<ProbeResult>;
}

/** Delivering job results to callback URLs. */
export interface CallbackActivities {
  /** POSTs the payload, signed; throws (and is retried) unless the receiver answers 2xx. */
  deliverCallback(delivery: import('../contracts/callbacks').CallbackDelivery): Promise<import('../contracts/callbacks').CallbackReceipt>;
}
