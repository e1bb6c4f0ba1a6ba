/**
 * Walking a plan: one attempt after another until one answers, and the decisions between them:
 * skip what was tried or cannot fit the prompt, hedge, fall back to buffered mode, carry a cut
 * stream to the next candidate (or restart it afresh), end the request on its own fault, and stop
 * when the budget is spent. Every outcome goes into the trace.
 */
import { GatewayFailure, FailureType, REQUEST_FAULTS } from '../contracts/failures';
import type { Degradation } from '../contracts/response';
import type { ProviderCallResult, RoutingSnapshot } from '../contracts/routing';
import { attempt, type AttemptLimits, type Outcome } from './attempt';
import { firstTokenLimit, hedgeDelay, tryTimeout } from './limits';
import { attemptRecord } from './outcome';
import { buffersAfter, pairKey, type Mode, type PlannedCandidate, type Plan, type Stage } from './plan';
import type { Trace, TraceState } from './trace';

/** One step of the walk: a candidate of a stage, in a mode. */
interface Step {
  stage: Stage;
  candidate: PlannedCandidate;
  mode: Mode;
  /** A step the walk added: the same pair again (buffered after a broken stream, after an interruption, or afresh). */
  again?: 'buffered' | 'interrupted' | 'fresh';
  /** Why this step runs buffered although the request streams (a mode degradation). */
  modeReason?: string;
}

/** A stream cut after tokens reached the client. */
interface Cut {
  /** Everything the client has so far (all cut parts). */
  text: string;
  from: string;
  cause: string;
  /** Completion tokens of the cut parts: one per streamed chunk (providers send no usage for a cut stream). */
  tokens: number;
  /** The next candidate continues `text`; when false, the answer restarts and the client's stream ends in an error. */
  continuing: boolean;
  /** Why the answer restarts (when not continuing). */
  restartReason?: string;
}

/** What the walk needs besides the plan. */
export interface WalkContext {
  plan: Plan;
  snapshot: RoutingSnapshot;
  trace: Trace;
  jobId: string;
  streamTo?: string;
  /** Epoch ms (workflow clock) after which no try starts. */
  deadline?: number;
  /**
   * Each call publishes the response to the waiting client the moment it has it (while no stream
   * was cut: a cut changes the answer after the call), with these sources (RAG).
   */
  answerEarly?: { sources?: string[] };
  /**
   * Patched (request.ts LEAN_PATH_PATCH): no same-target retry while another candidate is left,
   * and a target known to be slow is called as a regular activity.
   */
  lean?: boolean;
  /** The walk moved on: a try of `target` begins, or an attempt ended. */
  onProgress(target?: string): void;
}

/** The answer of a walk, as it goes to the client. */
export interface Served {
  answer: ProviderCallResult;
  target: string;
  model: string;
}

const REFUSED_FRESH = 'no candidate accepted the continuation';

/** The answer as the client gets it, with what a cut stream before it means for text, usage and the trace. */
function serve(won: Extract<Outcome, { kind: 'answered' }>, cut: Cut | undefined, trace: Trace): Served {
  const { answer, pair } = won;
  if (!cut) return { answer, ...pair };
  const at = `${pair.target} (${pair.model})`;
  const head = `the stream was cut after ${cut.text.length} characters (${cut.cause})`;
  if (!cut.continuing) {
    const after = `${at} answered afresh, and the client's stream ended with an interruption error (the whole answer is in the job record)`;
    const reason = `${head}; ${cut.restartReason}; ${after}`;
    trace.degrade({ kind: 'mode', from: `stream from ${cut.from}`, to: `restarted on ${pair.target}`, reason });
    return { answer, ...pair };
  }
  trace.degrade({
    kind: 'mode',
    from: `stream from ${cut.from}`,
    to: `continued on ${pair.target}`,
    reason: `${head}; ${at} continued the same answer from there`,
  });
  const usage = {
    ...answer.usage,
    completion_tokens: answer.usage.completion_tokens + cut.tokens,
    total_tokens: answer.usage.total_tokens + cut.tokens,
  };
  return { answer: { ...answer, message: { ...answer.message, content: cut.text + (answer.message.content ?? '') }, usage }, ...pair };
}

