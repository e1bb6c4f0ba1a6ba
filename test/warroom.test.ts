/**
 * The war-room page in headless Chromium: it loads without errors, shows every target with its
 * breaker state, and updates live as traffic, a failover with degradation and a breaker opened by
 * an operator happen. `STORMPROOF_UPDATE_SCREENSHOTS=1` writes docs/warroom.png.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { chat, startTestStack, type TestStack } from './support/stack';
import { launchBrowser, screenshotPath } from './support/browser';

let s: TestStack;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
const errors: string[] = [];

before(async () => {
  s = await startTestStack();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
});
after(async () => {
  await browser?.close();
  await s?.close();
});

const text = (selector: string) => page.locator(selector).innerText();
/** The page's document, inside page functions (this project compiles without DOM types). */
declare const document: any;
/** Waits until a page-side function holds (a function, not a string: the page's CSP forbids eval). */
const until = (fn: () => unknown, timeout = 10_000) => page.waitForFunction(fn, undefined, { timeout });

test('GET /warroom serves the page with a CSP that allows only its own script, style and data', async () => {
  const res = await fetch(`${s.gateway.apiUrl}/warroom`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  const data = (await (await fetch(`${s.gateway.apiUrl}/warroom/data.json`)).json()) as { targets: Array<{ id: string }> };
  assert.deepEqual(
    data.targets.map((t) => t.id),
    ['openai-us-east-1', 'anthropic-eu-west-1', 'selfhosted-onprem'],
  );
});

test('the page shows traffic by target, breaker states, failovers, degradations and latency, updating live', async () => {
  await page.goto(`${s.gateway.apiUrl}/warroom`);
  await until(() => Number(document.body.dataset.updates ?? 0) >= 2);
  assert.equal(await page.locator('#targets tbody tr').count(), 3);
  assert.match(await text('#targets tbody tr[data-target="openai-us-east-1"]'), /us-east-1/);

  // Traffic: the calls/s of the primary rise above zero while requests flow.
  const traffic = (async () => {
    for (let i = 0; i < 12; i++) await s.runJob(chat(i % 3 === 2 ? 'claude-sonnet-4' : 'gpt-4o', `traffic ${i}`, { stream: i % 4 === 3 }));
  })();
  await until(() => Number(document.querySelector('#targets tr[data-target="openai-us-east-1"] td:nth-child(4)')?.textContent) > 0, 20_000);
  await traffic;

  // A failover with a model degradation: openai down, anthropic failing, answered by the last tier.
  s.mocks['openai-us-east-1'].setFaults({ down: true });
  s.mocks['anthropic-eu-west-1'].setFaults({ errorRate: 1, errorStatus: 500 });
  assert.equal((await s.runJob(chat('gpt-4o', 'degrade me'))).status, 'completed');
  s.resetFaults();
  await until(() => Number(document.querySelector('#degradations li[data-kind="model"] b')?.textContent) >= 1, 10_000);
  await until(() => (document.querySelector('#failovers tbody')?.textContent ?? '').includes('anthropic-eu-west-1'), 10_000);
  assert.match(await text('#failovers tbody'), /openai-us-east-1\s+anthropic-eu-west-1\s+ProviderUnavailable/);

  // An operator opens a breaker: its chip and the timeline turn "open".
  assert.equal((await s.api('/v1/providers/anthropic-eu-west-1/breaker', { method: 'POST', json: { action: 'open' } })).status, 202);
  await until(() => document.querySelector('#targets tr[data-target="anthropic-eu-west-1"] .state')?.textContent === 'open', 10_000);
  assert.ok((await page.locator('#timeline .row[data-target="anthropic-eu-west-1"] rect[data-state="open"]').count()) >= 1);
  assert.match(await text('#kpi-open'), /^1 \/ 3$/);
  await until(() => /\d/.test(document.querySelector('#kpi-latency')?.textContent ?? ''));
  assert.match(await text('#kpi-latency'), /ms|s/);
  assert.match(await text('#kpi-availability'), /%/);

  const shot = screenshotPath('warroom.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 10_000, 'a real screenshot');
  assert.equal((await s.api('/v1/providers/anthropic-eu-west-1/breaker', { method: 'POST', json: { action: 'close' } })).status, 202);
  assert.deepEqual(errors, [], 'no script errors on the page');
});
