/**
 * The bank's own sign-in for customers (`[psu] identity_provider`), against a real second OpenID
 * provider (oidc-provider, test/helpers/bank-idp.ts) and in Debian's Chromium: a provider that is
 * down gives a clear page and authorises nothing, and is used once it is up; the whole journey
 * (the TPP's authorization request, the bank's sign-in, the consent page, the TPP's token; then
 * the customer's dashboard through the same sign-in, "stop sharing", the TPP's next call refused
 * and its revocation event polled); a customer who cancels at the bank sends the TPP
 * access_denied and leaves the consent waiting; an ID token with another nonce, issuer or
 * audience, or without the strong customer authentication asked for, signs nobody in. axe-core
 * on every new page.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { issueServerCertificate } from '../../src/crypto/pki.ts';
import { startDcrEnvironment, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort, readSandboxCa } from '../helpers/server.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { BANK_IDP_CLIENT, BANK_SCA, startBankIdp, type BankIdp } from '../helpers/bank-idp.ts';
import {
  accountAccessBody,
  ccTokenFor,
  consentAuthorization,
  createConsent,
  publishConsentApis,
  registerConsentTpp,
  type ConsentTpp,
} from '../helpers/consents.ts';
import { browserMissing, launch, openPage, screenshot, type Watched } from '../console/browser.ts';

const CUSTOMER = { username: 'psu', password: '246810' };
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const missing = browserMissing();

let env: DcrEnvironment;
let backend: TestBackend;
let tpp: ConsentTpp;
let idp: BankIdp | undefined;
let port: number;

before(async () => {
  port = await freePort();
  backend = await startTestBackend();
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-bank-idp-'));
  const secretFile = join(dir, 'client-secret');
  writeFileSync(secretFile, `${BANK_IDP_CLIENT.client_secret}\n`, { mode: 0o600 });
  env = await startDcrEnvironment({
    oauth: { allowed_outbound_hosts: [`localhost:${port}`] },
    psu: {
      identity_provider: {
        issuer: `https://localhost:${port}`,
        client_id: BANK_IDP_CLIENT.client_id,
        client_secret_file: secretFile,
        acr_values: [BANK_SCA],
      },
    },
  });
  await publishConsentApis(env, backend.url, ['accounts', 'events']);
  tpp = await registerConsentTpp(env, await env.addTpp({ name: 'Fresh Finance Ltd', roles: ['AISP'] }));
});
after(async () => {
  await idp?.close();
  await env?.close();
  await backend?.close();
});

/** The bank's provider, up: its certificate from the bank's sandbox CA, which the server's outbound fetch trusts. */
async function startIdp(): Promise<BankIdp> {
  const ca = readSandboxCa(env.ts.server.config.derived.dataDir);
  const cert = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
  return startBankIdp({
    port,
    serverTls: { certPem: cert.chainPem, keyPem: cert.keyPem },
    opendcr: env.url,
    users: { [CUSTOMER.username]: CUSTOMER.password },
  });
}

