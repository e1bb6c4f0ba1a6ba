/**
 * Walking a plan: one attempt after another until one answers, and the decisions between them:
 * skip what was tried or cannot fit the prompt, hedge, fall back to buffered mode, carry a cut
 * stream to the next candidate (or restart it afresh), end the request on its own fault, and stop
 * when the budget is spent. Every outcome goes into the trace.
 */
import { GatewayFailure, FailureType, REQUEST_FAULTS } from '../contracts/failures';
import type { Attempt } from '../contracts/response';
import type { ProviderCallResult, RoutingSnapshot } from '../contracts/routing';
import { attempt, type AttemptLimits, type Outcome } from './attempt';
import { firstTokenLimit, hedgeDelay, tryTimeout } from './limits';
import { buffersAfter, pairKey, type Mode, type PlannedCandidate, type Plan, type Stage } from './plan';
import type { Trace } from './trace';

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

function record(o: Outcome, hedgeDelayMs: number): Omit<Attempt, 'target' | 'model'> {
  switch (o.kind) {
    case 'answered':
      return { outcome: 'ok', durationMs: o.durationMs };
    case 'hedged':
      return { outcome: 'Hedged', error: `hedged after ${hedgeDelayMs} ms: the other call of the pair answered first, this one was aborted`, durationMs: o.durationMs };
    default:
      return { outcome: o.failure.type, error: o.failure.message, retries: o.failure.retries, durationMs: o.durationMs };
  }
}

/** The answer as the client gets it, with what a cut stream before it means for text, usage and the trace. */
function serve(won: Extract<Outcome, { kind: 'answered' }>, cut: Cut | undefined, trace: Trace): Served {
  const { answer, pair } = won;
  if (!cut) return { answer, ...pair };
  const at = `${pair.target} (${pair.model})`;
  const head = `the stream was cut after ${cut.text.length} characters (${cut.cause})`;
  if (!cut.continuing) {
    const reason = `${head}; ${cut.restartReason}; ${at} answered afresh, and the client's stream ended with an interruption error (the whole answer is in the job record)`;
    trace.degrade({ kind: 'mode', from: `stream from ${cut.from}`, to: `restarted on ${pair.target}`, reason });
    return { answer, ...pair };
  }
  trace.degrade({ kind: 'mode', from: `stream from ${cut.from}`, to: `continued on ${pair.target}`, reason: `${head}; ${at} continued the same answer from there` });
  const usage = { ...answer.usage, completion_tokens: answer.usage.completion_tokens + cut.tokens, total_tokens: answer.usage.total_tokens + cut.tokens };
  return { answer: { ...answer, message: { ...answer.message, content: cut.text + (answer.message.content ?? '') }, usage }, ...pair };
}

