/**
 * The customer's access dashboard (`/psu/access`) over real HTTPS, with two customers: each signs
 * in and sees only their own consents (the TPP's name, what it sees in plain words, the accounts,
 * when granted and ending, status, history); "stop sharing" asks first, saying what the TPP loses,
 * then revokes at once: the TPP's token stops, its event notice waits to be polled. Another
 * customer's consent, under every crafted form of its id, is "not found" and stays as it is; a
 * change without the session's CSRF token or from another origin is refused; signing out ends the
 * session on every host. Then the same in Chromium on a 390 px phone, with axe-core.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { startDcrEnvironment, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { accountAccessBody, authorizeConsent, createConsent, publishConsentApis, registerConsentTpp, type ConsentTpp } from '../helpers/consents.ts';
import { ACCESS_CSP } from '../../src/oauth/access/routes.ts';
import { RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';
import { browserMissing, launch, openPage, screenshot } from '../console/browser.ts';

const PSU = { username: 'psu', password: 'psu' };
const MIA = { username: 'mia', password: 'mia-secret' };

let env: DcrEnvironment;
let backend: TestBackend;
let tpp: ConsentTpp;
const missing = browserMissing();

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment({
    sandbox: {
      users: [
        { username: PSU.username, password: PSU.password, name: 'Pat Sandbox', email: 'psu@example.com' },
        { username: MIA.username, password: MIA.password, name: 'Mia Other', email: 'mia@example.com' },
      ],
    },
  });
  await publishConsentApis(env, backend.url, ['accounts']);
  tpp = await registerConsentTpp(env, await env.addTpp({ name: 'Budget Buddy Ltd', roles: ['AISP'] }));
});
after(async () => {
  await env?.close();
  await backend?.close();
});

/** A consent of the TPP authorised by `who`, and the TPP's access token for it. */
async function grantedBy(who: { username: string; password: string }): Promise<{ id: string; token: string }> {
  const id = await createConsent(env, tpp, 'accounts', '/account-access-consents', accountAccessBody());
  const out = await authorizeConsent(env, tpp, id, 'accounts', { psu: who });
  return { id, token: String((await out.exchange()).access_token) };
}
const accountsCall = (token: string) =>
  env.ts.fetch('/open-banking/v3.1/aisp/accounts', {
    cert: tlsOf(tpp.tpp.transport),
    headers: { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': '4f0c2b9e-9f1a-4b7e-8d2c-1a2b3c4d5e6f' },
  });

interface Signed {
  readonly cookie: string;
}
async function signIn(who: { username: string; password: string }): Promise<Signed> {
  const res = await env.ts.fetch('/psu/access/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(who).toString(),
    redirect: 'manual',
  } as never);
  assert.equal(res.status, 303, await res.text());
  const setCookie = res.headers.get('set-cookie') ?? '';
  assert.match(setCookie, /Path=\/psu\/access; Secure; HttpOnly; SameSite=Strict/);
  return { cookie: /^(opendcr_psu=[^;]+)/.exec(setCookie)![1]! };
}
const page = async (s: Signed | undefined, path: string, form?: Record<string, string>, headers: Record<string, string> = {}) => {
  const res = await env.ts.fetch(path, {
    method: form ? 'POST' : 'GET',
    headers: {
      ...(s ? { cookie: s.cookie } : {}),
      ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...headers,
    },
    ...(form ? { body: new URLSearchParams(form).toString() } : {}),
  });
  return { status: res.status, html: await res.text(), headers: res.headers };
};
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)![1]!;

