/**
 * Debian's Chromium for the PSU login and consent pages, launched as the console's tests launch
 * it (test/console/browser.ts: same binary, same switches, skipped without it and failing under
 * CI=true), plus a host resolver rule per TPP host name, so a redirect URI such as
 * https://tpp.example.com:PORT/cb reaches the test's TPP host on 127.0.0.1. Screenshots go to
 * test-results/psu/ (git-ignored).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM } from '../console/browser.ts';

export { browserMissing, openPage, type Watched } from '../console/browser.ts';

export const PSU_SCREENSHOTS = new URL('../../test-results/psu/', import.meta.url).pathname;

export async function launchWithHosts(loopbackNames: readonly string[]): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    // The machine has no outside network: Chromium's own background connections are switched off.
    args: [
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      `--host-resolver-rules=${loopbackNames.map((n) => `MAP ${n} 127.0.0.1`).join(', ')}`,
    ],
  });
}

export async function psuScreenshot(page: Page, name: string): Promise<void> {
  mkdirSync(PSU_SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(PSU_SCREENSHOTS, `${name}.png`), fullPage: true });
}