/** How long calls to `target` take, as observed (non-streaming calls first), when known. */
function expected(snapshot: RoutingSnapshot, target: string): { expectedMs?: number } {
  const t = snapshot.targets.find((x) => x.id === target);
  const ms = t?.callLatencyMs ?? t?.latencyMs;
  return ms === undefined ? {} : { expectedMs: ms };
}

/** Walks `ctx.plan`; resolves with the answer, or throws the request's final error (with the trace). */
export function walk(ctx: WalkContext): Promise<Served> {
  return new Walk(ctx).run();
}

/** The walk's state: what was tried, what a context-length refusal rules out, the cut stream. */
class Walk {
  private readonly queue: Step[];
  private readonly tried = new Set<string>();
  private readonly entered = new Set<Stage>();
  private readonly refusers: Step[] = [];
  private readonly tooSmall: PlannedCandidate[] = [];
  /** After a context-length refusal: only models with a larger window than this are tried. */
  private minWindow?: number;
  private cut?: Cut;
  private budgetSpent = false;
  /** The degradations each stage declared (read when last resorts are deferred). */
  private readonly declared: Array<{ stage: Stage; d: Degradation }> = [];

  constructor(private readonly ctx: WalkContext) {
    this.queue = ctx.plan.tries.map(({ stage, candidate }): Step => ({
      stage,
      candidate,
      mode: candidate.mode,
      ...(candidate.modeSwitch ? { modeReason: candidate.modeSwitch } : {}),
    }));
  }

  async run(): Promise<Served> {
    const { trace } = this.ctx;
    for (let k = 0; k < this.queue.length; k++) {
      const step = this.queue[k];
      if (!this.eligible(step)) {
        this.noteTooSmall(step);
        continue;
      }
      const time = tryTimeout(this.ctx.snapshot, this.ctx.deadline, Date.now());
      if (!time) {
        this.budgetSpent = true;
        break;
      }
      const later = this.queue.slice(k + 1).filter((s) => this.eligible(s));
      const continuation = this.cut?.continuing && step.again !== 'fresh' ? this.cut.text : undefined;
      const limits = this.limitsOf(step, later, time, continuation);
      const outcomes = await this.attempt(step, k, limits, continuation, later.length > 0);
      const won = outcomes.find((o) => o.kind === 'answered');
      if (won?.kind === 'answered') {
        for (const d of this.notTaken(step.stage)) trace.withdraw(d);
        return serve(won, this.cut, trace);
      }
      for (const o of outcomes) this.after(o, step, k);
      if (!this.queue.slice(k + 1).some((s) => this.eligible(s)) && this.cut?.continuing && this.refusers.length > 0) {
        // Nobody took the continuation: restart afresh, buffered (the client's stream is over), on
        // those that refused it (they are up: they refused the continuation, not the request).
        this.cut = { ...this.cut, continuing: false, restartReason: REFUSED_FRESH };
        this.queue.push(...this.refusers.splice(0).map((s): Step => ({ ...s, mode: 'buffered', again: 'fresh' })));
      }
    }
    throw exhausted(this.ctx, { tried: this.tried.size, budgetSpent: this.budgetSpent, tooSmall: this.tooSmall });
  }

  /**
   * The degradations an answer from `stage` did not take: those of the stages after it, declared
   * before a deferred last resort of `stage` was called (deferLastResort). The attempts stay.
   */
  private notTaken(stage: Stage): Degradation[] {
    if (!this.ctx.plan.lastResortDeferred) return [];
    const at = this.ctx.plan.stages.indexOf(stage);
    return this.declared.filter((x) => this.ctx.plan.stages.indexOf(x.stage) > at).map((x) => x.d);
  }

  /** Not tried yet (or added again on purpose), and not ruled out by a context-length refusal. */
  private eligible(s: Step): boolean {
    if (s.again !== undefined) return true;
    return !this.tried.has(pairKey(s.candidate)) && (this.minWindow === undefined || s.candidate.contextWindow > this.minWindow);
  }

