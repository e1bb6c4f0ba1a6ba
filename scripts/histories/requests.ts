/**
 * Request-workflow paths (aiRequestWorkflow): happy path per provider kind, failover, retries,
 * non-retryable faults, Retry-After, streaming, stalls, cancellation, the chat endpoint.
 */
import { REQUEST_WORKFLOW } from '../../contracts/workflow-api';
import { refusingProxy, type RefusingProxy } from '../../test/support/refusing-proxy';
import { chat, type TestStack } from '../../test/support/stack';
import { job, submitJob, waitFor, type Scenario, type ScenarioContext } from './scenario';

const PRIMARY = 'openai-us-east-1';

/** The stack every request scenario shares: default test config, breakers and probes off. */
const stack = (ctx: ScenarioContext) => ctx.shared('requests');

/** A scenario of one job against the shared stack, with `faults` on the primary first. */
function oneJob(
  name: string,
  describe: string,
  request: unknown,
  expect: 'completed' | 'failed',
  faults?: (s: TestStack) => void,
): Scenario {
  return {
    name,
    describe,
    fixtures: [name],
    async run(ctx) {
      const s = await stack(ctx);
      faults?.(s);
      return { [name]: await job(s, request, expect) };
    },
  };
}

async function cancelInFlight(ctx: ScenarioContext, stream: boolean) {
  const s = await stack(ctx);
  // Streams: below the test config's streamIdleMs, so the slow start is not taken for a stall.
  s.mocks[PRIMARY].setFaults({ latencyMs: stream ? 1_000 : 20_000 });
  const id = await submitJob(s, chat('gpt-4o', 'never mind', { stream }));
  await waitFor(() => s.mocks[PRIMARY].stats().inFlight === 1, 'the provider call to start');
  const del = await s.api(`/v1/jobs/${id}`, { method: 'DELETE' });
  if (del.status !== 202) throw new Error(`DELETE answered ${del.status}`);
  const view = await s.waitForJob(id);
  if (view.status !== 'cancelled') throw new Error(`job ${id} ended ${view.status}`);
  return { workflowId: id };
}

const SECONDARY = 'anthropic-eu-west-1';
const bothDown = (s: TestStack) => [PRIMARY, SECONDARY].forEach((t) => s.mocks[t].setFaults({ down: true }));
const TOOLS = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];

/** RAG scenarios: a small collection ingested once into the shared stack. */
async function ragJob(ctx: ScenarioContext, name: string, embeddingsDown: boolean) {
  const s = await stack(ctx);
  const docs = [
    { id: 'breakers', source: 'breakers.md', text: 'A circuit breaker opens when the error rate of a target passes its threshold.' },
    { id: 'pasta', source: 'pasta.md', text: 'Boil the pasta in salted water for nine minutes.' },
  ];
  const res = await s.api('/v1/collections/handbook/documents', { method: 'POST', json: { documents: docs } });
  if (res.status >= 300) throw new Error(`ingest answered ${res.status}`);
  if (embeddingsDown) s.mocks[PRIMARY].setFaults({ down: true });
  return {
    [name]: await job(s, chat('llama-3.1-8b', 'when does a circuit breaker open?', { rag: { collection: 'handbook' } }), 'completed'),
  };
}

/**
 * A claude-sonnet-4 stream cut after three words, on a stack whose targets sit behind proxies that
 * refuse a continuation of it (400) where `refusing` says: the cut is continued where one accepts
 * it, else the answer restarts afresh.
 */
async function refusedContinuation(ctx: ScenarioContext, refusing: (target: string) => boolean): Promise<{ workflowId: string }> {
  const proxies: RefusingProxy[] = [];
  for (let i = 0; i < 3; i++) proxies.push(await refusingProxy());
  ctx.defer(() => Promise.all(proxies.map((p) => p.close())).then(() => undefined));
  const s = await ctx.fresh({
    edit(raw) {
      raw.targets.forEach((t: { baseUrl: string; kind: string }, i: number) => (t.baseUrl = proxies[i].front(t.baseUrl, t.kind)));
    },
  });
  s.config.targets.forEach((t, i) => {
    if (refusing(t.id)) proxies[i].refuse = (body) => body.includes('Echo from claude-sonnet-4-20250514:');
  });
  s.mocks['anthropic-eu-west-1'].setFaults({ stallAfterChunks: 6, models: ['claude-sonnet-4-20250514'] });
  return job(s, chat('claude-sonnet-4', 'continue this story please', { stream: true }), 'completed');
}

