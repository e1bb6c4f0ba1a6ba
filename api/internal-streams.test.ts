/**
 * The stream relay route survives a worker that dies mid-stream: an aborted relay request ends
 * the relay and nothing else (before the fix it crashed the API process with an unhandled error).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { internalStreamsRouter } from './internal-streams';
import { StreamHub } from './stream-hub';

test('a relay request aborted mid-body (the worker was killed) does not take the API down', async () => {
  const hub = new StreamHub();
  const events: unknown[] = [];
  hub.subscribe('job-1', (e) => events.push(e));
  const app = express();
  app.use('/internal/streams', internalStreamsRouter(hub, 'secret'));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  let uncaught: unknown;
  const onUncaught = (err: unknown) => (uncaught = err);
  process.prependListener('uncaughtException', onUncaught);
  try {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/internal/streams/job-1',
      headers: { authorization: 'Bearer secret', 'content-type': 'application/x-ndjson' },
    });
    req.on('error', () => undefined);
    req.write(`${JSON.stringify({ type: 'delta', content: 'hel', target: 't', model: 'm', attempt: 1 })}\n`);
    // Wait until the first line got through, then cut the connection like a SIGKILLed worker.
    for (let i = 0; i < 200 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(events.length, 1);
    req.destroy();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(uncaught, undefined, `the API process would have crashed: ${String(uncaught)}`);
    // And it still serves.
    const res = await fetch(`http://127.0.0.1:${port}/internal/streams/job-2`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret' },
      body: '',
    });
    assert.equal(res.status, 404);
  } finally {
    process.removeListener('uncaughtException', onUncaught);
    server.close();
  }
});