  private noteTooSmall(s: Step): void {
    if (this.minWindow !== undefined && !this.tried.has(pairKey(s.candidate)) && !this.tooSmall.includes(s.candidate))
      this.tooSmall.push(s.candidate);
  }

  /** The limits of a try: the budget left, a hedge beside a slow buffered call, a first-token limit. */
  private limitsOf(step: Step, later: Step[], time: { timeoutMs?: number }, continuation: string | undefined): AttemptLimits {
    const { snapshot } = this.ctx;
    const { candidate, stage } = step;
    const limits: AttemptLimits = { ...time };
    // Buffered, not streamed requests: the next candidate of the stage is called beside a slow one.
    // A deferred last resort is no partner of a healthy candidate: it is called only when the lower models failed too.
    const deferred = (s: Step) =>
      this.ctx.plan.lastResortDeferred === true && s.candidate.lastResort !== undefined && candidate.lastResort === undefined;
    const partner = !stage.request.stream && !step.again ? later.find((s) => s.stage === stage && !s.again && !deferred(s)) : undefined;
    const delay = partner ? hedgeDelay(snapshot, candidate.target, time.timeoutMs) : 0;
    if (partner && delay > 0) limits.hedge = { with: { target: partner.candidate.target, model: partner.candidate.model }, afterMs: delay };
    // A stream with somewhere else to go in its stage gives up on a silent first token early.
    if (step.mode === 'stream' && continuation === undefined && later.some((s) => s.stage === stage)) {
      const first = firstTokenLimit(snapshot, candidate.target);
      if (first !== undefined) limits.firstTokenMs = first;
    }
    return limits;
  }

  /** Runs one step and records its outcomes (and the degradations it stands for) in the trace. */
  private async attempt(
    step: Step,
    k: number,
    limits: AttemptLimits,
    continuation: string | undefined,
    othersLeft: boolean,
  ): Promise<Outcome[]> {
    const { ctx } = this;
    const { trace } = ctx;
    const { candidate, stage } = step;
    this.tried.add(pairKey(candidate));
    const known = trace.degradations.length;
    if (stage.degradation && !this.entered.has(stage)) trace.degrade(stage.degradation);
    this.entered.add(stage);
    const buffered = step.mode === 'buffered' && stage.request.stream === true;
    if (step.modeReason && buffered) trace.degrade({ kind: 'mode', from: 'stream', to: 'buffered', reason: step.modeReason });
    for (const d of trace.degradations.slice(known)) this.declared.push({ stage, d });
    const notTaken = this.notTaken(stage);
    const moved = trace.begin(candidate);
    ctx.onProgress(candidate.target);
    const total = this.queue.length;
    const lastResort = candidate.lastResort ? ` (last resort: ${candidate.lastResort})` : '';
    const outcomes = await attempt({
      candidate,
      mode: step.mode,
      request: stage.request,
      policy: ctx.snapshot.policy,
      jobId: ctx.jobId,
      ...(ctx.streamTo !== undefined ? { streamTo: ctx.streamTo } : {}),
      summary: `${moved ? 'failover to' : 'call'} ${candidate.target} (${candidate.model}), candidate ${k + 1}/${total}${lastResort}${buffered ? ', buffered' : ''}`,
      limits,
      ...(moved ? { failoverFrom: { target: moved.from, reason: moved.reason } } : {}),
      ...(continuation !== undefined ? { continuation } : {}),
      ...(ctx.answerEarly && !this.cut ? { answerTo: { trace: answerState(trace, notTaken), ...ctx.answerEarly } } : {}),
      ...(ctx.lean ? { othersLeft, ...expected(ctx.snapshot, candidate.target) } : {}),
    });
    if (limits.hedge && outcomes.length > 1) this.tried.add(pairKey(limits.hedge.with));
    for (const o of outcomes) trace.record(o.pair, attemptRecord(o, limits.hedge?.afterMs ?? 0));
    ctx.onProgress();
    return outcomes;
  }

