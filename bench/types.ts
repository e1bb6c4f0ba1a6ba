/** Shapes of the bench's config edits and of its JSON report. */
import type { HistoryCost, meanCost } from './history';
import type { fivexxPhase, idlePhase, longCallsPhase, MeasuredRun, pathsPhase, rampPhase, RealisticRow, throughputPhase } from './phases';

/** The parts of a raw (YAML) gateway config the bench rewires. */
export interface RawConfig {
  targets: Array<{ id: string; kind: string; baseUrl: string }>;
  temporal: Record<string, unknown> & { address?: string; namespace?: string; uiPort?: number; dataDir?: string };
  api: Record<string, unknown> & { port?: number };
  rag?: Record<string, unknown> & { sample?: Record<string, unknown> };
  routing?: Record<string, unknown>;
  breaker?: Record<string, unknown>;
  [key: string]: unknown;
}

type Result<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;

/** What the bench measured for one variant, phase by phase. */
export interface VariantResults {
  paths?: Result<typeof pathsPhase>;
  long?: Result<typeof longCallsPhase>;
  throughput?: Result<typeof throughputPhase>;
  ramp?: Result<typeof rampPhase>;
  fivexx?: Result<typeof fivexxPhase>;
  rssMb?: Record<string, number>;
}

/** bench.json. */
export interface BenchReport {
  startedAt: string;
  finishedAt?: string;
  machine: { host: string; cpus: number; model?: string; load: number };
  settings: Record<string, unknown>;
  /** Variant name → checkout. */
  variants: Record<string, string>;
  idle?: Result<typeof idlePhase>;
  /** rate → path → run. */
  fast?: Record<string, Record<string, MeasuredRun>>;
  /** kind → path → row. */
  realistic?: Record<string, Record<string, RealisticRow>>;
  byVariant?: Record<string, VariantResults>;
  split?: { idle?: Result<typeof idlePhase>; runs: Record<string, MeasuredRun & { rssMb: Record<string, number> }> };
}

export type { HistoryCost, meanCost };
