/**
 * The failover story in the Temporal Web UI (the dev server's, UI port on): a request whose
 * primary is down is found in the workflow list by its search attributes, and its page tells the
 * story: the workflow's summary and details (set at start), the attempt trace (current details)
 * and each provider call's summary in the event history ("call …", "failover to …").
 * `STORMPROOF_UPDATE_SCREENSHOTS=1` writes docs/webui-failover.png and docs/webui-history.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Page } from 'playwright-core';
import { installRuntime, freePort } from '../shared/runtime';
import { parseConfig } from '../config/load';
import type { MockProvider } from '../chaos/mock-provider';
import { startGateway, type RunningGateway } from '../scripts/gateway';
import { startDevServer } from './support/temporal';
import { chat, mockedConfig } from './support/stack';
import { launchBrowser, screenshotPath } from './support/browser';

let env: TestWorkflowEnvironment;
let ui: string;
let mocks: Record<string, MockProvider>;
let gateway: RunningGateway;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;

before(async () => {
  installRuntime(); // before the dev server: the SDK runtime is a per-process singleton
  const uiPort = await freePort();
  env = await startDevServer({ uiPort });
  ui = `http://127.0.0.1:${uiPort}`;
  const cfg = await mockedConfig(env.address);
  mocks = cfg.mocks;
  gateway = await startGateway({ config: parseConfig(cfg.raw, 'test'), apiPort: 0 });
  browser = await launchBrowser({ width: 1800, height: 1000 });
  page = await browser.context.newPage();
});
after(async () => {
  await browser?.close();
  await gateway?.stop();
  await Promise.all(Object.values(mocks ?? {}).map((m) => m.close()));
  await env?.teardown();
});

/** The page's text with that of its frames, once `done` holds (the UI renders as data arrives). */
async function textUntil(done: (text: string) => boolean, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const texts = await Promise.all(
      page.frames().map((f) =>
        f
          .locator('body')
          .innerText()
          .catch(() => ''),
      ),
    );
    const text = texts.join('\n');
    if (done(text)) return text;
    if (Date.now() > deadline) throw new Error(`the Web UI did not show the expected text; it shows:\n${text.slice(0, 3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function failedOverJob(): Promise<string> {
  mocks['openai-us-east-1'].setFaults({ down: true });
  const res = await fetch(`${gateway.apiUrl}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ request: chat('gpt-4o', 'tell the failover story') }),
  });
  const { id } = (await res.json()) as { id: string };
  const result = await gateway.client.workflow.getHandle(id).result();
  assert.equal(result.target, 'anthropic-eu-west-1');
  mocks['openai-us-east-1'].clearFaults();
  return id;
}

/** Opens the list filtered by the search attributes, once Temporal's visibility store has indexed the job. */
async function findInList(id: string): Promise<void> {
  const query = 'StormproofFailovers > 0 AND StormproofTarget = "anthropic-eu-west-1"';
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found: string[] = [];
    for await (const w of gateway.client.workflow.list({ query })) found.push(w.workflowId);
    if (found.includes(id)) break;
    if (Date.now() > deadline) throw new Error(`job ${id} not indexed for ${query}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
  const link = page.getByRole('link', { name: id });
  await link.waitFor({ timeout: 30_000 });
  await link.click();
}

test('a failed-over request is found by its search attributes and its page tells the story', async () => {
  const id = await failedOverJob();
  await findInList(id);
  await page.waitForURL(new RegExp(`/workflows/${id}/`));

  await page
    .getByRole('link', { name: 'User Metadata' })
    .or(page.getByRole('tab', { name: 'User Metadata' }))
    .first()
    .click();
  // The UI renders user markdown in sandboxed frames; current details come from a query, answered
  // by the worker, so they appear a moment after the page.
  const story = await textUntil((t) => t.includes('anthropic-eu-west-1 (claude-sonnet-4): ok') && t.includes('Failover order'));
  assert.match(story, /Summary[\s\S]*gpt-4o: gpt-4o → claude-sonnet-4/, 'the workflow summary');
  assert.match(story, /Failover order: gpt-4o → claude-sonnet-4/, 'the details set at start');
  assert.match(
    story,
    /(Candidates|Plan): openai-us-east-1\/gpt-4o → anthropic-eu-west-1\/claude-sonnet-4/,
    'the plan in the current details',
  );
  const [first, second] = ['openai-us-east-1 (gpt-4o): ProviderUnavailable', 'anthropic-eu-west-1 (claude-sonnet-4): ok'].map((x) =>
    story.indexOf(x),
  );
  assert.ok(first >= 0 && second > first, 'the attempt trace, in order, ends with the answer');
  await page.screenshot({ path: screenshotPath('webui-failover.png') });

  await page
    .getByRole('link', { name: /Event History/ })
    .or(page.getByRole('tab', { name: /Event History/ }))
    .first()
    .click();
  const history = await textUntil((t) => t.includes('failover to anthropic-eu-west-1'));
  assert.match(history, /call openai-us-east-1 \(gpt-4o\)/, 'the first call, by its summary');
  assert.match(history, /failover to anthropic-eu-west-1 \(claude-sonnet-4\)/, 'the failover, by its summary');
  await page.getByText('Local Activity').first().scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshotPath('webui-history.png') });
});
