/**
 * The admin console end to end, in Debian's Chromium against a real server (HTTPS, SQLite, the
 * gateway, a real backend, TPPs registering over mutual TLS): sign in; import the OB Account and
 * Transaction API file and publish it; a TPP registered through DCR appears subscribed; a
 * rejected registration shows in the log with its reason code; a trust anchor added and removed;
 * signing keys rotated; a subscription blocked and the gateway answering 403; a change without
 * the CSRF header refused; an auditor changing nothing; every page free of console errors, with
 * the CSP header, at 1280×800 and on a narrow window; no WCAG 2.1 AA violation axe-core can find;
 * keyboard-only use. Screenshots: test-results/console/.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { unzipSync, strFromU8 } from 'fflate';
import { hashPassword } from '../../src/admin/passwords.ts';
import { createCertificateAuthority } from '../../src/crypto/pki.ts';
import { CONSOLE_CSP } from '../../src/admin/console-routes.ts';
import { residentKeyManager } from '../../src/apim/key-managers.ts';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { ADMIN, OB_FILES } from '../gateway/support.ts';
import { browserMissing, launch, openPage, screenshot, signIn, type Watched } from './browser.ts';

const missing = browserMissing();
const OPS = { user: 'ops', password: 'ops-password-123' };
const AUDITOR = { user: 'audit', password: 'audit-password-1' };
const CONTEXT = '/open-banking/v3.1/aisp';
const INTERACTION = '93bac548-d2de-4546-b106-880a5018460d';

let env: DcrEnvironment;
let backend: TestBackend;
let browser: Browser;
let clientId: string;
const opened: Watched[] = [];

async function page(user = OPS, viewport?: { width: number; height: number }): Promise<Watched> {
  const w = await openPage(browser, env.url, viewport);
  opened.push(w);
  await signIn(w.page, env.url, user.user, user.password);
  return w;
}

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Every page of the console, with its heading, once the API is imported and the TPP registered. */
async function consolePages(): Promise<Array<[string, string | RegExp]>> {
  const apis = await jsonBody(await env.ts.fetch('/api/am/publisher/v4/apis', { headers: { authorization: ADMIN } }), 200);
  return [
    ['/', 'Dashboard'],
    ['/consents', 'Consents'],
    ['/apis', 'APIs'],
    [`/apis/${String((apis['list'] as Array<Record<string, unknown>>)[0]!['id'])}`, /Account and Transaction API/],
    ['/plans', 'Business plans'],
    ['/plans/Gold', /Gold/],
    ['/applications', 'Applications'],
    [`/applications/${encodeURIComponent(clientId)}`, env.aispPisp.name],
    ['/log', 'Registration log'],
    ['/key-managers', 'Key managers'],
    ['/key-managers/Resident%20Key%20Manager', /Resident Key Manager/],
    ['/security', 'Trust, keys and scopes'],
    ['/sandbox', 'Sandbox'],
  ];
}

const noProblems = (w: Watched) => assert.deepEqual(w.problems, [], 'no console error, failed or third-party request');
const heading = (p: Page, name: string | RegExp) => p.getByRole('heading', { level: 1, name }).waitFor();
const go = async (p: Page, path: string, title: string | RegExp) => {
  await p.goto(`${env.url}/admin${path}`);
  await heading(p, title);
};

