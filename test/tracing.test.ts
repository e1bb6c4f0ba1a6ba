/**
 * OpenTelemetry: one request through the API is one connected trace, from the HTTP span through
 * the workflow start, the workflow run and its (local) activities to the provider call. Spans go
 * to an in-memory exporter here; OTLP export happens only when `tracing.otlpEndpoint` is set.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ConfigError, parseConfig } from '../config/load';
import { createTracing, tracingFromConfig } from '../shared/tracing';
import { chat, mockedConfig, startTestStack, type TestStack } from './support/stack';
import { testTemporalAddress } from './support/temporal';

const exporter = new InMemorySpanExporter();
let s: TestStack;

before(async () => {
  const tracing = createTracing({ serviceName: 'stormproof-test', spanProcessor: new SimpleSpanProcessor(exporter) });
  s = await startTestStack({ tracing });
});
after(async () => {
  await s?.close();
});

const idOf = (span: ReadableSpan) => span.spanContext().spanId;

/** Waits until the spans of a trace include every name in `names` (workflow spans leave through a sink, a little later). */
async function traceWith(names: string[], timeoutMs = 15_000): Promise<ReadableSpan[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const spans = exporter.getFinishedSpans();
    const root = spans.find((x) => x.name === 'POST /v1/chat/completions');
    const trace = root ? spans.filter((x) => x.spanContext().traceId === root.spanContext().traceId) : [];
    if (names.every((n) => trace.some((x) => x.name === n))) return trace;
    if (Date.now() > deadline)
      throw new Error(`trace incomplete: have ${trace.map((x) => x.name).join(', ') || 'nothing'}; want ${names.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('one request is one connected trace: API → workflow start → workflow → activities → provider call', async () => {
  exporter.reset();
  const res = await s.api('/v1/chat/completions', { method: 'POST', json: chat('gpt-4o', 'trace me') });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  // No RunActivity:getRoutingSnapshot: the API that hosts the worker puts the snapshot in the input.
  const trace = await traceWith([
    'POST /v1/chat/completions',
    'StartWorkflow:aiRequestWorkflow',
    'RunWorkflow:aiRequestWorkflow',
    'RunActivity:callProvider',
    'provider call openai-us-east-1',
  ]);
  const byId = new Map(trace.map((x) => [idOf(x), x]));
  const root = trace.find((x) => x.name === 'POST /v1/chat/completions')!;
  assert.equal(root.parentSpanId, undefined, 'the API span starts the trace');
  for (const span of trace) {
    if (span === root) continue;
    assert.ok(span.parentSpanId && byId.has(span.parentSpanId), `${span.name} hangs off a span of the same trace`);
  }
  const chain = (name: string) => {
    const names: string[] = [];
    for (let x = trace.find((y) => y.name === name); x; x = x.parentSpanId ? byId.get(x.parentSpanId) : undefined) names.push(x.name);
    return names.reverse();
  };
  const path = chain('provider call openai-us-east-1');
  for (const step of [
    'POST /v1/chat/completions',
    'StartWorkflow:aiRequestWorkflow',
    'RunWorkflow:aiRequestWorkflow',
    'RunActivity:callProvider',
    'provider call openai-us-east-1',
  ]) {
    assert.ok(path.includes(step), `the provider call's ancestry ${path.join(' → ')} includes ${step}`);
  }
  const call = trace.find((x) => x.name === 'provider call openai-us-east-1')!;
  assert.equal(call.attributes['stormproof.target'], 'openai-us-east-1');
  assert.equal(call.attributes['stormproof.model'], 'gpt-4o');
  assert.equal(call.attributes['stormproof.outcome'], 'ok');
  assert.equal(root.attributes['http.response.status_code'], 200);
});

test('a failover shows in the trace: the failed call and the one that answered, both under the same workflow', async () => {
  exporter.reset();
  s.mocks['openai-us-east-1'].setFaults({ down: true });
  try {
    const res = await s.api('/v1/chat/completions', { method: 'POST', json: chat('gpt-4o', 'fail over, traced') });
    assert.equal(res.status, 200);
    const trace = await traceWith(['provider call openai-us-east-1', 'provider call anthropic-eu-west-1']);
    const failed = trace.find((x) => x.name === 'provider call openai-us-east-1')!;
    const served = trace.find((x) => x.name === 'provider call anthropic-eu-west-1')!;
    assert.equal(failed.attributes['stormproof.outcome'], 'ProviderUnavailable');
    assert.equal(served.attributes['stormproof.failover_from'], 'openai-us-east-1');
    assert.equal(served.attributes['stormproof.outcome'], 'ok');
  } finally {
    s.resetFaults();
  }
});

test('tracing is off unless tracing.otlpEndpoint is set; a bad endpoint is refused at start-up naming the key', async () => {
  const { raw, mocks } = await mockedConfig(await testTemporalAddress());
  await Promise.all(Object.values(mocks).map((m) => m.close()));
  assert.equal(tracingFromConfig(parseConfig(raw)), undefined);
  assert.throws(
    () => parseConfig({ ...raw, tracing: { otlpEndpoint: 'collector:4318' } }),
    (err: Error) => err instanceof ConfigError && /tracing\.otlpEndpoint/.test(err.message),
  );
});

test('with tracing.otlpEndpoint set, spans are exported over OTLP/HTTP to it', async () => {
  const received: Array<{ path?: string; type?: string; bytes: number }> = [];
  const collector = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      received.push({ path: req.url, type: req.headers['content-type'], bytes });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  try {
    const url = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
    const { raw, mocks } = await mockedConfig(await testTemporalAddress());
    await Promise.all(Object.values(mocks).map((m) => m.close()));
    const tracing = tracingFromConfig(parseConfig({ ...raw, tracing: { otlpEndpoint: url, serviceName: 'otlp-test' } }))!;
    const span = tracing.tracer.startSpan('exported');
    span.end();
    await tracing.shutdown(); // flushes the batch
    assert.equal(received.length, 1);
    assert.equal(received[0].path, '/v1/traces');
    assert.ok(received[0].bytes > 0);
  } finally {
    collector.closeAllConnections();
    await new Promise((r) => collector.close(r));
  }
});