  /** What an outcome without an answer means for the rest of the walk. */
  private after(o: Outcome, step: Step, k: number): void {
    switch (o.kind) {
      case 'failed':
        if (REQUEST_FAULTS.includes(o.failure.type)) {
          // The request itself is at fault: another target would refuse it too.
          throw this.ctx.trace.fail(o.failure.type, o.failure.message);
        }
        if (o.failure.type === FailureType.ContextLength) {
          const window = this.queue.find((s) => pairKey(s.candidate) === pairKey(o.pair))?.candidate.contextWindow ?? 0;
          this.minWindow = Math.max(this.minWindow ?? 0, window);
        }
        if (
          step.mode === 'stream' &&
          !step.again &&
          pairKey(o.pair) === pairKey(step.candidate) &&
          buffersAfter(this.ctx.plan, o.failure.type)
        ) {
          const modeReason = `the stream from ${step.candidate.target} failed before the first token (${o.failure.type})`;
          this.queue.splice(k + 1, 0, { ...step, mode: 'buffered', again: 'buffered', modeReason });
        }
        return;
      case 'interrupted':
        if (step.again !== 'interrupted') this.queue.splice(k + 1, 0, { ...step, again: 'interrupted' });
        return;
      case 'refused':
        this.refusers.push(step);
        return;
      case 'cut':
        this.cut = cutAfter(this.cut, o, this.ctx.plan);
        return;
      default:
        return;
    }
  }
}

/** The trace an answer of this call reports: without the degradations it did not take. */
function answerState(trace: Trace, notTaken: Degradation[]): TraceState {
  const state = trace.state();
  if (notTaken.length === 0) return state;
  return { ...state, degradations: trace.degradations.filter((d) => !notTaken.includes(d)).map((d) => ({ ...d })) };
}

/** The cut state after a stream was cut (again). */
function cutAfter(prev: Cut | undefined, o: Extract<Outcome, { kind: 'cut' }>, plan: Plan): Cut {
  const text = (prev?.text ?? '') + o.failure.partialText;
  const base = {
    text,
    from: prev?.from ?? o.pair.target,
    cause: prev?.cause ?? o.failure.type,
    tokens: (prev?.tokens ?? 0) + o.failure.chunks,
  };
  if (!plan.continuable) return { ...base, continuing: false, restartReason: plan.noContinuation ?? 'the request is not continued' };
  // Continuing needs exactly what the client has; a cut whose text is unknown cannot be continued.
  if (!o.failure.partialText || (prev && !prev.continuing)) {
    return { ...base, continuing: false, restartReason: prev?.restartReason ?? 'the text that reached the client is unknown' };
  }
  return { ...base, continuing: true };
}

/** The error when nothing answered. */
function exhausted(ctx: WalkContext, w: { tried: number; budgetSpent: boolean; tooSmall: PlannedCandidate[] }) {
  const { plan, trace } = ctx;
  const tries = trace.attempts.map((a) => `${a.target}: ${a.outcome}`).join('; ');
  const skipped = [
    ...plan.skipped.map((x) => `${x.model} (${x.reason})`),
    ...w.tooSmall.map(
      (c) => `${c.target}/${c.model} (a ${c.contextWindow}-token context window, no larger than one that refused the prompt as too long)`,
    ),
  ];
  const notTried = skipped.length ? `; not tried: ${skipped.join(', ')}` : '';
  const noDegrade = plan.degradationAllowed ? '' : '; degradation is off for this request';
  const spent = w.budgetSpent ? `; the request's budget of ${plan.budgetMs} ms is spent` : '';
  const head = w.budgetSpent ? `${w.tried} candidate(s) tried, all` : `all ${w.tried} candidate(s)`;
  const message = `${head} failed (${tries})${notTried}${noDegrade}${spent}`;
  const allTooLong = trace.attempts.length > 0 && trace.attempts.every((a) => a.outcome === FailureType.ContextLength);
  if (allTooLong) return trace.fail(FailureType.ContextLength, `the prompt is too long for every model that could serve it: ${message}`);
  return trace.fail(GatewayFailure.Exhausted, message);
}