/** Walks `ctx.plan`; resolves with the answer, or throws the request's final error (with the trace). */
export async function walk(ctx: WalkContext): Promise<Served> {
  const { plan, snapshot, trace } = ctx;
  const queue: Step[] = plan.stages.flatMap((stage) => stage.candidates.map((candidate) => ({ stage, candidate, mode: candidate.mode, ...(candidate.modeSwitch ? { modeReason: candidate.modeSwitch } : {}) })));
  const tried = new Set<string>();
  const entered = new Set<Stage>();
  const refusers: Step[] = [];
  const tooSmall: PlannedCandidate[] = [];
  /** After a context-length refusal: only models with a larger window than this are tried. */
  let minWindow: number | undefined;
  let cut: Cut | undefined;
  let budgetSpent = false;
  const total = queue.length;
  const eligible = (s: Step) => s.again !== undefined || (!tried.has(pairKey(s.candidate)) && (minWindow === undefined || s.candidate.contextWindow > minWindow));

  for (let k = 0; k < queue.length; k++) {
    const step = queue[k];
    if (!eligible(step)) {
      if (minWindow !== undefined && !tried.has(pairKey(step.candidate)) && !tooSmall.includes(step.candidate)) tooSmall.push(step.candidate);
      continue;
    }
    const time = tryTimeout(snapshot, ctx.deadline, Date.now());
    if (!time) {
      budgetSpent = true;
      break;
    }
    const { candidate, stage } = step;
    const continuation = cut?.continuing && step.again !== 'fresh' ? cut.text : undefined;
    const limits: AttemptLimits = { ...time };
    const later = queue.slice(k + 1).filter(eligible);
    // Buffered, not streamed requests: the next candidate of the stage is called beside a slow one.
    const partner = !stage.request.stream && !step.again ? later.find((s) => s.stage === stage && !s.again) : undefined;
    const delay = partner ? hedgeDelay(snapshot, candidate.target, time.timeoutMs) : 0;
    if (partner && delay > 0) limits.hedge = { with: { target: partner.candidate.target, model: partner.candidate.model }, afterMs: delay };
    // A stream with somewhere else to go in its stage gives up on a silent first token early.
    if (step.mode === 'stream' && later.some((s) => s.stage === stage) && continuation === undefined) {
      const first = firstTokenLimit(snapshot, candidate.target);
      if (first !== undefined) limits.firstTokenMs = first;
    }

    tried.add(pairKey(candidate));
    if (stage.degradation && !entered.has(stage)) trace.degrade(stage.degradation);
    entered.add(stage);
    if (step.modeReason && step.mode === 'buffered' && stage.request.stream) trace.degrade({ kind: 'mode', from: 'stream', to: 'buffered', reason: step.modeReason });
    const moved = trace.begin(candidate);
    ctx.onProgress(candidate.target);

    const mode = step.mode === 'buffered' && stage.request.stream ? ', buffered' : '';
    const outcomes = await attempt({
      candidate,
      mode: step.mode,
      request: stage.request,
      policy: snapshot.policy,
      jobId: ctx.jobId,
      ...(ctx.streamTo !== undefined ? { streamTo: ctx.streamTo } : {}),
      summary: `${moved ? 'failover to' : 'call'} ${candidate.target} (${candidate.model}), candidate ${Math.min(k + 1, total)}/${total}${candidate.lastResort ? ` (last resort: ${candidate.lastResort})` : ''}${mode}`,
      limits,
      ...(moved ? { failoverFrom: { target: moved.from, reason: moved.reason } } : {}),
      ...(continuation !== undefined ? { continuation } : {}),
    });
    if (limits.hedge && outcomes.length > 1) tried.add(pairKey(limits.hedge.with));
    for (const o of outcomes) trace.record(o.pair, record(o, delay));
    ctx.onProgress();

    const won = outcomes.find((o) => o.kind === 'answered');
    if (won?.kind === 'answered') return serve(won, cut, trace);

    for (const o of outcomes) {
      if (o.kind === 'failed' && REQUEST_FAULTS.includes(o.failure.type)) {
        // The request itself is at fault: another target would refuse it too.
        throw trace.fail(o.failure.type, o.failure.message);
      }
      if (o.kind === 'failed' && o.failure.type === FailureType.ContextLength) {
        const window = queue.find((s) => pairKey(s.candidate) === pairKey(o.pair))?.candidate.contextWindow ?? 0;
        minWindow = Math.max(minWindow ?? 0, window);
      }
      if (o.kind === 'failed' && step.mode === 'stream' && !step.again && pairKey(o.pair) === pairKey(candidate) && buffersAfter(plan, o.failure.type)) {
        const modeReason = `the stream from ${candidate.target} failed before the first token (${o.failure.type})`;
        queue.splice(k + 1, 0, { ...step, mode: 'buffered', again: 'buffered', modeReason });
      }
      if (o.kind === 'interrupted' && step.again !== 'interrupted') queue.splice(k + 1, 0, { ...step, again: 'interrupted' });
      if (o.kind === 'refused') refusers.push(step);
      if (o.kind === 'cut') cut = cutAfter(cut, o, plan);
    }
    if (!queue.slice(k + 1).some(eligible) && cut?.continuing && refusers.length > 0) {
      // Nobody took the continuation: restart afresh, buffered (the client's stream is over), on
      // those that refused it (they are up: they refused the continuation, not the request).
      cut = { ...cut, continuing: false, restartReason: REFUSED_FRESH };
      queue.push(...refusers.splice(0).map((s): Step => ({ ...s, mode: 'buffered', again: 'fresh' })));
    }
  }
  throw exhausted(ctx, { tried: tried.size, budgetSpent, tooSmall, minWindow });
}

/** The cut state after a stream was cut (again). */
function cutAfter(prev: Cut | undefined, o: Extract<Outcome, { kind: 'cut' }>, plan: Plan): Cut {
  const text = (prev?.text ?? '') + o.failure.partialText;
  const base = { text, from: prev?.from ?? o.pair.target, cause: prev?.cause ?? o.failure.type, tokens: (prev?.tokens ?? 0) + o.failure.chunks };
  if (!plan.continuable) return { ...base, continuing: false, restartReason: 'a request with tools or a JSON answer, or one that forbids degradation, is never continued mid-answer' };
  // Continuing needs exactly what the client has; a cut whose text is unknown cannot be continued.
  if (!o.failure.partialText || (prev && !prev.continuing)) return { ...base, continuing: false, restartReason: prev?.restartReason ?? 'the text that reached the client is unknown' };
  return { ...base, continuing: true };
}

/** The error when nothing answered. */
function exhausted(ctx: WalkContext, w: { tried: number; budgetSpent: boolean; tooSmall: PlannedCandidate[]; minWindow?: number }) {
  const { plan, trace } = ctx;
  const tries = trace.attempts.map((a) => `${a.target}: ${a.outcome}`).join('; ');
  const skipped = [
    ...plan.skipped.map((x) => `${x.model} (${x.reason})`),
    ...w.tooSmall.map((c) => `${c.target}/${c.model} (a ${c.contextWindow}-token context window, no larger than one that refused the prompt as too long)`),
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
