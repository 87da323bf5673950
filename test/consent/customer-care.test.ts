/**
 * Customer care's side of consents over real HTTPS: the `customer_care` console role reaches the
 * consents API (find, read, revoke with its reason recorded under the staff user's name) and is
 * refused everywhere else; an auditor reads and never revokes. The search finds consents by TPP
 * name (any part, any case), software id, client id, consent id, customer and creation date; a
 * consent's detail names its TPP and the tokens its grant holds; the day figures count what the
 * history says. Bad search input is 400, nothing echoed. In Chromium: customer care signs in to
 * the console, sees the Consents page only, finds a customer's consent, reads it and revokes it
 * with a reason after the question; axe-core on both pages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../src/admin/passwords.ts';
import { startDcrEnvironment, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { accountAccessBody, authorizeConsent, createConsent, publishConsentApis, registerConsentTpp, type ConsentTpp } from '../helpers/consents.ts';
import { ADMIN } from '../gateway/support.ts';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, launch, openPage, screenshot } from '../console/browser.ts';

const API = '/api/opendcr/v1/consents';
const CARE = { username: 'carol', password: 'carol-password-1' };
const AUDITOR = { username: 'audrey', password: 'audrey-password-1' };

let env: DcrEnvironment;
let backend: TestBackend;
let acme: ConsentTpp;
let zed: ConsentTpp;

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment({
    admin: {
      users: [
        { username: CARE.username, password_hash: await hashPassword(CARE.password), role: 'customer_care' },
        { username: AUDITOR.username, password_hash: await hashPassword(AUDITOR.password), role: 'auditor' },
      ],
    },
    sandbox: {
      users: [
        { username: 'psu', password: 'psu', name: 'Sandbox PSU', email: 'psu@example.com' },
        { username: 'mia', password: 'mia', name: 'Mia', email: 'mia@example.com' },
      ],
    },
  });
  await publishConsentApis(env, backend.url, ['accounts']);
  acme = await registerConsentTpp(env, await env.addTpp({ name: 'Acme Budgeting Ltd', roles: ['AISP'] }));
  zed = await registerConsentTpp(env, await env.addTpp({ name: 'Zed Accounts plc', roles: ['AISP'] }));
});
after(async () => {
  await env?.close();
  await backend?.close();
});

interface Staff {
  readonly cookie: string;
  readonly csrf: string;
}
async function signIn(who: { username: string; password: string }): Promise<Staff> {
  const res = await env.ts.fetch('/admin/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who) });
  const body = await jsonBody(res, 201);
  return { cookie: /^(opendcr_admin=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1]!, csrf: String(body['csrfToken']) };
}
const as = (staff: Staff, path: string, init: { method?: string; body?: unknown } = {}) =>
  env.ts.fetch(path, {
    method: init.method ?? 'GET',
    headers: {
      cookie: staff.cookie,
      'x-csrf-token': staff.csrf,
      origin: new URL(env.url).origin,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
const ids = (page: Record<string, unknown>) => (page['list'] as Array<Record<string, unknown>>).map((c) => String(c['consentId']));
const consentOf = (who: ConsentTpp) => createConsent(env, who, 'accounts', '/account-access-consents', accountAccessBody());

describe('customer care', () => {
  test('customer care finds, reads and revokes consents, and reaches nothing else', async () => {
    const care = await signIn(CARE);
    const id = await consentOf(acme);
    await authorizeConsent(env, acme, id, 'accounts');
    const found = await jsonBody(await as(care, `${API}?psu=psu&tpp=acme`), 200);
    assert.ok(ids(found).includes(id));
    const row = (found['list'] as Array<Record<string, unknown>>).find((c) => c['consentId'] === id)!;
    assert.equal((row['tpp'] as Record<string, unknown>)['name'], 'Acme Budgeting Ltd');
    const detail = await jsonBody(await as(care, `${API}/${id}`), 200);
    assert.equal(detail['psu'], 'psu');
    const kinds = (detail['tokens'] as Array<Record<string, unknown>>).map((t) => t['kind']);
    assert.ok(kinds.includes('Grant'), JSON.stringify(kinds));
    assert.ok(!JSON.stringify(detail['tokens']).match(/"id"/), 'no token id shown');

    const stopped = await jsonBody(await as(care, `${API}/${id}/stop`, { method: 'POST', body: { reason: 'customer phoned' } }), 200);
    assert.equal(stopped['status'], 'CANC');
    const last = (stopped['history'] as Array<Record<string, unknown>>).at(-1)!;
    assert.deepEqual([last['from'], last['to'], last['actor'], last['actorId'], last['reason']], ['AUTH', 'CANC', 'staff', CARE.username, 'customer phoned']);
    assert.deepEqual(stopped['tokens'], [], "the grant's tokens are gone");

    // Nothing else: every other admin API is 403 ADMIN_ROLE_FORBIDDEN, reading or changing.
    for (const [method, path, body] of [
      ['GET', '/api/opendcr/v1/registrations/audit', undefined],
      ['GET', '/api/opendcr/v1/truststore', undefined],
      ['GET', '/api/opendcr/v1/status', undefined],
      ['GET', '/api/am/publisher/v4/apis', undefined],
      ['GET', '/api/identity/oauth2/v1.0/scopes', undefined],
      ['POST', '/api/identity/oauth2/v1.0/scopes', { name: 'care-made' }],
      ['POST', '/api/opendcr/v1/keys/rotate', {}],
      ['GET', '/api/am/admin/v4/throttling/policies/subscription', undefined],
    ] as const) {
      const res = await as(care, path, { method, body });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal((await jsonBody(res, 403))['code'], 'ADMIN_ROLE_FORBIDDEN', `${method} ${path}`);
    }
    assert.equal((await as(care, '/api/opendcr/v1/consent-figures')).status, 200, 'the consent figures are consents too');
    assert.equal((await jsonBody(await as(care, '/admin/api/session'), 200))['role'], 'customer_care', 'its own session it may read');
    assert.equal((await as(care, '/admin/api/session', { method: 'DELETE' })).status, 200, 'and end');
  });

  test('an auditor reads the consents and never revokes one; the figures are the dashboard’s', async () => {
    const audrey = await signIn(AUDITOR);
    const id = await consentOf(zed);
    await authorizeConsent(env, zed, id, 'accounts');
    assert.equal((await jsonBody(await as(audrey, `${API}/${id}`), 200))['status'], 'AUTH');
    const refused = await as(audrey, `${API}/${id}/stop`, { method: 'POST', body: { reason: 'x' } });
    assert.equal((await jsonBody(refused, 403))['code'], 'ADMIN_READ_ONLY');
    assert.equal((await env.ts.storage.consents.get(id))?.status, 'AUTH', 'nothing changed');

    const figures = await jsonBody(await as(audrey, '/api/opendcr/v1/consent-figures?days=7'), 200);
    const days = figures['days'] as Array<Record<string, unknown>>;
    assert.equal(days.length, 7);
    const today = days.at(-1)!;
    assert.equal(today['day'], new Date().toISOString().slice(0, 10));
    // What the history says today, counted from the store the same way.
    const all = await env.ts.storage.consents.list({ limit: 1000, deleted: true });
    const histories = await Promise.all(all.map((c) => env.ts.storage.consents.history(c.id)));
    const todays = histories.flat().filter((e) => new Date(e.at).toISOString().slice(0, 10) === today['day']);
    assert.equal(today['created'], todays.filter((e) => e.from === null).length);
    assert.equal(today['authorised'], todays.filter((e) => e.from === 'AWAU' && e.to === 'AUTH').length);
    assert.equal((today['revoked'] as Record<string, number>)['staff'], todays.filter((e) => e.to === 'CANC' && e.actor === 'staff').length);
    assert.ok(Number(today['created']) >= 1);
    for (const q of ['days=0', 'days=91', 'days=x', 'days=1.5']) assert.equal((await as(audrey, `/api/opendcr/v1/consent-figures?${q}`)).status, 400, q);
  });

  test('search: by TPP name in any case and part, software id, client id, consent id and date; bad input 400, nothing echoed', async () => {
    const a1 = await consentOf(acme);
    const z1 = await consentOf(zed);
    const find = async (q: string) => ids(await jsonBody(await env.ts.fetch(`${API}?${q}&limit=500`, { headers: { authorization: ADMIN } }), 200));
    for (const q of ['tpp=ACME', 'tpp=budget', `tpp=${acme.tpp.softwareId}`, `tpp=${acme.clientId}`, `client_id=${acme.clientId}`]) {
      const got = await find(q);
      assert.ok(got.includes(a1), q);
      assert.ok(!got.includes(z1), q);
    }
    assert.deepEqual(await find(`consent_id=${z1}`), [z1]);
    assert.deepEqual(await find(`consent_id=${z1}&tpp=acme`), [], 'every filter holds');
    assert.deepEqual(await find('tpp=no-such-tpp'), []);
    const today = new Date().toISOString().slice(0, 10);
    assert.ok((await find(`from=${today}&tpp=zed`)).includes(z1));
    assert.deepEqual(await find(`to=${today}&tpp=zed`), [], 'to is exclusive: nothing was created before today');
    assert.ok((await find(`from=${new Date(Date.now() - 60_000).toISOString()}&consent_id=${a1}`)).includes(a1));

    const probe = '<b>zq</b>';
    for (const q of [`from=${probe}`, 'from=2026-13-01', 'to=yesterday', 'from=2026-12-01T10:00', `tpp=${'x'.repeat(257)}`, 'consent_id=']) {
      const res = await env.ts.fetch(`${API}?${q}`, { headers: { authorization: ADMIN } });
      const text = await res.text();
      assert.equal(res.status, 400, `${q}: ${text}`);
      assert.ok(!text.includes(probe), 'nothing echoed');
    }
  });
});

describe('customer care in the console, in Chromium', { skip: browserMissing() }, () => {
  let browser: Browser;
  const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });
  async function axe(p: Page, where: string) {
    await p.addScriptTag({ content: AXE });
    const violations = (await p.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
      .then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')))`)) as string[];
    assert.deepEqual(violations, [], where);
  }

  test('find a customer’s consent, read it, revoke it with a reason; nothing else in reach', async () => {
    const id = await consentOf(zed);
    await authorizeConsent(env, zed, id, 'accounts', { psu: { username: 'mia', password: 'mia' } });
    // axe-core is injected as a script, which the console's CSP forbids: this context bypasses it.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1280, height: 800 } });
    const w = await openPage(browser, env.url);
    try {
      for (const p of [w.page, await context.newPage()]) {
        p.setDefaultTimeout(15_000);
        await p.goto(`${env.url}/admin/`);
        await p.getByLabel('User name').fill(CARE.username);
        await p.getByLabel('Password').fill(CARE.password);
        await p.getByLabel('Password').press('Enter');
        await p.getByRole('heading', { level: 1, name: 'Consents' }).waitFor();
      }
      const p = w.page;
      const nav = await p.getByRole('navigation', { name: 'Console sections' }).getByRole('link').allTextContents();
      assert.deepEqual(nav, ['Consents'], 'customer care sees the Consents page only');
      await p.goto(`${env.url}/admin/apis`);
      await p.getByRole('heading', { level: 1, name: 'Consents' }).waitFor();
      assert.ok(p.url().endsWith('/admin/consents'), 'another page leads back to the consents');

      await p.getByLabel('Customer (PSU id)').fill('mia');
      await p.getByLabel('TPP').fill('zed accounts');
      await p.getByRole('button', { name: 'Find' }).click();
      const row = p.getByRole('row').filter({ hasText: 'Zed Accounts plc' }).first();
      await row.waitFor();
      await row.getByRole('link').click();
      await p.getByRole('heading', { level: 1, name: `Consent ${id}` }).waitFor();
      await p.getByText('authorised').first().waitFor();
      await screenshot(p, 'customer-care-consent');

      await p.getByLabel('Reason').fill('customer phoned: does not know this app');
      await p.getByRole('button', { name: 'Revoke consent' }).click();
      const dialog = p.getByRole('dialog', { name: 'Revoke this consent?' });
      await dialog.waitFor();
      assert.match((await dialog.textContent()) ?? '', /Zed Accounts plc loses access at once/);
      await dialog.getByRole('button', { name: 'Revoke' }).click();
      await p.getByRole('cell', { name: 'customer phoned: does not know this app' }).waitFor();
      const last = (await env.ts.storage.consents.history(id)).at(-1)!;
      assert.deepEqual([last.to, last.actor, last.actorId, last.reason], ['CANC', 'staff', CARE.username, 'customer phoned: does not know this app']);
      assert.deepEqual(w.problems, []);

      // The same pages, checked by axe-core.
      const q = context.pages()[0]!;
      await q.goto(`${env.url}/admin/consents?psu=mia`);
      await q.getByRole('heading', { level: 1, name: 'Consents' }).waitFor();
      await q.getByRole('row').filter({ hasText: 'Zed Accounts plc' }).first().waitFor();
      await axe(q, 'the consents list');
      await q.goto(`${env.url}/admin/consents/${id}`);
      await q.getByRole('heading', { level: 1, name: `Consent ${id}` }).waitFor();
      await axe(q, 'a consent');
    } finally {
      await w.context.close();
      await context.close();
    }
  });
});
