/**
 * The probe against real mock providers over HTTP: known-answer calls (a random nonce the model
 * must repeat), streamed where the model streams with the first token judged, per-model verdicts,
 * and the two ways a probe cannot pass (nothing to judge; a health endpoint alone).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parse } from 'yaml';
import { startMockProvider, type MockProvider } from '../chaos/mock-provider';
import { DEFAULT_CONFIG_PATH, parseConfig } from '../config/load';
import type { ProbePlan, ProbeResult } from '../contracts/breaker';
import { createProbeActivities } from './probe';

const PRIMARY = 'openai-us-east-1';
let mock: MockProvider;

before(async () => {
  mock = await startMockProvider({ kind: 'openai', name: PRIMARY });
});
after(async () => {
  await mock?.close();
});
beforeEach(() => {
  mock.clearFaults();
  mock.resetStats();
});

/** The default config with the primary on the mock (`edit` changes its target entry). */
function configWith(edit: (t: any) => void = () => undefined) {
  const raw = parse(readFileSync(DEFAULT_CONFIG_PATH, 'utf8'));
  raw.targets[0].baseUrl = mock.baseUrl;
  edit(raw.targets[0]);
  return parseConfig(raw, 'test');
}

function probe(plan?: ProbePlan, edit?: (t: any) => void): Promise<ProbeResult> {
  const { probeTarget } = createProbeActivities({ config: configWith(edit), env: {} });
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(probeTarget, PRIMARY, plan);
}

const ALL: ProbePlan = { allModels: true, calls: 1, slowCallMs: 2_000 };

describe('known-answer probe', () => {
  test('passes when each model repeats its nonce; streams where the model streams', async () => {
    const r = await probe({ ...ALL, calls: 2 });
    assert.equal(r.ok, true, r.error);
    assert.equal(r.evidence, 'model');
    assert.deepEqual(
      r.models?.map((m) => [m.model, m.ok, m.calls]),
      [
        ['gpt-4o', true, 2],
        ['gpt-4o-mini', true, 2],
      ],
    );
    assert.equal(mock.stats().byRoute['POST /v1/chat/completions'], 4);
    assert.equal(mock.stats().lastRequest?.stream, true, 'a streaming model is probed streaming');
    const body = mock.stats().lastRequest?.body as { messages: Array<{ content: string }> };
    assert.match(body.messages[0].content, /^Reply with exactly this code and nothing else: sp[0-9a-f]{10}$/);
  });

  test('a 200 with garbage fails: the answer does not hold the nonce', async () => {
    mock.setFaults({ garbageAnswers: true });
    const r = await probe(ALL);
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /failed the known-answer check: asked to repeat sp[0-9a-f]+/);
  });

  test('a slow first token fails the streamed probe at slowCallMs (a buffered call would not see it)', async () => {
    mock.setFaults({ ttftMs: 3_000 });
    const t0 = Date.now();
    const r = await probe({ models: ['gpt-4o'], calls: 1, slowCallMs: 300 });
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /gpt-4o: no first token within 300 ms/);
    assert.ok(Date.now() - t0 < 2_500, 'gave up at the bound, not at the first token');
  });

  test('one model failing while another answers: the target passes, the model does not', async () => {
    mock.setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o'] });
    const r = await probe(ALL);
    assert.equal(r.ok, true);
    const byModel = Object.fromEntries((r.models ?? []).map((m) => [m.model, m]));
    assert.equal(byModel['gpt-4o'].ok, false);
    assert.match(byModel['gpt-4o'].error ?? '', /ProviderServerError/);
    assert.equal(byModel['gpt-4o-mini'].ok, true);
  });

  test('a passing health endpoint does not make a failing model pass (a flapping primary)', async () => {
    mock.setFaults({ errorRate: 1, errorStatus: 503, models: ['gpt-4o'] });
    assert.equal((await fetch(`${mock.origin}/health`)).status, 200, 'the health endpoint passes');
    const r = await probe({ models: ['gpt-4o'], calls: 1, slowCallMs: 2_000 });
    assert.equal(r.ok, false, 'the only model probed fails: the target fails');
    assert.equal(r.evidence, 'model');
  });

  test('a target that is down fails at its health endpoint', async () => {
    mock.setFaults({ down: true });
    const r = await probe(ALL);
    assert.equal(r.ok, false);
    assert.match(r.error ?? '', /^health endpoint/);
  });

  test('without a plan (breakers recorded before plans): the last model, once', async () => {
    const r = await probe(undefined);
    assert.deepEqual(
      r.models?.map((m) => m.model),
      ['gpt-4o-mini'],
    );
  });
});

describe('probes that cannot judge the model', () => {
  test('no health URL and no synthetic call: never a pass (evidence none)', async () => {
    const r = await probe(ALL, (t) => {
      t.mock = false;
      t.syntheticProbe = false;
    });
    assert.equal(r.ok, false);
    assert.equal(r.evidence, 'none');
    assert.equal(mock.stats().requests, 0);
  });

  test('a health endpoint only: its verdict, marked as health evidence (it cannot close a breaker)', async () => {
    const ok = await probe(ALL, (t) => (t.syntheticProbe = false));
    assert.deepEqual([ok.ok, ok.evidence], [true, 'health']);
    mock.setFaults({ down: true });
    const down = await probe(ALL, (t) => (t.syntheticProbe = false));
    assert.deepEqual([down.ok, down.evidence], [false, 'health']);
  });
});