describe('the access dashboard', () => {
  test('each customer sees only their own consents, in plain words, with a strict page policy', async () => {
    const mine = await grantedBy(PSU);
    const theirs = await grantedBy(MIA);
    const pat = await signIn(PSU);
    const dash = await page(pat, '/psu/access');
    assert.equal(dash.status, 200);
    assert.equal(dash.headers.get('content-security-policy'), ACCESS_CSP);
    assert.equal(dash.headers.get('cache-control'), 'no-store');
    assert.ok(!/<script/i.test(dash.html), 'no script');
    assert.match(dash.html, /Signed in as <strong>Pat Sandbox<\/strong>/);
    assert.match(dash.html, /Budget Buddy Ltd/);
    assert.match(dash.html, /Your balances/);
    assert.match(dash.html, /Current account \(GBP\), ending \d{4}/);
    assert.ok(dash.html.includes(`/psu/access/consents/${mine.id}/stop`));
    assert.ok(!dash.html.includes(theirs.id), "never another customer's consent");
    const miaDash = await page(await signIn(MIA), '/psu/access');
    assert.ok(miaDash.html.includes(theirs.id) && !miaDash.html.includes(mine.id));

    // Not signed in: the sign-in page, nothing listed.
    const anon = await page(undefined, '/psu/access');
    assert.match(anon.html, /<label for="username">User name<\/label>/);
    assert.ok(!anon.html.includes(mine.id));
    const wrong = await page(undefined, '/psu/access/sign-in', { username: 'psu', password: 'zq-wrong-secret' });
    assert.equal(wrong.status, 401);
    assert.ok(!wrong.html.includes('zq-wrong-secret'), 'the password is never echoed');
  });

  test("another customer's consent, under every crafted form of its id, is not found and stays as it is", async () => {
    const theirs = await grantedBy(MIA);
    const pat = await signIn(PSU);
    const csrf = csrfOf((await page(pat, '/psu/access')).html);
    const forms = [
      theirs.id,
      theirs.id.toUpperCase(),
      encodeURIComponent(theirs.id),
      `${theirs.id}%20`,
      `%2e%2e%2f${theirs.id}`,
      `${theirs.id}%00`,
      'x'.repeat(200),
      '00000000-0000-4000-8000-000000000000',
    ];
    for (const id of forms) {
      const view = await page(pat, `/psu/access/consents/${id}/stop`);
      assert.ok([400, 404, 414].includes(view.status), `${id}: ${view.status}`);
      assert.ok(!view.html.includes('Stop sharing with'), id);
      const stop = await page(pat, `/psu/access/consents/${id}/stop`, { csrf });
      assert.ok([400, 404, 414].includes(stop.status), `${id}: ${stop.status}`);
    }
    const after = await env.ts.storage.consents.get(theirs.id);
    assert.equal(after?.status, 'AUTH');
    assert.equal((await accountsCall(theirs.token)).status, 200, "the other customer's TPP still reads");
  });

  test('stop sharing: asked first, refused without the CSRF token or from another origin, then revoked at once', async () => {
    const mine = await grantedBy(PSU);
    assert.equal((await accountsCall(mine.token)).status, 200);
    const pat = await signIn(PSU);
    const ask = await page(pat, `/psu/access/consents/${mine.id}/stop`);
    assert.equal(ask.status, 200);
    assert.match(ask.html, /Budget Buddy Ltd will no longer see:/);
    assert.match(ask.html, /Your transactions, with their details/);
    const csrf = csrfOf(ask.html);

    for (const [what, form, headers] of [
      ['no token', {}, {}],
      ['a wrong token', { csrf: `${csrf.slice(0, -2)}xx` }, {}],
      ['another origin', { csrf }, { origin: 'https://evil.example' }],
      ['a cross-site form', { csrf }, { 'sec-fetch-site': 'cross-site' }],
    ] as const) {
      const res = await page(pat, `/psu/access/consents/${mine.id}/stop`, form, headers);
      assert.equal(res.status, 403, what);
      assert.equal((await env.ts.storage.consents.get(mine.id))?.status, 'AUTH', `${what}: nothing changed`);
    }

    const done = await page(pat, `/psu/access/consents/${mine.id}/stop`, { csrf });
    assert.equal(done.status, 200);
    assert.match(done.html, /You stopped sharing with Budget Buddy Ltd/);
    const stored = await env.ts.storage.consents.get(mine.id);
    assert.equal(stored?.status, 'CANC');
    const last = (await env.ts.storage.consents.history(mine.id)).at(-1)!;
    assert.deepEqual([last.from, last.to, last.actor, last.actorId], ['AUTH', 'CANC', 'psu', 'psu']);
    assert.equal((await accountsCall(mine.token)).status, 401, "the TPP's token stops at once");
    const notices = await env.ts.storage.consents.notices(RESIDENT_KEY_MANAGER, tpp.clientId, 100);
    assert.ok(
      notices.some((n) => n.consentId === mine.id),
      'its TPP has an event to poll',
    );
    assert.equal((await page(pat, `/psu/access/consents/${mine.id}/stop`, { csrf })).status, 409, 'a second stop: already ended');
  });

  test('signing out ends the session: the old cookie no longer opens the dashboard', async () => {
    const pat = await signIn(PSU);
    const dash = await page(pat, '/psu/access');
    const out = await page(pat, '/psu/access/sign-out', { csrf: csrfOf(dash.html) });
    assert.equal(out.status, 200);
    const again = await page(pat, '/psu/access');
    assert.match(again.html, /<label for="username">/, 'the sign-in page again');
    const tampered = await page({ cookie: `${pat.cookie.slice(0, -3)}abc` }, '/psu/access');
    assert.match(tampered.html, /<label for="username">/);
  });
});

describe('the access dashboard in Chromium', { skip: missing }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });
  const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

  test('on a 390 px phone: sign in, read, stop sharing after the question; axe-core finds nothing', async () => {
    const mine = await grantedBy(PSU);
    const w = await openPage(browser, env.url, { width: 390, height: 844 });
    const p = w.page;
    try {
      await p.goto(`${env.url}/psu/access`);
      await p.getByLabel('User name').fill(PSU.username);
      await p.getByLabel('Password').fill(PSU.password);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p
        .getByText('Signed in as')
        .waitFor()
        .catch(async (err: unknown) => {
          throw new Error(`${String(err)}\n${p.url()}\n${await p.content()}\n${w.problems.join('\n')}`);
        });
      const width = (await p.evaluate('document.documentElement.scrollWidth')) as number;
      assert.ok(width <= 390, `no sideways scrolling on a phone (${width} px)`);
      await screenshot(p, 'access-dashboard-phone');
      const check = async (where: string) => {
        // axe-core is injected as a script, which the page's CSP forbids: evaluated in this page's world instead.
        await p.evaluate(AXE);
        const violations = (await p.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
          .then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`)) as string[];
        assert.deepEqual(violations, [], where);
      };
      await check('the dashboard');
      await p.locator(`a[href="/psu/access/consents/${mine.id}/stop"]`).click();
      await p.getByRole('heading', { level: 1, name: /Stop sharing with Budget Buddy Ltd/ }).waitFor();
      await check('the question');
      await p.getByRole('button', { name: 'Stop sharing' }).click();
      await p.getByRole('status').filter({ hasText: 'You stopped sharing with Budget Buddy Ltd' }).waitFor();
      await check('the dashboard after stopping');
      assert.equal((await env.ts.storage.consents.get(mine.id))?.status, 'CANC');
      assert.equal((await accountsCall(mine.token)).status, 401);
      assert.deepEqual(w.problems, []);
    } finally {
      await w.context.close();
    }
  });
});
