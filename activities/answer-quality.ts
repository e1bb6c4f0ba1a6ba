/**
 * Answer checks a gateway can make in band, without a second model: a 200 that carries no usable
 * answer fails over like an error and counts against the target. Each check names the real
 * failure it catches; none knows any mock's output. `headProblem` judges the first few dozen
 * characters of a stream (before anything reaches the client); `answerProblem` a whole answer.
 */
import type { ProviderCallInput, ProviderCallResult } from '../contracts/routing';

type Request = ProviderCallInput['request'];

/** How much of a stream is held back for the head checks (a few dozen characters at most). */
export const HEAD_CHARS = 32;

const REPLACEMENT = '\uFFFD';
/** Longest repeated unit the loop detector looks for. */
const MAX_UNIT = 200;
/** A finish_reason "length" below this many completion tokens is a cut, not a long answer. */
const TINY_TOKENS = 32;

function promptText(request: Request): string {
  return request.messages.map((m) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? ''))).join('\n');
}

function wantsJson(request: Request): boolean {
  const format = request.response_format?.type;
  return format === 'json_object' || format === 'json_schema';
}

/**
 * U+FFFD in the answer: bytes were lost in decoding somewhere upstream (a model server cutting
 * UTF-8 sequences between chunks, a detokenizer mismatch, a proxy re-encoding). Skipped when the
 * prompt itself contains the character, so an answer quoting it is not blamed.
 */
function replacementChars(text: string, request: Request): string | undefined {
  if (!text.includes(REPLACEMENT) || promptText(request).includes(REPLACEMENT)) return undefined;
  const n = text.split(REPLACEMENT).length - 1;
  return `${n} U+FFFD replacement character(s): the answer's bytes were corrupted upstream`;
}

/**
 * A degenerate decoding loop: the text ends in one unit (a word, a phrase, a sentence) repeated
 * back to back, the way a model stuck in a repetition loop writes until its token budget runs out
 * (so a whole answer is judged only when it ended on its token limit).
 * Returns the unit and how much of the text the run covers.
 */
export function repetitionLoop(text: string, minRepeats: number): { unit: string; repeats: number; covered: number } | undefined {
  const n = text.length;
  let best: { unit: string; repeats: number; covered: number } | undefined;
  for (let p = 1; p <= Math.min(MAX_UNIT, Math.floor(n / minRepeats)); p++) {
    // Length of the periodic suffix with period p.
    let i = n - p - 1;
    while (i >= 0 && text[i] === text[i + p]) i--;
    const covered = n - 1 - i;
    const repeats = Math.floor(covered / p);
    if (repeats < minRepeats) continue;
    const unit = text.slice(n - p);
    // Only a unit with a letter or digit: rules (----), tables and indentation repeat by design.
    if (!/[\p{L}\p{N}]/u.test(unit)) continue;
    if (!best || covered > best.covered) best = { unit, repeats, covered };
  }
  return best;
}

/**
 * Why the first characters of a streamed answer are unusable, if they are. `head` is what the
 * provider sent so far (at least HEAD_CHARS, or the whole answer when it is shorter); `continuing`
 * is true for the rest of an answer begun elsewhere (no JSON opening to check then).
 */
export function headProblem(head: string, request: Request, continuing = false): string | undefined {
  const bad = replacementChars(head, request);
  if (bad) return bad;
  const trimmed = head.trim();
  const loop = trimmed.length >= HEAD_CHARS / 2 ? repetitionLoop(trimmed, 4) : undefined;
  if (loop && loop.covered >= trimmed.length * 0.75)
    return `the answer opens with ${JSON.stringify(loop.unit)} repeated ${loop.repeats} times: a degenerate decoding loop`;
  // JSON mode answers an object; prose first ("Sure! Here is…") means the mode was ignored.
  if (!continuing && wantsJson(request) && trimmed && !trimmed.startsWith('{')) {
    return `JSON was asked (response_format ${request.response_format?.type}) and the answer opens with ${JSON.stringify(trimmed.slice(0, 24))}`;
  }
  return undefined;
}

// #region guide:answer-problem
/**
 * Why an answer that came back with a 200 is useless, if it is: empty without tool calls (and not
 * a refusal), corrupted bytes, a repetition loop, cut by a token limit nobody asked for, or not JSON
 * where JSON was asked. Such answers fail over like errors. `before` is the part of the answer a
 * continuation was given (the checks judge the whole answer; an empty rest may be its right end).
 */
export function answerProblem(result: ProviderCallResult, request: Request, before = ''): string | undefined {
  const content = before + (result.message.content ?? '');
  const tools = result.message.tool_calls?.length ?? 0;
  if (!content.trim() && !tools && result.finishReason !== 'content_filter') {
    return `empty answer (finish reason ${result.finishReason}, ${result.usage.completion_tokens} completion tokens)`;
  }
  // Where JSON was asked, that it does not parse is the most useful thing to say.
  if (wantsJson(request) && !tools && result.finishReason === 'stop') {
    try {
      JSON.parse(content);
    } catch {
      return `JSON was asked (response_format ${request.response_format?.type}) and the answer does not parse: ${JSON.stringify(content.slice(0, 60))}`;
    }
  }
  const corrupted = replacementChars(content, request);
  if (corrupted) return corrupted;
  // A loop runs until the token budget does: an answer that repeats itself and ends on its own
  // (a list, a chant the user asked for) is not one.
  const loop = content.length >= 64 && result.finishReason === 'length' ? repetitionLoop(content, 4) : undefined;
  if (loop && loop.covered >= content.length / 2)
    return `${JSON.stringify(loop.unit.slice(0, 40))} repeated ${loop.repeats} times at the end of the answer: a degenerate decoding loop`;
  // A cut a few tokens in, when the caller asked for more (or nothing): the serving side clamps
  // the output (a tiny default like TGI's max_new_tokens, an overloaded deployment cutting short).
  const asked = request.max_tokens ?? request.max_completion_tokens;
  // Some OpenAI-compatible servers report no usage: estimate from the text then (~4 chars a token).
  const used = result.usage.completion_tokens || Math.ceil((result.message.content ?? '').length / 4);
  if (!before && result.finishReason === 'length' && !tools && used < TINY_TOKENS && (asked === undefined || asked > 2 * used)) {
    return `cut by a token limit after ${used} completion tokens although ${asked === undefined ? 'no limit' : `${asked} tokens`} was asked`;
  }
  return undefined;
}
// #endregion guide:answer-problem
