/**
 * The load generator's completeness checks, against a small fake of the gateway's API over real
 * HTTP (the official SDK on the client side): a tool call must call the request's own tool with
 * JSON arguments, a RAG answer must name its sources, and a client with an Idempotency-Key sends
 * again through errors and keeps every job id it was given.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runChatRequest, toolNameFor, type ChatSpec } from './load-chat';
import { runJobRequest } from './load-jobs';
import { idempotencyOf } from './calls';
import { chatSpecFor, kindFor, promptFor } from './load';
import { endsWithNonce, type RequestRecord } from './records';

type Handler = (req: http.IncomingMessage, body: Record<string, any>, res: http.ServerResponse) => void;
let handler: Handler;
let server: http.Server;
let apiUrl: string;
const t0 = Date.now();
const opts = () => ({
  apiUrl,
  model: 'gpt-4o',
  clientTimeoutS: 10,
  now: () => Date.now() - t0,
  rag: { collection: 'sample', question: 'q' },
});
let seq = 0;
const rec = (kind: RequestRecord['kind']): RequestRecord => {
  const id = seq++;
  return { id, kind, nonce: `qz${id}x00aa11`, startedAt: Date.now() - t0, ok: false, complete: false, truncated: false };
};
const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const completion = (message: Record<string, unknown>, finish: string, ext: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-x',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content: null, ...message }, finish_reason: finish }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  stormproof: {
    job_id: 'job-1',
    target: 'openai-us-east-1',
    failovers: 0,
    attempts: [{ target: 'openai-us-east-1', model: 'gpt-4o', outcome: 'ok' }],
    degradations: [],
    ...ext,
  },
});
const lastUser = (body: Record<string, any>) => body.request?.messages?.at(-1)?.content ?? body.messages?.at(-1)?.content ?? '';

before(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => handler(req, raw ? JSON.parse(raw) : {}, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const tool: ChatSpec = { stream: false, tool: true, rag: false };

test('a tool call counts only when it calls the request’s own tool with JSON arguments', async () => {
  let reply: (body: Record<string, any>) => { name: string; args: string } = (b) => ({ name: b.tools[0].function.name, args: '{}' });
  handler = (_req, body, res) => {
    const { name, args } = reply(body);
    json(res, 200, completion({ tool_calls: [{ id: 'c1', type: 'function', function: { name, arguments: args } }] }, 'tool_calls'));
  };
  const good = rec('tool');
  await runChatRequest(opts(), good, tool, promptFor(good.id, good.nonce, 8, 'tool'));
  assert.deepEqual([good.ok, good.complete, good.truncated], [true, true, false]);
  assert.equal(good.attempts?.length, 1, 'the trace is kept');

  reply = () => ({ name: 'lookup_qz999x00aa11', args: '{}' }); // another request's tool
  const wrong = rec('tool');
  await runChatRequest(opts(), wrong, tool, 'use the tool x');
  assert.deepEqual([wrong.ok, wrong.truncated, wrong.error?.code], [false, true, 'incomplete_tool_call']);

  reply = (b) => ({ name: b.tools[0].function.name, args: '{"q": "cut' });
  const cut = rec('tool');
  await runChatRequest(opts(), cut, tool, 'use the tool x');
  assert.deepEqual([cut.ok, cut.error?.code], [false, 'incomplete_tool_call']);
});

test('a streamed tool call is assembled from its chunks and needs [DONE]', async () => {
  handler = (_req, body, res) => {
    const name = body.tools[0].function.name;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'x-stormproof-target': 'openai-us-east-1' });
    const chunk = (delta: unknown, finish: string | null = null, extra = {}) =>
      `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    res.write(
      chunk({
        role: 'assistant',
        content: null,
        tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name, arguments: '' } }],
      }),
    );
    res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"q":' } }] }));
    res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '"x"}' } }] }));
    res.write(
      chunk({}, 'tool_calls', {
        stormproof: { attempts: [{ target: 'a', model: 'gpt-4o', outcome: 'ok' }], degradations: [{ kind: 'mode' }] },
      }),
    );
    res.end('data: [DONE]\n\n');
  };
  const r = rec('tool');
  await runChatRequest(opts(), r, { ...tool, stream: true }, 'use the tool x');
  assert.deepEqual([r.ok, r.sawDone, r.degraded], [true, true, 'mode']);
  assert.ok(r.ttftMs !== undefined);
});

test('a RAG answer must end with its nonce and name its sources', async () => {
  let sources: string[] | undefined = ['config/rag-sample/failover.md'];
  handler = (_req, body, res) => {
    assert.deepEqual(body.rag, { collection: 'sample' });
    json(
      res,
      200,
      completion({ content: `Echo: ${lastUser(body)}` }, 'stop', sources ? { sources, degradations: [{ kind: 'data' }] } : {}),
      {
        'x-stormproof-degraded': sources ? 'data' : 'false',
      },
    );
  };
  const rag: ChatSpec = { stream: false, tool: false, rag: true };
  const good = rec('rag');
  await runChatRequest(opts(), good, rag, `a b ${good.nonce}`);
  assert.deepEqual([good.ok, good.sources, good.degraded], [true, ['config/rag-sample/failover.md'], 'data']);
  sources = undefined;
  const none = rec('rag');
  await runChatRequest(opts(), none, rag, `a b ${none.nonce}`);
  assert.deepEqual([none.ok, none.complete, none.truncated, none.error?.code], [false, true, false, 'rag_without_sources']);
});

test('chat with an Idempotency-Key is sent again through a 503 and keeps each answer’s job id', async () => {
  const keys: string[] = [];
  let honour = true;
  handler = (req, body, res) => {
    const key = String(req.headers['idempotency-key']);
    keys.push(key);
    const job = honour ? `job-for-${key}` : `job-${keys.length}`;
    if (keys.length % 2 === 1)
      return json(res, 503, { error: { message: 'down', type: 'server_error', code: 'x' } }, { 'x-stormproof-job-id': job });
    json(res, 200, completion({ content: `Echo: ${lastUser(body)}` }, 'stop'), { 'x-stormproof-job-id': job });
  };
  const spec: ChatSpec = { stream: false, tool: false, rag: false, key: { key: 'k-1', maxSends: 3, backoffMs: 10, resend: false } };
  const r = rec('chat');
  await runChatRequest(opts(), r, spec, `a ${r.nonce}`);
  assert.deepEqual(keys, ['k-1', 'k-1']);
  assert.equal(r.ok, true);
  assert.deepEqual(r.idempotency, { key: 'k-1', sends: 2, jobIds: ['job-for-k-1', 'job-for-k-1'] });

  honour = false; // an endpoint that ignores the key: a new job per send
  keys.length = 0;
  const r2 = rec('chat');
  await runChatRequest(opts(), r2, { ...spec, key: { ...spec.key!, key: 'k-2' } }, `a ${r2.nonce}`);
  assert.equal(idempotencyOf([r, r2]).duplicateJobs, 1, 'the second key got two jobs');
});

test('a job with an Idempotency-Key is submitted again when the API drops the connection, and sent once more after its 202 when told', async () => {
  const posts: string[] = [];
  handler = (req, body, res) => {
    if (req.method === 'POST') {
      posts.push(String(req.headers['idempotency-key']));
      if (posts.length === 1) return req.socket.destroy(); // the API died with the submission in flight
      return json(res, 202, { id: `job-${req.headers['idempotency-key']}`, status: 'queued' });
    }
    const nonce = 'qz' + req.url!.split('-qz')[1];
    json(res, 200, {
      id: 'x',
      status: 'completed',
      result: { target: 'anthropic-eu-west-1', model: 'claude-sonnet-4', message: { content: `Echo ${nonce}` } },
      attempts: [
        { target: 'openai-us-east-1', model: 'gpt-4o', outcome: 'ProviderUnavailable' },
        { target: 'anthropic-eu-west-1', model: 'claude-sonnet-4', outcome: 'ok' },
      ],
      degradations: [],
    });
  };
  const r = rec('job');
  await runJobRequest(opts(), r, `a ${r.nonce}`, { key: `k-${r.nonce}`, maxSends: 4, backoffMs: 10, resend: true });
  assert.equal(posts.length, 3, 'dropped, accepted, sent again after the 202');
  assert.deepEqual(r.idempotency?.jobIds, [`job-k-${r.nonce}`, `job-k-${r.nonce}`]);
  assert.deepEqual([r.ok, r.job?.status, r.failovers, r.attempts?.length], [true, 'completed', 1, 2]);
});

test('kinds spread over the mix; tool requests alternate streamed and not, and ask for the tool', () => {
  const kinds = Array.from({ length: 700 }, (_, i) => kindFor(i, { chat: 2, stream: 2, tool: 1, rag: 1, job: 1 }));
  const count = (k: string) => kinds.filter((x) => x === k).length;
  assert.ok(Math.abs(count('chat') - 200) <= 3 && Math.abs(count('tool') - 100) <= 3, JSON.stringify([count('chat'), count('tool')]));
  assert.deepEqual([chatSpecFor(1, 'tool').stream, chatSpecFor(2, 'tool').stream, chatSpecFor(2, 'rag').rag], [true, false, true]);
  assert.match(promptFor(3, 'qz3xabc123', 8, 'tool'), /^use the tool .* qz3xabc123$/);
  assert.match(
    promptFor(3, 'qz3xabc123', 4, 'rag', 'When does a circuit breaker open?'),
    /^When does a circuit breaker open\? qz3xabc123$/,
  );
  assert.equal(toolNameFor('qz3xabc123'), 'lookup_qz3xabc123');
  assert.match(
    promptFor(3, 'qz3xabc123', 4, 'chat', '', 'repeat'),
    /^Repeat the following words exactly, with nothing before or after them: .*qz3xabc123$/,
  );
});

test('an answer is whole when it ends with its nonce (closing punctuation a model adds aside), never when cut before it', () => {
  assert.equal(endsWithNonce('alpha qz3xabc123', 'qz3xabc123'), true);
  assert.equal(endsWithNonce('"alpha qz3xabc123."\n', 'qz3xabc123'), true);
  assert.equal(endsWithNonce('alpha qz3xabc1', 'qz3xabc123'), false);
  assert.equal(endsWithNonce('alpha qz3xabc123 and more', 'qz3xabc123'), false);
  assert.equal(endsWithNonce(null, 'qz3xabc123'), false);
});
