/**
 * The provider call activities at a continuation, a retry and a garbage head, against the mock
 * providers over real HTTP (no Temporal server: the activity runs in MockActivityEnvironment).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import type { Info } from '@temporalio/activity';
import { startMockProvider, type MockProvider } from '../chaos/mock-provider';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../config/load';
import type { ProviderCallInput, ProviderCallResult } from '../contracts/routing';
import type { StreamEvent } from '../contracts/streaming';
import { CONTINUE_INSTRUCTION } from './continuation';
import { createProviderActivities, type StreamSink } from './provider-call';

const OPENAI = 'openai-us-east-1';
const ANTHROPIC = 'anthropic-eu-west-1';
const SELFHOSTED = 'selfhosted-onprem';
const IDLE_MS = 600;
const mocks: Record<string, MockProvider> = {};
let raw: any;

before(async () => {
  raw = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
  for (const t of raw.targets) {
    mocks[t.id] = await startMockProvider({ kind: t.kind, name: t.id, chunkDelayMs: 1 });
    t.baseUrl = mocks[t.id].baseUrl;
  }
  raw.timeouts = { ...raw.timeouts, streamIdleMs: IDLE_MS, heartbeatMs: 3_000 };
});
after(async () => {
  await Promise.all(Object.values(mocks).map((m) => m.close()));
});
afterEach(() => {
  for (const m of Object.values(mocks)) {
    m.clearFaults();
    m.resetStats();
  }
});

/** A sink that records events; `client` plays the API's copy of what the client has. */
function recordingSink(client?: string): StreamSink & { events: StreamEvent[]; text(): string } {
  const events: StreamEvent[] = [];
  return {
    events,
    publish: (_job, e) => void events.push(e),
    delivered: async () => client,
    text: () => events.map((e) => (e.type === 'delta' ? e.content : '')).join(''),
  };
}

function activities(sink: StreamSink) {
  return createProviderActivities({ config: parseConfig(structuredClone(raw), 'test'), streamSink: sink });
}

async function stream(
  input: Partial<ProviderCallInput> & { target: string; model: string; question: string },
  sink: StreamSink,
  info: Partial<Info> = {},
  heartbeats: unknown[] = [],
): Promise<ProviderCallResult> {
  const env = new MockActivityEnvironment(info, { logger: new DefaultLogger('ERROR') });
  env.on('heartbeat', (d: unknown) => heartbeats.push(d));
  const { question, ...rest } = input;
  const call: ProviderCallInput = {
    jobId: 'job-test',
    request: { model: input.model, messages: [{ role: 'user', content: question }], stream: true },
    ...rest,
  };
  return (await env.run(activities(sink).streamProvider, call)) as ProviderCallResult;
}

async function buffered(
  input: Partial<ProviderCallInput> & { target: string; model: string; question: string },
): Promise<ProviderCallResult> {
  const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
  const { question, ...rest } = input;
  const call: ProviderCallInput = {
    jobId: 'job-test',
    request: { model: input.model, messages: [{ role: 'user', content: question }] },
    ...rest,
  };
  return (await env.run(activities(recordingSink()).callProvider, call)) as ProviderCallResult;
}

const lastBody = (id: string) => mocks[id].stats().lastRequest?.body as { messages: Array<{ role: string; content: unknown }> };
const failureOf = async (p: Promise<ProviderCallResult>) => {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    return err;
  }
  assert.fail('the call succeeded');
};

describe('continuation, by what the target API supports', () => {
  const delivered = 'Echo from claude-sonnet-4-20250514: tell a ';

  test('OpenAI: the text so far as the assistant turn, then an instruction to continue; the rest joins without a doubled space', async () => {
    const sink = recordingSink();
    const r = await stream(
      { target: OPENAI, model: 'gpt-4o', question: 'tell a story about the sea', continuation: { text: delivered } },
      sink,
    );
    assert.deepEqual(lastBody(OPENAI).messages.slice(-2), [
      { role: 'assistant', content: delivered },
      { role: 'user', content: CONTINUE_INSTRUCTION },
    ]);
    assert.equal(r.message.content, 'story about the sea');
    assert.equal(sink.text(), 'story about the sea');
    assert.deepEqual(sink.events[0], { type: 'start', target: OPENAI, model: 'gpt-4o', attempt: 1, resumeAt: delivered.length });
  });

  for (const fault of ['repeatTail', 'restart'] as const) {
    test(`an imperfect follower (${fault}): the overlap is cut at the seam, streamed and buffered`, async () => {
      mocks[SELFHOSTED].setFaults({ continuationFault: fault });
      const sink = recordingSink();
      const s = await stream(
        { target: SELFHOSTED, model: 'llama-3.1-8b', question: 'tell a story about the sea', continuation: { text: delivered } },
        sink,
      );
      assert.equal(s.message.content, 'story about the sea');
      assert.equal(sink.text(), 'story about the sea', 'the repeat never reached the client');
      const b = await buffered({
        target: SELFHOSTED,
        model: 'llama-3.1-8b',
        question: 'tell a story about the sea',
        continuation: { text: delivered },
      });
      assert.equal(b.message.content, 'story about the sea');
    });
  }

  test('Anthropic: a prefill without its trailing whitespace; the paragraph break the model puts back is not doubled', async () => {
    const question = 'first part.\n\nsecond part';
    const so = 'Echo from gpt-4o: first part.\n\n';
    const sink = recordingSink();
    const r = await stream({ target: ANTHROPIC, model: 'claude-sonnet-4', question, continuation: { text: so } }, sink);
    assert.deepEqual(lastBody(ANTHROPIC).messages.at(-1), {
      role: 'assistant',
      content: [{ type: 'text', text: 'Echo from gpt-4o: first part.' }],
    });
    assert.equal(so + r.message.content, 'Echo from gpt-4o: first part.\n\nsecond part');
    assert.equal(sink.text(), 'second part');
  });
});

