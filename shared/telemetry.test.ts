/** The process's default metrics: Node's own series beside the gateway's, event-loop lag included. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from './telemetry';

test('Node default metrics carry the prefix, the event-loop lag among them', async () => {
  const metrics = createMetrics();
  const text = await metrics.registry.metrics();
  for (const name of [
    'stormproof_process_cpu_seconds_total',
    'stormproof_nodejs_eventloop_lag_p99_seconds',
    'stormproof_nodejs_heap_size_used_bytes',
  ])
    assert.match(text, new RegExp(`^${name} `, 'm'), name);
});