export const requestScenarios: Scenario[] = [
  oneJob(
    'request-degraded-model',
    'every gpt-4o path down: answered by llama-3.1-8b down the degradation chain',
    chat('gpt-4o', 'degrade me'),
    'completed',
    bothDown,
  ),
  oneJob(
    'request-degraded-tools-dropped',
    'tools dropped to reach a tool-less model (routing.allowDrop)',
    chat('gpt-4o', 'use the tool', { tools: TOOLS, routing: { allowDrop: ['tools'] } }),
    'completed',
    bothDown,
  ),
  oneJob(
    'request-degradation-refused',
    'allowDegradation false: the tier only, then failed',
    chat('smart', 'no downgrade', { routing: { allowDegradation: false } }),
    'failed',
    (s) => Object.values(s.mocks).forEach((m) => m.setFaults({ down: true })),
  ),
  oneJob(
    'request-stream-buffered-fallback',
    'a malformed stream before the first token: buffered on the same target (mode degradation)',
    chat('gpt-4o', 'stream or bust', { stream: true }),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ malformed: true }),
  ),
  oneJob(
    'request-stream-continued',
    'a stream cut after three words: continued on the next target (mid-stream failover)',
    chat('gpt-4o', 'continue this story please', { stream: true }),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ stallAfterChunks: 4 }),
  ),
  {
    name: 'request-rag-vector',
    describe: 'RAG: vector retrieval, passages and sources',
    fixtures: ['request-rag-vector'],
    run: (ctx) => ragJob(ctx, 'request-rag-vector', false),
  },
  {
    name: 'request-rag-keyword-fallback',
    describe: 'RAG: embeddings target down, keyword retrieval (data degradation)',
    fixtures: ['request-rag-keyword-fallback'],
    run: (ctx) => ragJob(ctx, 'request-rag-keyword-fallback', true),
  },
  oneJob('request-happy-openai', 'gpt-4o answered by the openai target', chat('gpt-4o', 'hello'), 'completed'),
  oneJob('request-happy-anthropic', 'claude-sonnet-4 answered by the anthropic target', chat('claude-sonnet-4', 'hello'), 'completed'),
  oneJob(
    'request-happy-openai-compatible',
    'llama-3.1-8b answered by the self-hosted (openai-compatible) target',
    chat('llama-3.1-8b', 'hello'),
    'completed',
  ),
  oneJob(
    'request-tool-call',
    'a tool call comes back',
    chat('gpt-4o', 'what is the weather? use a tool', {
      tools: [{ type: 'function', function: { name: 'weather', parameters: { type: 'object', properties: {} } } }],
    }),
    'completed',
  ),
  oneJob(
    'request-failover-primary-down',
    'primary refuses connections: failover at once',
    chat('gpt-4o', 'are you there?'),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ down: true }),
  ),
  oneJob(
    'request-retry-then-failover',
    'primary answers 500s: bounded retries, then failover',
    chat('gpt-4o', 'retry me'),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 500 }),
  ),
  oneJob('request-transient-retry-same-target', 'one 503, retried on the same target', chat('gpt-4o', 'flaky'), 'completed', (s) =>
    s.mocks[PRIMARY].setFaults({ errorRate: 0.5, errorStatus: 503 }),
  ),
  oneJob('request-bad-request-400', 'a 400: no retry, no failover, the job fails', chat('gpt-4o', 'bad'), 'failed', (s) =>
    s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 400 }),
  ),
  oneJob('request-auth-401-failover', 'a 401: failover without retry', chat('gpt-4o', 'auth'), 'completed', (s) =>
    s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 401 }),
  ),
  oneJob(
    'request-429-retry-after-honoured',
    'a 429 with Retry-After 1 s: retried on the same target after the wait',
    chat('gpt-4o', 'slow down'),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ errorRate: 0.5, errorStatus: 429, retryAfterS: 1 }),
  ),
  oneJob(
    'request-429-long-retry-after-skip',
    'a 429 with Retry-After 60 s: the target is skipped',
    chat('gpt-4o', 'quota'),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 429, retryAfterS: 60 }),
  ),
  oneJob('request-all-targets-down', 'every target down: failed with the attempt trace', chat('smart', 'anyone?'), 'failed', (s) =>
    Object.values(s.mocks).forEach((m) => m.setFaults({ down: true })),
  ),
  oneJob(
    'request-pinned-model-failed',
    'pinModel and the only target down: failed, no equivalents tried',
    chat('gpt-4o', 'pinned', { routing: { pinModel: true } }),
    'failed',
    (s) => s.mocks[PRIMARY].setFaults({ down: true }),
  ),
  oneJob(
    'request-streaming',
    'a streamed answer (heartbeating activity)',
    chat('claude-3-5-haiku', 'stream this please', { stream: true }),
    'completed',
  ),
  oneJob(
    'request-stream-stalled-failover',
    'a stream stalls after 2 chunks: failover to the next target',
    chat('gpt-4o', 'stall', { stream: true }),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ stallAfterChunks: 2 }),
  ),
  {
    name: 'request-no-candidate',
    describe: 'no target can serve the request (tools on a pinned tool-less model): fails before any call',
    fixtures: ['request-no-candidate'],
    async run(ctx) {
      const s = await stack(ctx);
      const handle = await ctx.client.workflow.start(REQUEST_WORKFLOW, {
        taskQueue: s.gateway.taskQueue,
        workflowId: `${s.config.temporal.workflowIdPrefix}job-no-candidate-${Date.now()}`,
        args: [
          {
            request: chat('llama-3.1-8b', 'use a tool', {
              tools: [{ type: 'function', function: { name: 'x', parameters: {} } }],
              routing: { pinModel: true },
            }),
          },
        ],
      });
      await handle.result().then(
        () => Promise.reject(new Error('expected a failure')),
        () => undefined,
      );
      return { 'request-no-candidate': { workflowId: handle.workflowId } };
    },
  },
  {
    name: 'request-cancelled',
    describe: 'DELETE while the provider call (local activity) is in flight',
    fixtures: ['request-cancelled'],
    run: async (ctx) => ({ 'request-cancelled': await cancelInFlight(ctx, false) }),
  },
  {
    name: 'request-cancelled-streaming',
    describe: 'DELETE while a stream (regular activity) is in flight',
    fixtures: ['request-cancelled-streaming'],
    run: async (ctx) => ({ 'request-cancelled-streaming': await cancelInFlight(ctx, true) }),
  },
  {
    name: 'chat-completions',
    describe: 'POST /v1/chat/completions, buffered and streamed (SSE read to the end)',
    fixtures: ['chat-completions', 'chat-completions-stream'],
    async run(ctx) {
      const s = await stack(ctx);
      const out: Record<string, { workflowId: string }> = {};
      for (const [name, stream] of [
        ['chat-completions', false],
        ['chat-completions-stream', true],
      ] as const) {
        const res = await fetch(`${s.gateway.apiUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(chat('gpt-4o', 'hi there', { stream })),
        });
        await res.text();
        const id = res.headers.get('x-stormproof-job-id');
        if (res.status !== 200 || !id) throw new Error(`chat answered ${res.status}`);
        await s.waitForJob(id);
        out[name] = { workflowId: id };
      }
      return out;
    },
  },
  // Deadlines, timeouts, hedging and the patched no-buffered-retry rule (issue 11).
  {
    name: 'request-deadlines',
    describe: 'a silent primary times out once and fails over; a spent budget ends the chain; a slow primary is hedged',
    fixtures: ['request-timeout-failover', 'request-budget-spent', 'request-hedged'],
    async run(ctx) {
      const d = await ctx.shared('deadlines', { edit: (raw) => void (raw.timeouts = { ...raw.timeouts, callMs: 800 }) });
      d.mocks[PRIMARY].setFaults({ latencyMs: 60_000 });
      const timeout = await job(d, chat('gpt-4o', 'anyone?'), 'completed');
      Object.values(d.mocks).forEach((m) => m.setFaults({ latencyMs: 60_000 }));
      const spent = await job(d, chat('gpt-4o', 'hurry', { routing: { latencySloMs: 1_200 } }), 'failed');
      Object.values(d.mocks).forEach((m) => m.clearFaults());
      const h = await ctx.shared('hedging', { edit: (raw) => void (raw.routing = { ...raw.routing, hedgeAfterMs: 200 }) });
      h.mocks[PRIMARY].setFaults({ latencyMs: 5_000 });
      const hedged = await job(h, chat('gpt-4o', 'race'), 'completed');
      return { 'request-timeout-failover': timeout, 'request-budget-spent': spent, 'request-hedged': hedged };
    },
  },
  oneJob(
    'request-stream-silent-failover',
    'a stream that sends nothing fails over (patched: no buffered retry of a silent target)',
    chat('gpt-4o', 'stream please', { stream: true }),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ stallAfterChunks: 0 }),
  ),
  oneJob(
    'request-empty-answer',
    'an empty 200 from the primary is a ProviderBadAnswer and fails over',
    chat('gpt-4o', 'say something'),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ emptyAnswers: true }),
  ),
  // Plan → attempt → trace (patched 'request-plan-attempt-trace').
  oneJob(
    'request-context-length-failover',
    'a context-length 400 on gpt-4o: failover to a model with a larger window',
    chat('gpt-4o', 'a long story'),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ contextLength: true }),
  ),
  oneJob(
    'request-context-length-everywhere',
    'every window too small: a ProviderContextLength failure, smaller windows not tried',
    chat('gpt-4o', 'a very long story'),
    'failed',
    (s) => Object.values(s.mocks).forEach((m) => m.setFaults({ contextLength: true })),
  ),
  oneJob(
    'request-stream-tools-restarted',
    'a stream with tools cut mid-answer: never continued, the answer restarts on the next target',
    chat('gpt-4o', 'continue this story please', { stream: true, tools: TOOLS }),
    'completed',
    (s) => s.mocks[PRIMARY].setFaults({ stallAfterChunks: 4 }),
  ),
  // Last resorts after degradation (patched 'last-resort-after-degradation').
  {
    name: 'request-smart-tier-open',
    describe:
      'gpt-4o and claude-sonnet-4 behind open model breakers: gpt-4o-mini answers first (buffered and streamed); with every lower model failing too, the open gpt-4o answers last',
    fixtures: ['request-smart-tier-open', 'request-smart-tier-open-stream', 'request-open-model-last-resort'],
    async run(ctx) {
      const s = await ctx.fresh({
        edit(raw) {
          // Model breakers that trip on two failures and stay open for the scenario (no probe).
          raw.breaker = { minCalls: 100, consecutiveFailures: 2, cooldownMs: 600_000, maxCooldownMs: 600_000, probes: false };
          raw.routing = { ...raw.routing, flushIntervalMs: 100, refreshIntervalMs: 100 };
        },
      });
      s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o'] });
      s.mocks[SECONDARY].setFaults({ errorRate: 1, errorStatus: 503, models: ['claude-sonnet-4-20250514'] });
      const open = (target: string, model: string) => s.gateway.routing.overlay(target).modelHealth?.[model]?.breaker === 'open';
      let n = 0;
      await waitFor(
        async () => {
          if (open(PRIMARY, 'gpt-4o') && open(SECONDARY, 'claude-sonnet-4')) return true;
          await job(s, chat('gpt-4o', `trip ${n++}`), 'completed');
          return false;
        },
        'the smart tier model breakers to open',
        60_000,
      );
      const deferred = await job(s, chat('gpt-4o', 'fast tier please'), 'completed');
      const streamed = await job(s, chat('gpt-4o', 'fast tier please', { stream: true }), 'completed');
      s.mocks[PRIMARY].setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o-mini'] });
      s.mocks[SECONDARY].setFaults({ errorRate: 1, errorStatus: 503, models: ['claude-sonnet-4-20250514', 'claude-3-5-haiku-20241022'] });
      s.mocks['selfhosted-onprem'].setFaults({ down: true });
      const last = await job(s, chat('gpt-4o', 'last resort'), 'completed');
      return { 'request-smart-tier-open': deferred, 'request-smart-tier-open-stream': streamed, 'request-open-model-last-resort': last };
    },
  },
  {
    name: 'request-continuation-refused',
    describe:
      'a cut stream whose continuation one target refuses (400): the next candidate continues it; when all refuse, the answer restarts afresh',
    fixtures: ['request-continuation-refused', 'request-continuation-restarted'],
    async run(ctx) {
      const refused = await refusedContinuation(ctx, (t) => t === PRIMARY);
      const restarted = await refusedContinuation(ctx, () => true);
      return { 'request-continuation-refused': refused, 'request-continuation-restarted': restarted };
    },
  },
];