describe('a retry after the worker was lost mid-stream', () => {
  test('continues from where the client is (the API knows more than the last checkpoint)', async () => {
    const sink = recordingSink('Echo from gpt-4o: tell a ');
    const heartbeats: any[] = [];
    const r = await stream(
      { target: OPENAI, model: 'gpt-4o', question: 'tell a story about the sea' },
      sink,
      { attempt: 2, heartbeatDetails: { chunks: 4, partialText: 'Echo from gpt-4o: tell ' } },
      heartbeats,
    );
    assert.deepEqual(sink.events[0], { type: 'start', target: OPENAI, model: 'gpt-4o', attempt: 2, resumeAt: 25 });
    assert.equal(sink.text(), 'story about the sea', 'only the rest reaches the client');
    assert.equal(r.message.content, 'Echo from gpt-4o: tell a story about the sea', "the call's result is its whole part of the answer");
    assert.equal(lastBody(OPENAI).messages.at(-1)?.content, CONTINUE_INSTRUCTION);
    assert.deepEqual(
      heartbeats[0],
      { chunks: 1, partialText: 'Echo from gpt-4o: tell a ' },
      'the checkpoint starts from what the client has',
    );
    assert.equal(r.usage.completion_tokens, 4 + 4, "the lost try's chunks and the continuation's tokens");
  });

  test('with nobody to ask, continues from the checkpoint in the heartbeat details', async () => {
    const sink = recordingSink(undefined);
    const r = await stream({ target: ANTHROPIC, model: 'claude-sonnet-4', question: 'tell a story' }, sink, {
      attempt: 2,
      heartbeatDetails: { chunks: 4, partialText: 'Echo from claude-sonnet-4-20250514: tell ' },
    });
    assert.equal((sink.events[0] as any).resumeAt, 'Echo from claude-sonnet-4-20250514: tell '.length);
    assert.equal(r.message.content, 'Echo from claude-sonnet-4-20250514: tell a story');
  });

  test('the checkpoint ahead of the client: the missing text goes first, then the rest', async () => {
    const sink = recordingSink('Echo from gpt-4o: ');
    const r = await stream({ target: OPENAI, model: 'gpt-4o', question: 'tell a story' }, sink, {
      attempt: 2,
      heartbeatDetails: { chunks: 5, partialText: 'Echo from gpt-4o: tell a ' },
    });
    assert.equal((sink.events[0] as any).resumeAt, 'Echo from gpt-4o: '.length);
    assert.equal(sink.text(), 'tell a story');
    assert.equal(r.message.content, 'Echo from gpt-4o: tell a story');
  });
});

describe('answer quality in band', () => {
  test('a garbage stream fails over before any character reaches the client', async () => {
    mocks[OPENAI].setFaults({ garbageAnswers: true });
    const sink = recordingSink();
    const f = await failureOf(stream({ target: OPENAI, model: 'gpt-4o', question: 'hello' }, sink));
    assert.equal(f.type, 'ProviderBadAnswer');
    assert.match(f.message, /U\+FFFD/);
    assert.equal(f.nonRetryable, true);
    assert.deepEqual((f.details?.[0] as any)?.chunks, 0);
    assert.deepEqual(
      sink.events.filter((e) => e.type === 'delta'),
      [],
    );
  });

  test('JSON asked, prose streamed: refused at the head', async () => {
    const sink = recordingSink();
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    // The Anthropic API has no JSON mode: its model answers prose.
    const call: ProviderCallInput = {
      jobId: 'j',
      target: ANTHROPIC,
      model: 'claude-sonnet-4',
      request: {
        model: 'claude-sonnet-4',
        messages: [{ role: 'user', content: 'give me JSON about the weather today please' }],
        response_format: { type: 'json_object' },
        stream: true,
      },
    };
    const f = await failureOf(env.run(activities(sink).streamProvider, call) as Promise<ProviderCallResult>);
    assert.match(f.message, /JSON was asked .* opens with "Echo from/);
    assert.deepEqual(
      sink.events.filter((e) => e.type === 'delta'),
      [],
    );
  });

  test('a good stream is delivered piece by piece once its head passed', async () => {
    const sink = recordingSink();
    await stream({ target: OPENAI, model: 'gpt-4o', question: 'one two three four five six seven eight' }, sink);
    const deltas = sink.events.filter((e) => e.type === 'delta');
    assert.equal(deltas.length, 11, 'the same chunks as the provider sent');
    assert.equal(sink.text(), 'Echo from gpt-4o: one two three four five six seven eight');
  });
});

test('a tool-call-only stream longer than the idle limit is not a stall (each tool chunk re-arms the timer)', async () => {
  const slow = await startMockProvider({ kind: 'openai', chunkDelayMs: IDLE_MS / 2 });
  try {
    const r2 = structuredClone(raw);
    r2.targets.find((t: any) => t.id === OPENAI).baseUrl = slow.baseUrl;
    const acts = createProviderActivities({ config: parseConfig(r2, 'test'), streamSink: recordingSink() });
    const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR') });
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } }];
    const call: ProviderCallInput = {
      jobId: 'j',
      target: OPENAI,
      model: 'gpt-4o',
      request: { model: 'gpt-4o', messages: [{ role: 'user', content: 'use the tool' }], tools, stream: true },
    };
    const r = (await env.run(acts.streamProvider, call)) as ProviderCallResult;
    assert.equal(r.finishReason, 'tool_calls');
    assert.equal(r.message.tool_calls?.[0].function.name, 'get_weather');
  } finally {
    await slow.close();
  }
});
