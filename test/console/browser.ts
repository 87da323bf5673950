/**
 * Debian's Chromium, headless, driven by Playwright's library (playwright-core: nothing is
 * downloaded). Every page a test opens records console errors, uncaught exceptions, failed
 * requests and any request to another origin, so a test can assert there were none; screenshots
 * go to test-results/console/ (git-ignored) for review.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const SCREENSHOTS = new URL('../../test-results/console/', import.meta.url).pathname;

/** Why the browser tests cannot run here; undefined when they can. Under CI=true they must (`.ci/run` installs chromium). */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env['CI'] === 'true') throw new Error(`${why}: the console's browser tests must run under CI`);
  return why;
}

export async function launch(): Promise<Browser> {
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
    ],
  });
}

export interface Watched {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors, page errors, failed requests and requests to another origin, as text. */
  readonly problems: string[];
}

/** A fresh browser context (no cookies) and page on `baseUrl`, watched for problems. */
export async function openPage(browser: Browser, baseUrl: string, viewport = { width: 1280, height: 800 }): Promise<Watched> {
  // The test server's certificate comes from its own sandbox CA, which this browser does not know.
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  const origin = new URL(baseUrl).origin;
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:')) problems.push(`third-party request: ${url}`);
  });
  return { context, page, problems };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs in through the login form, with the keyboard only. */
export async function signIn(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/admin/`);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
}