const newConsent = () => createConsent(env, tpp, 'accounts', '/account-access-consents', accountAccessBody());
const accountsCall = (token: string) =>
  env.ts.fetch('/open-banking/v3.1/aisp/accounts', {
    cert: tlsOf(tpp.tpp.transport),
    headers: { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': randomUUID() },
  });

test('a provider that is down: a clear page, nothing authorised, no password form; a sign-in once it is up', async () => {
  const dash = await env.ts.fetch('/psu/access');
  const html = await dash.text();
  assert.match(html, /Sign in with your bank/);
  assert.ok(!/type="password"/.test(html), 'no password form of ours');
  const down = await env.ts.fetch('/psu/access/sign-in', { redirect: 'manual' } as never);
  assert.equal(down.status, 503);
  assert.match(await down.text(), /not available right now\. Nothing was shared/);

  // An authorization request's login: the same, a clear page with Try again and Cancel.
  const id = await newConsent();
  const { url } = await consentAuthorization(env, tpp, id, 'accounts');
  const jar: string[] = [];
  let res = await env.ts.fetch(url.pathname + url.search, { redirect: 'manual' } as never);
  for (let hops = 0; hops < 5 && res.status >= 300 && res.status < 400; hops++) {
    for (const c of res.headers.getSetCookie()) jar.push(c.split(';')[0]!);
    const next = new URL(res.headers.get('location')!, env.url);
    res = await env.ts.fetch(next.pathname + next.search, { redirect: 'manual', headers: { cookie: jar.join('; ') } } as never);
  }
  assert.equal(res.status, 503);
  const page = await res.text();
  assert.match(page, /Sign-in did not complete/);
  assert.match(page, /Try again/);
  assert.equal((await env.ts.storage.consents.get(id))?.status, 'AWAU', 'nothing authorised');

  idp = await startIdp();
  const up = await env.ts.fetch('/psu/access/sign-in', { redirect: 'manual' } as never);
  assert.equal(up.status, 303, 'once up, the customer is sent to the provider');
  const location = new URL(up.headers.get('location')!);
  assert.equal(location.origin, idp.issuer);
  for (const p of ['client_id', 'state', 'nonce', 'code_challenge', 'redirect_uri', 'acr_values']) assert.ok(location.searchParams.get(p), p);
  assert.equal(location.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(location.searchParams.get('redirect_uri'), `${env.url.replace(/\/$/, '')}/psu/sign-in/callback`);
  assert.match(up.headers.get('set-cookie') ?? '', /^opendcr_psu_signin=[^;]+; Path=\/psu\/sign-in; Secure; HttpOnly; SameSite=Lax/);
});

describe('in Chromium', { skip: missing }, () => {
  let browser: Browser;
  const opened: Watched[] = [];
  before(async () => {
    idp ??= await startIdp();
    browser = await launch();
  });
  after(async () => {
    for (const w of opened) await w.context.close();
    await browser?.close();
  });

  /** A fresh browser whose visits to the TPP's redirect URI are recorded (and answered 200). */
  async function fresh(viewport?: { width: number; height: number }): Promise<{ w: Watched; p: Page; arrivals: URL[] }> {
    const w = await openPage(browser, env.url, viewport);
    opened.push(w);
    const arrivals: URL[] = [];
    const redirect = new URL(tpp.tpp.redirectUris[0]!);
    await w.page.route(`${redirect.origin}/**`, async (route) => {
      arrivals.push(new URL(route.request().url()));
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'TPP callback' });
    });
    return { w, p: w.page, arrivals };
  }
  /** The TPP's redirect URI as the browser arrived at it (the fragment included, which no request carries). */
  const arrived = async (p: Page, arrivals: URL[]) => {
    await p.waitForURL((u) => u.origin === new URL(tpp.tpp.redirectUris[0]!).origin);
    assert.ok(arrivals.length > 0);
    return new URL(p.url());
  };
  async function bankSignIn(p: Page) {
    await p.getByRole('heading', { name: 'Example Bank sign-in' }).waitFor();
    await p.getByLabel('Customer number').fill(CUSTOMER.username);
    await p.getByLabel('Passcode').fill(CUSTOMER.password);
    await p.getByRole('button', { name: 'Sign in' }).click();
  }
  async function axe(p: Page, where: string) {
    await p.evaluate(AXE);
    const violations = (await p.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
      .then((r) => r.violations.map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`)) as string[];
    assert.deepEqual(violations, [], where);
  }
  /** What a page reported besides the expected trips to the bank's provider and the TPP. */
  const problems = (w: Watched) => {
    const tppOrigin = new URL(tpp.tpp.redirectUris[0]!).origin;
    // The TPP's host does not exist: the browser's first try at a redirect there fails before the route answers it.
    return w.problems.filter(
      (x) =>
        !x.startsWith(`third-party request: ${idp!.issuer}/`) &&
        !x.startsWith(`third-party request: ${tppOrigin}/`) &&
        !x.startsWith(`request failed: ${tppOrigin}/`),
    );
  };

  test('the journey: bank sign-in, consent, token; the dashboard stops it; the TPP is refused and polls the event', async () => {
    const id = await newConsent();
    const request = await consentAuthorization(env, tpp, id, 'accounts');
    const { w, p, arrivals } = await fresh();
    await p.goto(request.url.href);
    await bankSignIn(p);
    await p.getByRole('heading', { level: 1, name: 'Give access' }).waitFor();
    await p.getByLabel(/^Current account/).check();
    await axe(p, 'the consent page after the bank sign-in');
    await p.getByRole('button', { name: 'Allow' }).click();
    const callback = await arrived(p, arrivals);
    const tokens = await request.exchange(callback);
    assert.equal(tokens.claims()?.['acr'], 'urn:openbanking:psd2:sca', "the bank's SCA stands behind the authorisation");
    assert.equal(tokens.claims()?.['sub'] !== undefined, true);
    const stored = await env.ts.storage.consents.get(id);
    assert.equal(stored?.status, 'AUTH');
    assert.equal(stored?.psu, CUSTOMER.username, "the customer is the bank provider's subject");
    const token = String(tokens.access_token);
    assert.equal((await accountsCall(token)).status, 200);

    // The dashboard, through the same sign-in (the provider's session spares a second password).
    await p.goto(`${env.url}/psu/access`);
    await axe(p, 'the sign-in page with the bank');
    await p.getByRole('link', { name: 'Sign in with your bank' }).click();
    // The provider asks again (its policy for a request naming acr_values), as a bank may.
    await bankSignIn(p);
    await p.getByText('Signed in as').waitFor();
    await axe(p, 'the dashboard');
    await screenshot(p, 'bank-sign-in-dashboard');
    await p.locator(`a[href="/psu/access/consents/${id}/stop"]`).click();
    await p.getByRole('button', { name: 'Stop sharing' }).click();
    await p.getByRole('status').filter({ hasText: 'You stopped sharing with Fresh Finance Ltd' }).waitFor();
    assert.equal((await env.ts.storage.consents.get(id))?.status, 'CANC');
    assert.equal((await accountsCall(token)).status, 401, "the TPP's next call is refused");

    const poll = await env.ts.fetch('/open-banking/v4.0/events', {
      method: 'POST',
      cert: tlsOf(tpp.tpp.transport),
      headers: { authorization: `Bearer ${await ccTokenFor(env, tpp, 'accounts')}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(poll.status, 200);
    const sets = ((await poll.json()) as { sets: Record<string, string> }).sets;
    const rids = Object.values(sets).map((t) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()).events);
    assert.ok(JSON.stringify(rids).includes(id), 'the TPP polls the revocation event');
    assert.deepEqual(problems(w), []);
  });

  test('the customer cancels at the bank: the TPP gets access_denied, the consent still waits', async () => {
    const id = await newConsent();
    const request = await consentAuthorization(env, tpp, id, 'accounts');
    const { p, arrivals } = await fresh();
    await p.goto(request.url.href);
    await p.getByRole('heading', { name: 'Example Bank sign-in' }).waitFor();
    await p.getByRole('button', { name: 'Cancel' }).click();
    const callback = await arrived(p, arrivals);
    const answer = new URLSearchParams(callback.hash.slice(1) || callback.search.slice(1));
    assert.equal(answer.get('error'), 'access_denied');
    assert.equal((await env.ts.storage.consents.get(id))?.status, 'AWAU');
  });

  test('another nonce, issuer or audience, or no strong customer authentication: nobody is signed in', async () => {
    for (const [what, changes] of [
      ['another nonce', { nonce: 'not-the-one-sent' }],
      ['another issuer', { iss: 'https://evil.example' }],
      ['another audience', { aud: 'someone-else' }],
      ['no acr', { acr: undefined }],
      ['a weaker acr', { acr: 'urn:bank.example:password-only' }],
    ] as const) {
      idp!.tamper(changes);
      try {
        const { w, p } = await fresh({ width: 390, height: 844 });
        await p.goto(`${env.url}/psu/access`);
        await p.getByRole('link', { name: 'Sign in with your bank' }).click();
        await bankSignIn(p).catch(async (err: unknown) => {
          throw new Error(`${what}: ${String(err)}\n${p.url()}\n${(await p.content()).slice(0, 2000)}`);
        });
        await p.getByRole('alert').waitFor();
        assert.match((await p.getByRole('alert').textContent()) ?? '', /could not be completed\. Nothing was shared/, what);
        assert.ok(!(await w.context.cookies()).some((c) => c.name === 'opendcr_psu'), `${what}: no session`);
        await axe(p, `the failed sign-in (${what})`);
      } finally {
        idp!.tamper(null);
      }
    }
    // The same for an authorization's login: the failure page, nothing authorised.
    idp!.tamper({ nonce: 'not-the-one-sent' });
    try {
      const id = await newConsent();
      const request = await consentAuthorization(env, tpp, id, 'accounts');
      const { p } = await fresh();
      await p.goto(request.url.href);
      await bankSignIn(p);
      await p.getByRole('heading', { level: 1, name: 'Sign-in did not complete' }).waitFor();
      await axe(p, 'the failed sign-in of an authorization');
      assert.equal((await env.ts.storage.consents.get(id))?.status, 'AWAU');
    } finally {
      idp!.tamper(null);
    }
  });
});