describe('admin console in Chromium', { skip: missing }, () => {
  before(async () => {
    backend = await startTestBackend();
    env = await startDcrEnvironment({
      admin: {
        users: [
          { username: OPS.user, password_hash: await hashPassword(OPS.password), role: 'admin' },
          { username: AUDITOR.user, password_hash: await hashPassword(AUDITOR.password), role: 'auditor' },
        ],
        // Every test signs in afresh, all from 127.0.0.1.
        login_attempts: 100,
      },
      gateway: { allowed_backend_hosts: ['127.0.0.1'] },
    });
    browser = await launch();
  });

  after(async () => {
    for (const w of opened) await w.context.close().catch(() => undefined);
    await browser?.close();
    await env?.close();
    await backend?.close();
  });

  test('sign in: a wrong password is refused with a message; the right one opens the dashboard', async () => {
    const w = await openPage(browser, env.url);
    opened.push(w);
    const p = w.page;
    await p.goto(`${env.url}/admin/`);
    await p.getByLabel('User name').fill(OPS.user);
    await p.getByLabel('Password').fill('wrong-password');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('alert').filter({ hasText: 'wrong' }).waitFor();
    await screenshot(p, '01-login-refused');
    // The refused login answered 401, which Chromium reports in the console: that is the one expected.
    w.problems.splice(0, w.problems.length, ...w.problems.filter((m) => !m.includes('401')));
    await p.getByLabel('Password').fill(OPS.password);
    await p.getByLabel('Password').press('Enter');
    await heading(p, 'Dashboard');
    await p.getByText('ops (administrator)').waitFor();
    await screenshot(p, '02-dashboard');
    const cookie = (await w.context.cookies()).find((c) => c.name === 'opendcr_admin');
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.secure, true);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    noProblems(w);
  });

  test('import the Account and Transaction API file, then publish it', async () => {
    const { page: p, problems } = await page();
    await go(p, '/apis', 'APIs');
    await p.getByLabel('OpenAPI or Swagger file (JSON or YAML)').setInputFiles(OB_FILES.accounts.pathname);
    await p.getByLabel('Backend URL').fill(`${backend.url}/bank/aisp`);
    await p.getByRole('button', { name: 'Import' }).click();
    await heading(p, /Account and Transaction API/);
    await p.getByText(CONTEXT, { exact: true }).first().waitFor();
    // Operations with their scopes.
    await p.getByRole('table', { name: 'Operations' }).getByText('GET /accounts', { exact: true }).waitFor();
    await screenshot(p, '03-api-imported');
    await p.getByRole('button', { name: 'Publish' }).click();
    await p.locator('.badge', { hasText: 'PUBLISHED' }).first().waitFor();
    await screenshot(p, '04-api-published');
    assert.deepEqual(problems, []);
  });

  test('re-import: the console shows what a new version adds, removes and changes before it is applied', async () => {
    // The same file as version 3.1.12 without the statement file download.
    const doc = parseYaml(readFileSync(OB_FILES.accounts, 'utf8')) as { info: { version: string }; paths: Record<string, unknown> };
    doc.info.version = '3.1.12';
    delete doc.paths['/accounts/{AccountId}/statements/{StatementId}/file'];
    const file = join(mkdtempSync(join(tmpdir(), 'opendcr-console-')), 'account-info-3.1.12.yaml');
    writeFileSync(file, stringifyYaml(doc));
    const { page: p, problems } = await page();
    await go(p, '/apis', 'APIs');
    await p.getByRole('link', { name: /Account and Transaction API/ }).click();
    await heading(p, /Account and Transaction API/);
    await p.getByLabel('New version of the document').setInputFiles(file);
    await p.getByRole('button', { name: 'Show what changes' }).click();
    const preview = p.locator('.preview');
    await preview.getByText('3.1.11 → 3.1.12').waitFor();
    await preview.getByText('GET /accounts/{AccountId}/statements/{StatementId}/file').waitFor();
    await screenshot(p, '04b-reimport-preview');
    // Nothing changed yet.
    const ops = p.getByRole('table', { name: 'Operations' });
    assert.equal(await ops.getByText('GET /accounts/{AccountId}/statements/{StatementId}/file', { exact: true }).count(), 1);
    await p.getByRole('button', { name: 'Apply the new version' }).click();
    // The operations table is drawn again once the new version is applied (the old one lists GET /accounts too).
    await p
      .getByRole('table', { name: 'Operations' })
      .getByText('GET /accounts/{AccountId}/statements/{StatementId}/file', { exact: true })
      .waitFor({ state: 'detached' });
    await p.getByRole('table', { name: 'Operations' }).getByText('GET /accounts', { exact: true }).waitFor();
    assert.equal(
      await p.getByRole('table', { name: 'Operations' }).getByText('GET /accounts/{AccountId}/statements/{StatementId}/file', { exact: true }).count(),
      0,
    );
    assert.deepEqual(problems, []);
  });

  test('business plans: added and edited in the console; one in use cannot be removed, and the refusal says where', async () => {
    const { page: p, problems } = await page();
    await go(p, '/plans', 'Business plans');
    await p.getByRole('textbox', { name: 'Name', exact: true }).fill('ConsoleTen');
    await p.getByLabel('Display name').fill('Ten a minute');
    await p.getByLabel('Requests allowed (empty: unlimited)').fill('10');
    await p.getByRole('button', { name: 'Add the plan' }).click();
    await heading(p, 'Ten a minute');
    await p.getByLabel('Requests allowed (empty: unlimited)').fill('20');
    await p.getByRole('button', { name: 'Save the plan' }).click();
    await p.getByRole('status').filter({ hasText: 'Plan saved' }).waitFor();
    const plan = await jsonBody(await env.ts.fetch('/api/am/admin/v4/throttling/policies/subscription/ConsoleTen', { headers: { authorization: ADMIN } }), 200);
    assert.equal((plan['defaultLimit'] as { requestCount: { requestCount: number } }).requestCount.requestCount, 20);
    // Offered by the published API: refused, naming it.
    const apis = await jsonBody(await env.ts.fetch('/api/am/publisher/v4/apis', { headers: { authorization: ADMIN } }), 200);
    const apiId = String((apis['list'] as Array<Record<string, unknown>>)[0]!['id']);
    const offer = (policies: string[]) =>
      env.ts.fetch(`/api/am/publisher/v4/apis/${apiId}`, {
        method: 'PUT',
        headers: { authorization: ADMIN, 'content-type': 'application/json' },
        body: JSON.stringify({ policies }),
      });
    assert.equal((await offer(['Unlimited', 'ConsoleTen'])).status, 200);
    await go(p, '/plans/ConsoleTen', 'Ten a minute');
    await p.getByRole('button', { name: 'Remove this plan' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Remove the plan' }).click();
    await p.getByRole('alert').filter({ hasText: 'PLAN_IN_USE' }).filter({ hasText: 'Account and Transaction API Specification 3.1.11' }).waitFor();
    await screenshot(p, '04c-plan-in-use');
    // The refused DELETE answered 409, which Chromium reports in the console: the one expected.
    assert.deepEqual(
      problems.filter((m) => !m.includes('409')),
      [],
    );
    // A built-in plan offers no edit or removal.
    await go(p, '/plans/Unlimited', /Unlimited/);
    assert.equal(await p.getByRole('button', { name: 'Remove this plan' }).count(), 0);
    assert.equal((await offer(['Unlimited'])).status, 200);
    await go(p, '/plans/ConsoleTen', 'Ten a minute');
    await p.getByRole('button', { name: 'Remove this plan' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Remove the plan' }).click();
    await heading(p, 'Business plans');
    assert.equal((await env.ts.fetch('/api/am/admin/v4/throttling/policies/subscription/ConsoleTen', { headers: { authorization: ADMIN } })).status, 404);
  });

  test('key managers: one whose discovery cannot be fetched is refused with the reason, and nothing is saved', async () => {
    const { page: p, problems } = await page();
    await go(p, '/key-managers', 'Key managers');
    await p.getByRole('textbox', { name: 'Name', exact: true }).fill('external-idp');
    await p.getByLabel('Discovery URL').fill('https://idp.invalid/.well-known/openid-configuration');
    await p.getByRole('button', { name: 'Validate and add' }).click();
    await p.getByRole('alert').filter({ hasText: 'KEY_MANAGER_INVALID' }).waitFor();
    assert.equal((await env.ts.fetch('/api/am/admin/v4/key-managers/external-idp', { headers: { authorization: ADMIN } })).status, 404);
    assert.deepEqual(
      problems.filter((m) => !m.includes('400')),
      [],
    );
  });

  test('a TPP registered through DCR appears as an application, subscribed to the published API', async () => {
    const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
    clientId = String(reg['client_id']);
    const { page: p, problems } = await page();
    await go(p, '/applications', 'Applications');
    await p.getByLabel('Client ID, software ID or organisation ID').fill(env.aispPisp.softwareId);
    await p.getByRole('button', { name: 'Search' }).click();
    const listed = p.getByRole('table', { name: 'Applications' }).getByRole('row').filter({ hasText: env.aispPisp.name });
    assert.match(await listed.innerText(), /Resident Key Manager/, "a registration is the resident key manager's application");
    await p.getByRole('link', { name: env.aispPisp.name }).click();
    await heading(p, env.aispPisp.name);
    const subs = p.getByRole('table', { name: 'Subscriptions' });
    await subs.getByRole('link', { name: /Account and Transaction API/ }).waitFor();
    await subs.getByText('UNBLOCKED').waitFor();
    // SSA claims decoded, certificate subject, key set.
    await p.getByRole('table', { name: 'Software statement claims' }).getByText(env.aispPisp.softwareId, { exact: true }).first().waitFor();
    await p.getByText(`CN=${env.aispPisp.softwareId}`, { exact: false }).first().waitFor();
    await screenshot(p, '05-application');
    assert.deepEqual(problems, []);
  });

  test('a rejected registration shows in the log with its reason code and what it means', async () => {
    // A registration request signed by a key the TPP's key set does not hold.
    const claims = await env.validRequestClaims(env.cbpii);
    const bad = await env.register(env.cbpii, claims, { sign: { kid: 'not-a-published-key' } });
    assert.equal(bad.status, 400);
    const { code } = { code: String(((await bad.json()) as Record<string, unknown>)['error']) };
    assert.ok(code);
    const { page: p, problems } = await page();
    await go(p, '/log', 'Registration log');
    await p.getByLabel('Outcome').selectOption('rejected');
    await p.getByLabel('Software ID').fill(env.cbpii.softwareId);
    await p.getByRole('button', { name: 'Show' }).click();
    const row = p.getByRole('table', { name: 'Registration events' }).getByRole('row').filter({ hasText: env.cbpii.softwareId }).first();
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, /rejected/);
    assert.match(text, /REQUEST_SIGNATURE_KEY_UNKNOWN|KEY_NOT_FOUND|SIGNATURE/);
    await screenshot(p, '06-registration-log');
    assert.deepEqual(problems, []);
  });

  test('an application subscribed by hand to a published API it did not get at registration', async () => {
    // A CBPII-only TPP: the Account and Transaction API (AISP) was not subscribed for it.
    const reg = await jsonBody(await env.register(env.cbpii, await env.validRequestClaims(env.cbpii)), 201);
    const cbpiiId = String(reg['client_id']);
    const { page: p, problems } = await page();
    await go(p, `/applications/${encodeURIComponent(cbpiiId)}`, env.cbpii.name);
    await p.getByText('Not subscribed to any API.').waitFor();
    await p.getByLabel('API', { exact: true }).selectOption({ label: 'Account and Transaction API Specification 3.1.11' });
    await p.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await p.getByRole('status').filter({ hasText: 'Subscribed.' }).waitFor();
    await p.getByRole('table', { name: 'Subscriptions' }).getByText('UNBLOCKED').waitFor();
    const subs = await jsonBody(await env.ts.fetch(`/api/am/devportal/v3/subscriptions?applicationId=${cbpiiId}`, { headers: { authorization: ADMIN } }), 200);
    assert.equal(subs['count'], 1);
    const [mine] = subs['list'] as Array<Record<string, string>>;
    assert.equal(mine!['keyManager'], 'Resident Key Manager', "the registration's own subscription");

    // An external key manager's client with the same client id is another application: not on this page, apart on the API's.
    const t = Math.floor(Date.now() / 1000);
    await env.ts.storage.gateway.createKeyManager({
      ...residentKeyManager('https://idp.partner.example', t),
      name: 'Partner IdP',
      displayName: 'Partner IdP',
      type: 'oidc',
    });
    try {
      await env.ts.storage.gateway.addSubscription({
        id: randomUUID(),
        keyManager: 'Partner IdP',
        clientId: cbpiiId,
        apiId: mine!['apiId']!,
        plan: mine!['throttlingPolicy']!,
        state: 'BLOCKED',
        createdAt: t,
        updatedAt: t,
      });
      await go(p, `/applications/${encodeURIComponent(cbpiiId)}`, env.cbpii.name);
      const rows = p.getByRole('table', { name: 'Subscriptions' }).getByRole('row');
      await rows.filter({ hasText: 'UNBLOCKED' }).waitFor();
      assert.equal(await rows.count(), 2, "the heading and the registration's subscription only");
      await go(p, `/apis/${encodeURIComponent(mine!['apiId']!)}`, /Account and Transaction API/);
      const apiRows = p.getByRole('table', { name: 'Subscriptions' }).getByRole('row');
      const external = apiRows.filter({ hasText: 'Partner IdP' });
      assert.match(await external.innerText(), new RegExp(`${cbpiiId}\\s+Partner IdP[\\s\\S]*BLOCKED`));
      assert.equal(await external.getByRole('link', { name: cbpiiId }).count(), 0, "no application page for another key manager's client");
      assert.equal(await apiRows.filter({ hasText: 'Resident Key Manager' }).filter({ hasText: cbpiiId }).getByRole('link', { name: cbpiiId }).count(), 1);
    } finally {
      await env.ts.storage.gateway.deleteKeyManager('Partner IdP');
    }
    assert.deepEqual(problems, []);
  });

  test('trust store: a CA certificate added from its PEM, shown with subject and fingerprint, then removed', async () => {
    const ca = await createCertificateAuthority({ subject: 'C=GB, O=OpenDCR Tests, CN=Console Test CA', validityDays: 30 });
    const { page: p, problems } = await page();
    await go(p, '/security', 'Trust, keys and scopes');
    await p.getByLabel('…or paste the PEM').fill(ca.certPem);
    await p.getByLabel('Name (optional)').fill('console-test-ca');
    await p.getByRole('button', { name: 'Trust this CA' }).click();
    await p.getByRole('status').filter({ hasText: 'console-test-ca.pem is trusted' }).waitFor();
    const row = p.getByRole('table', { name: 'Trusted CA certificates' }).getByRole('row').filter({ hasText: 'console-test-ca' });
    await row.getByText('Console Test CA').first().waitFor();
    await screenshot(p, '07-trust-added');
    const anchors = await jsonBody(await env.ts.fetch('/api/opendcr/v1/truststore', { headers: { authorization: ADMIN } }), 200);
    assert.ok((anchors['list'] as Array<Record<string, unknown>>).some((c) => c['name'] === 'console-test-ca.pem'));
    await row.getByRole('button', { name: 'Remove console-test-ca.pem' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await p.getByRole('status').filter({ hasText: 'no longer trusted' }).waitFor();
    // The message comes before the table is drawn again.
    await p.getByRole('table', { name: 'Trusted CA certificates' }).getByRole('row').filter({ hasText: 'console-test-ca' }).waitFor({ state: 'detached' });
    const after = await jsonBody(await env.ts.fetch('/api/opendcr/v1/truststore', { headers: { authorization: ADMIN } }), 200);
    assert.ok(!(after['list'] as Array<Record<string, unknown>>).some((c) => c['name'] === 'console-test-ca.pem'));
    assert.deepEqual(problems, []);
  });

  test('signing keys: rotating makes new active keys and retires the old ones', async () => {
    const before = await jsonBody(await env.ts.fetch('/api/opendcr/v1/keys', { headers: { authorization: ADMIN } }), 200);
    const activeBefore = (before['list'] as Array<Record<string, unknown>>).filter((k) => k['state'] === 'active').map((k) => k['kid']);
    const { page: p, problems } = await page();
    await go(p, '/security', 'Trust, keys and scopes');
    await p.getByRole('button', { name: 'Rotate the signing keys' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    await p.getByRole('status').filter({ hasText: 'Rotated' }).waitFor();
    const table = p.getByRole('table', { name: 'Signing keys' });
    for (const kid of activeBefore)
      await table
        .getByRole('row')
        .filter({ hasText: String(kid) })
        .getByText('retired')
        .waitFor();
    await screenshot(p, '08-keys-rotated');
    const now = await jsonBody(await env.ts.fetch('/api/opendcr/v1/keys', { headers: { authorization: ADMIN } }), 200);
    const activeNow = (now['list'] as Array<Record<string, unknown>>).filter((k) => k['state'] === 'active').map((k) => k['kid']);
    assert.ok(activeNow.length > 0);
    assert.ok(activeNow.every((kid) => !activeBefore.includes(kid)));
    assert.deepEqual(problems, []);
  });

  test('blocking a subscription in the console makes the gateway answer 403; unblocking restores it', async () => {
    const token = await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
    // An account access consent: the client credentials call of the Account and Transaction API.
    const call = () =>
      env.ts.fetch(`${CONTEXT}/account-access-consents`, {
        method: 'POST',
        body: JSON.stringify({ Data: { Permissions: ['ReadAccountsBasic'] }, Risk: {} }),
        headers: { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': INTERACTION, 'content-type': 'application/json' },
        cert: tlsOf(env.aispPisp.transport),
      });
    const first = await call();
    assert.equal(first.status, 200, await first.text());
    const { page: p, problems } = await page();
    await go(p, `/applications/${encodeURIComponent(clientId)}`, env.aispPisp.name);
    const subs = p.getByRole('table', { name: 'Subscriptions' });
    await subs.getByRole('button', { name: 'Block' }).click();
    await subs.getByText('BLOCKED', { exact: true }).waitFor();
    await screenshot(p, '09-subscription-blocked');
    const refused = await call();
    assert.equal(refused.status, 403);
    await subs.getByRole('button', { name: 'Unblock' }).click();
    await subs.getByText('UNBLOCKED', { exact: true }).waitFor();
    assert.equal((await call()).status, 200);
    assert.deepEqual(problems, []);
  });

  test("the dashboard charts registrations, tokens and gateway calls from the server's own data", async () => {
    const { page: p, problems } = await page();
    await go(p, '/', 'Dashboard');
    await p.getByText('Registrations per hour: the numbers').click();
    await p.getByRole('table', { name: 'Registrations per hour' }).getByText('created').first().waitFor();
    await p.getByText('Tokens per minute: the numbers').click();
    await p.getByRole('table', { name: 'Tokens per minute' }).getByText('client_credentials').first().waitFor();
    await p.getByText('Gateway calls per API: the numbers').click();
    const gw = p.getByRole('table', { name: 'Gateway calls per API' }).getByRole('row').filter({ hasText: 'Account and Transaction API' });
    await gw.waitFor();
    // The blocked call was counted; it was refused 403, not 429.
    assert.match(await gw.innerText(), /\b3\b/);
    assert.equal(await p.locator('canvas').count(), 3);
    await screenshot(p, '10-dashboard-charts');
    assert.deepEqual(problems, []);
  });

  test("a change without the session's CSRF header is refused, and so is any change by an auditor", async () => {
    const { page: p } = await page();
    const [simple, csrfLess] = await p.evaluate(async () =>
      Promise.all(
        [{}, { 'x-opendcr-console': '1' }].map(async (headers) => {
          const res = await fetch('/api/opendcr/v1/keys/rotate', { method: 'POST', credentials: 'same-origin', headers });
          return { status: res.status, body: (await res.json()) as Record<string, unknown> };
        }),
      ),
    );
    // A request any page could make a browser send is refused first; then the session's token is missing.
    assert.equal(simple!.status, 403);
    assert.equal(simple!.body['code'], 'ADMIN_CROSS_SITE');
    assert.equal(csrfLess!.status, 403);
    assert.equal(csrfLess!.body['code'], 'ADMIN_CSRF');

    const auditor = await page(AUDITOR);
    const a = auditor.page;
    await a.getByText('audit (auditor, read only)').waitFor();
    // No control that changes anything, on any page.
    for (const [path, title] of [
      ['/apis', 'APIs'],
      ['/plans', 'Business plans'],
      ['/security', 'Trust, keys and scopes'],
      ['/key-managers', 'Key managers'],
      [`/applications/${encodeURIComponent(clientId)}`, env.aispPisp.name],
    ] as const) {
      await go(a, path, title);
      await a.getByText('You are signed in as an auditor').waitFor();
      for (const name of [
        'Import',
        'Trust this CA',
        'Rotate the signing keys',
        'Add the plan',
        'Validate and add',
        'Block',
        'Delete this registration',
        'Add the scope',
        'Subscribe',
        'Change plan',
        'Publish',
        'Deprecate',
      ]) {
        assert.equal(await a.getByRole('button', { name, exact: true }).count(), 0, `${path}: no "${name}" button`);
      }
    }
    await screenshot(a, '11-auditor');
    // Even with the CSRF token, the server refuses an auditor's change.
    const refused = await a.evaluate(async () => {
      const session = (await (await fetch('/admin/api/session')).json()) as { csrfToken: string };
      const res = await fetch('/api/opendcr/v1/keys/rotate', { method: 'POST', headers: { 'x-csrf-token': session.csrfToken } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body['code'], 'ADMIN_READ_ONLY');
  });

  test('every page: the CSP header, no console error or third-party request, at 1280×800 and on a narrow window', async () => {
    const pages = await consolePages();
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 800 },
    ]) {
      const w = await page(OPS, viewport);
      for (const [path, title] of pages) {
        const res = await w.page.goto(`${env.url}/admin${path}`);
        assert.equal(res?.status(), 200, path);
        assert.equal(res.headers()['content-security-policy'], CONSOLE_CSP, path);
        assert.equal(res.headers()['x-content-type-options'], 'nosniff');
        await heading(w.page, title);
        // Nothing wider than the window (a narrow window scrolls tables inside their own box).
        const overflow = (await w.page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
        assert.ok(overflow <= 0, `${path} at ${viewport.width}px: the page is ${overflow}px wider than the window`);
        await screenshot(w.page, `page-${viewport.width}-${path.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '') || 'dashboard'}`);
      }
      noProblems(w);
    }
    // Assets: served by us, cached for a year under a content hash.
    const html = await (await env.ts.fetch('/admin/')).text();
    const asset = /src="(\/admin\/assets\/[0-9a-f]{16}\/app\.js)"/.exec(html)?.[1];
    assert.ok(asset);
    const res = await env.ts.fetch(asset);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
    assert.equal((await env.ts.fetch('/admin/assets/0000000000000000/app.js')).status, 404);
    assert.doesNotMatch(html, /<script>|<style>| style=| on[a-z]+=/i, 'no inline script or style');
  });

  test('accessibility: axe-core finds no WCAG 2.1 A or AA violation (contrast, labels, names, structure) on any page', async () => {
    // axe-core is injected as a script, which the console's CSP forbids: this one context bypasses it.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1280, height: 800 } });
    try {
      const p = await context.newPage();
      p.setDefaultTimeout(15_000);
      await signIn(p, env.url, OPS.user, OPS.password);
      const found: string[] = [];
      for (const [path, title] of await consolePages()) {
        await p.goto(`${env.url}/admin${path}`);
        await heading(p, title);
        // Every details element open, so the tables inside are checked too.
        await p.evaluate('document.querySelectorAll("details").forEach((d) => { d.open = true; })');
        await p.addScriptTag({ content: AXE });
        const violations = (await p.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
          .then((r) => r.violations.map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')))`)) as string[];
        found.push(...violations.map((v) => `${path}: ${v}`));
      }
      assert.deepEqual(found, []);
    } finally {
      await context.close();
    }
  });

  test('keyboard only: skip link, navigation and a form work without a mouse, with a visible focus', async () => {
    const { page: p, problems } = await page();
    // A page loaded afresh: the first Tab reaches the skip link.
    await p.reload();
    await heading(p, 'Dashboard');
    await p.keyboard.press('Tab');
    assert.equal(await p.evaluate('document.activeElement?.textContent'), 'Skip to content');
    // Tab to the "Business plans" link and follow it.
    for (let i = 0; i < 20; i++) {
      await p.keyboard.press('Tab');
      if ((await p.evaluate('document.activeElement?.textContent')) === 'Business plans') break;
    }
    const outline = await p.evaluate('getComputedStyle(document.activeElement).outlineStyle');
    assert.notEqual(outline, 'none', 'focus is visible');
    await p.keyboard.press('Enter');
    await heading(p, 'Business plans');
    await screenshot(p, '12-keyboard');
    assert.deepEqual(problems, []);
  });

  test('sandbox: a test TPP created in the console, its bundle downloaded as a zip', async () => {
    const { page: p, problems } = await page();
    await go(p, '/sandbox', 'Sandbox');
    await p.getByRole('button', { name: 'Create the sandbox directory' }).click();
    await p.getByRole('status').filter({ hasText: 'ready' }).waitFor();
    await p.getByRole('textbox', { name: 'Name', exact: true }).fill('Console Budgeting');
    await p.getByLabel('PISP (payment initiation)').check();
    await p.getByRole('button', { name: 'Create the TPP' }).click();
    await p.getByRole('status').filter({ hasText: 'Console Budgeting is enrolled' }).waitFor();
    const [download] = await Promise.all([p.waitForEvent('download'), p.getByRole('link', { name: 'Download Console Budgeting (zip)' }).click()]);
    const path = await download.path();
    const files = unzipSync(new Uint8Array(readFileSync(path)));
    const names = Object.keys(files)
      .map((n) => n.replace(/^[^/]+\//, ''))
      .sort();
    assert.deepEqual(names, [
      'README.txt',
      'server-ca.pem',
      'signing-key.pem',
      'software.jwks.json',
      'ssa.jwt',
      'tpp.json',
      'transport-chain.pem',
      'transport-key.pem',
      'transport.pem',
    ]);
    const entry = (n: string) => strFromU8(files[Object.keys(files).find((k) => k.endsWith(`/${n}`))!]!);
    assert.match(entry('transport-key.pem'), /BEGIN PRIVATE KEY/);
    const claims = JSON.parse(Buffer.from(entry('ssa.jwt').trim().split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    assert.equal(claims['software_client_name'], 'Console Budgeting');
    assert.deepEqual(claims['software_roles'], ['AISP', 'PISP']);
    await screenshot(p, '13-sandbox');
    assert.deepEqual(problems, []);
  });

  test('deleting a registration asks first, then removes it with its subscriptions and audits who did it', async () => {
    const { page: p, problems } = await page();
    await go(p, `/applications/${encodeURIComponent(clientId)}`, env.aispPisp.name);
    await p.getByRole('button', { name: 'Delete this registration' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await env.ts.fetch(`/api/opendcr/v1/registrations/${clientId}`, { headers: { authorization: ADMIN } })).status, 200, 'cancel keeps it');
    await p.getByRole('button', { name: 'Delete this registration' }).click();
    await p.getByRole('dialog').getByRole('button', { name: 'Delete the registration' }).click();
    await heading(p, 'Applications');
    assert.equal((await env.ts.fetch(`/api/opendcr/v1/registrations/${clientId}`, { headers: { authorization: ADMIN } })).status, 404);
    const subs = await jsonBody(await env.ts.fetch(`/api/am/devportal/v3/subscriptions?applicationId=${clientId}`, { headers: { authorization: ADMIN } }), 200);
    assert.equal(subs['count'], 0);
    const audit = await jsonBody(
      await env.ts.fetch(`/api/opendcr/v1/registrations/audit?client_id=${clientId}&event=deleted`, { headers: { authorization: ADMIN } }),
      200,
    );
    assert.match(String((audit['list'] as Array<Record<string, unknown>>)[0]!['reason']), /deleted by the administrator ops/);
    assert.deepEqual(problems, []);
  });

  test('sign out everywhere: the button ends every session of the user at once, in every browser', async () => {
    const [here, there] = [await page(), await page()];
    await here.page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await here.page.getByRole('button', { name: 'Sign in' }).waitFor();
    // The other browser's session is over too: its next request is refused, and the console asks to sign in.
    const refused = await there.page.evaluate(async () => {
      const res = await fetch('/api/opendcr/v1/keys', { headers: { 'x-opendcr-console': '1' } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    });
    assert.deepEqual([refused.status, refused.body['code']], [401, 'ADMIN_SESSION_INVALID']);
    await there.page.getByRole('link', { name: 'Business plans' }).click();
    await there.page.getByRole('button', { name: 'Sign in' }).waitFor();
    await screenshot(there.page, '14-signed-out-everywhere');
    // The refused requests answered 401, which Chromium reports in the console: those are the ones expected.
    for (const w of [here, there])
      assert.deepEqual(
        w.problems.filter((m) => !m.includes('401')),
        [],
      );
    // Signing in again works.
    await signIn(there.page, env.url, OPS.user, OPS.password);
  });
});
