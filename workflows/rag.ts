/**
 * Pure helpers for RAG requests (no I/O; imports only contracts): what to retrieve, how the
 * passages enter the prompt, and what the answer reports.
 */
import type { AiRequest, Message } from '../contracts/request';
import type { Degradation } from '../contracts/response';
import type { RetrievalResult } from '../contracts/retrieval';

/** The text of a message's content (text parts joined; images ignored). */
function textOf(content: Message['content']): string {
  if (typeof content === 'string') return content;
  return (content ?? [])
    .map((p) => (p.type === 'text' ? p.text : ''))
    .filter(Boolean)
    .join('\n');
}

/** What to search for: `rag.query`, else the text of the last user message; undefined if neither. */
export function ragQueryOf(request: AiRequest): string | undefined {
  if (request.rag?.query) return request.rag.query;
  const last = [...request.messages].reverse().find((m) => m.role === 'user');
  const text = last ? textOf(last.content).trim() : '';
  return text || undefined;
}

/** The retrieval activity's input for a request with `rag`, or undefined (no rag, or nothing to search for). */
export function retrievalInputOf(request: AiRequest, defaultTopK: number): { collection: string; query: string; topK: number } | undefined {
  const query = request.rag && ragQueryOf(request);
  if (!request.rag || !query) return undefined;
  return { collection: request.rag.collection, query, topK: request.rag.topK ?? defaultTopK };
}

/** Distinct sources of the passages, best-ranked first: what the answer lists. */
export function sourcesOf(result: RetrievalResult): string[] {
  return [...new Set(result.passages.map((p) => p.source))];
}

/** The system message carrying the passages, numbered, each with its source. */
export function passagesMessage(result: RetrievalResult): Message {
  const sources = sourcesOf(result);
  const blocks = result.passages.map((p) => `[${sources.indexOf(p.source) + 1}] (source: ${p.source})\n${p.text.trim()}`);
  const content = [
    'Use the retrieved passages below to answer when they are relevant, and cite them by their number, e.g. [1].',
    'If they do not contain the answer, say so rather than guess.',
    '',
    'Retrieved passages:',
    '',
    blocks.join('\n\n'),
  ].join('\n');
  return { role: 'system', content };
}

/**
 * The request with the passages added as a system message, after the request's own leading
 * system messages (so the caller's instructions come first). No passages: the request unchanged.
 * Passages with the same source share one citation number.
 */
export function augmentWithPassages(request: AiRequest, result: RetrievalResult): AiRequest {
  if (!result.passages.length) return request;
  const messages = [...request.messages];
  let at = 0;
  while (at < messages.length && messages[at].role === 'system') at++;
  messages.splice(at, 0, passagesMessage(result));
  return { ...request, messages };
}

/** The `data` degradation record of a keyword-mode result, or undefined for a vector one. */
export function dataDegradationOf(result: RetrievalResult): Degradation | undefined {
  if (result.mode === 'vector') return undefined;
  return { kind: 'data', from: 'vector', to: 'keyword', reason: result.degradedReason ?? 'vector retrieval failed' };
}

/** A "Sources:" footer for an answer's text (empty when there are none). */
export function sourcesFooter(result: RetrievalResult): string {
  const sources = sourcesOf(result);
  return sources.length ? `\n\nSources:\n${sources.map((s, i) => `[${i + 1}] ${s}`).join('\n')}` : '';
}
