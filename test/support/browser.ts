/** Headless Chromium for tests: Debian's binary driven by playwright-core, a fresh profile each time. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Launches Chromium with a new user-data-dir; `close()` removes it. */
export async function launchBrowser(
  viewport = { width: 1400, height: 1000 },
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'stormproof-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Screenshots go to docs/ only when asked (`STORMPROOF_UPDATE_SCREENSHOTS=1`), else to a temp dir. */
export function screenshotPath(name: string): string {
  return process.env.STORMPROOF_UPDATE_SCREENSHOTS
    ? join(__dirname, '..', '..', 'docs', name)
    : join(mkdtempSync(join(tmpdir(), 'stormproof-shot-')), name);
}
