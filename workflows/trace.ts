/**
 * The trace of one request: its attempts, its degradations, its failovers and its final error.
 * The one place that defines a failover (see contracts/response.ts SwitchSchema): the request
 * moved to another (target, model) after the one it was on failed, was cut, refused a
 * continuation or lost a hedge. Everything that reports a failover count reads it from here.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Attempt, Degradation, Switch, TraceDetails } from '../contracts/response';
import type { AnswerContext } from '../contracts/routing';
import type { RequestProgress } from '../contracts/workflow-api';

type Pair = { target: string; model: string };

const same = (a: Pair, b: Pair) => a.target === b.target && a.model === b.model;

/** The trace as plain data (it travels in a provider call's input, see AnswerContext). */
export type TraceState = AnswerContext['trace'];

/** Attempts, degradations and failovers of one request, in order. */
export class Trace {
  readonly attempts: Attempt[] = [];
  readonly degradations: Degradation[] = [];
  readonly switches: Switch[] = [];
  /** Where the request is, and why it is leaving there (set once that pair failed or lost). */
  private at?: Pair;
  private leaving?: string;

  /** How many times the request moved to another (target, model). */
  get failovers(): number {
    return this.switches.length;
  }

  /**
   * A try of `c` begins (the first call of an attempt, not a hedge beside it). Returns the failover
   * this begins, if the request was leaving another pair.
   */
  begin(c: Pair): Switch | undefined {
    if (!this.at || same(this.at, c)) {
      // The first try, or the same pair again (a mode switch, a retry after an interruption).
      this.at = { target: c.target, model: c.model };
      this.leaving = undefined;
      return undefined;
    }
    return this.moveTo(c);
  }

  /**
   * Records one finished call of `c`. `outcome` is "ok" or why it did not answer. A call of another
   * pair while the request's pair is still fine (the hedge beside it) is not a failover; it becomes
   * one when it answers after the request's pair lost, or fails after that pair failed too.
   */
  record(c: Pair, attempt: Omit<Attempt, 'target' | 'model'>): void {
    if (!this.at) this.at = { target: c.target, model: c.model };
    else if (!same(this.at, c) && this.leaving !== undefined) this.moveTo(c);
    this.attempts.push({ target: c.target, model: c.model, ...attempt });
    if (attempt.outcome !== 'ok' && same(this.at, c)) this.leaving = attempt.outcome;
  }

  /** Records a degradation (once: the same record twice is one degradation). */
  degrade(d: Degradation): void {
    if (!this.degradations.some((x) => x.kind === d.kind && x.from === d.from && x.to === d.to)) this.degradations.push(d);
  }

  /** Withdraws a degradation the answer did not take (the very record {@link Trace.degrade} kept). */
  withdraw(d: Degradation): void {
    const i = this.degradations.indexOf(d);
    if (i >= 0) this.degradations.splice(i, 1);
  }

  /** What a failure of this request carries, and what an answer reports. */
  details(): Required<TraceDetails> {
    return { attempts: this.attempts, degradations: this.degradations, failovers: this.failovers, switches: this.switches };
  }

  /** The request's final error: `type` and `message`, with the whole trace. */
  fail(type: string, message: string): ApplicationFailure {
    return ApplicationFailure.create({ type, message, nonRetryable: true, details: [this.details()] });
  }

  /** A copy of everything the trace holds (for {@link Trace.from}). */
  state(): TraceState {
    const copy = <T extends object>(xs: T[]) => xs.map((x) => ({ ...x }));
    return {
      attempts: copy(this.attempts),
      degradations: copy(this.degradations),
      switches: copy(this.switches),
      ...(this.at ? { at: { ...this.at } } : {}),
      ...(this.leaving !== undefined ? { leaving: this.leaving } : {}),
    };
  }

  /** The trace `state()` described, to go on from there. */
  static from(s: TraceState): Trace {
    const t = new Trace();
    t.attempts.push(...s.attempts.map((a) => ({ ...a })));
    t.degradations.push(...s.degradations.map((d) => ({ ...d })));
    t.switches.push(...s.switches.map((x) => ({ ...x })));
    if (s.at) t.at = { ...s.at };
    if (s.leaving !== undefined) t.leaving = s.leaving;
    return t;
  }

  /** The trace part of the progress query's answer. */
  view(): Pick<Required<RequestProgress>, 'attempts' | 'degradations' | 'switches' | 'failovers'> {
    return this.details();
  }

  private moveTo(c: Pair): Switch | undefined {
    const from = this.at;
    if (!from || same(from, c) || this.leaving === undefined) return undefined;
    const s: Switch = {
      from: from.target,
      fromModel: from.model,
      to: c.target,
      toModel: c.model,
      reason: this.leaving,
      attempt: this.attempts.length,
    };
    this.switches.push(s);
    this.at = { target: c.target, model: c.model };
    this.leaving = undefined;
    return s;
  }
}
