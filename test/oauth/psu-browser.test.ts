/**
 * The PSU's whole journey in Debian's Chromium, as a new user meets it. A TPP registered over
 * mutual TLS (OB DCR) creates a consent through the gateway (account access, a domestic payment, a
 * domestic VRP) and builds a FAPI 1.0 Advanced authorization request naming it (request object
 * signed PS256 with openbanking_intent_id, PKCE S256, state, nonce); the browser opens it; the PSU
 * signs in as a [[sandbox.users]] user, reads the consent on a page built from it, chooses accounts,
 * allows, and lands on the TPP's redirect URI, a real
 * HTTPS host that records what it receives: `code` answers with a JARM response (response_mode
 * jwt, which FAPI 1.0 requires for `code`), `code id_token` in the fragment (its default
 * response mode). The TPP then exchanges the code over mutual TLS with private_key_jwt through
 * openid-client, which checks the JARM response, the ID token, nonce, state, c_hash and s_hash.
 * Deny and Cancel return access_denied with the state; a wrong password shows the error on the
 * page; the pages' CSP lets their forms lead to the request's redirect URI origin and to no other,
 * not even the client's other registered one. The login and
 * consent pages pass axe-core's WCAG 2.1 A and AA rules. Screenshots: test-results/psu/.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Browser, Page, Response as BrowserResponse } from 'playwright-core';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { jsonBody, startDcrEnvironment, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { fetchVia } from '../helpers/ob-client.ts';
import { startTppCallbackHost, type TppCallbackHost } from '../helpers/tpp-callback.ts';
import { browserMissing, launchWithHosts, openPage, psuScreenshot, type Watched } from '../helpers/psu-chromium.ts';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { intentClaims } from '../../src/cli/psu-flow.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { accountAccessBody, createConsent, domesticPaymentBody, domesticVrpBody, publishConsentApis, type ConsentApi } from '../helpers/consents.ts';
import { PERMISSION_WORDS } from '../../src/consent/describe.ts';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const missing = browserMissing();
const TPP_HOST = 'tpp.example.com';
const OTHER_HOST = 'other.tpp.example.com';
const PSU = { username: 'alice', password: 'correct horse battery', name: 'Alice Example' };
const BAD_LOGIN = 'The user name or password is not right.';

type ResponseType = 'code' | 'code id_token';

let tppHost: TppCallbackHost;
let backend: TestBackend;
let env: DcrEnvironment;
let tpp: SandboxTpp;
let clientId: string;
let browser: Browser;
let jwks: JSONWebKeySet;
const opened: Watched[] = [];

const callback = (host = TPP_HOST) => tppHost.url(host, '/cb');
const tppOrigin = (host = TPP_HOST) => new URL(callback(host)).origin;
const random = () => randomBytes(16).toString('base64url');

/** Everything a page reported but the expected navigation to the TPP (openPage flags any other origin). */
const problems = (w: Watched) => w.problems.filter((p) => !p.startsWith(`third-party request: ${tppOrigin()}/`));

async function newPage(): Promise<Watched> {
  const w = await openPage(browser, env.url);
  opened.push(w);
  return w;
}

/** openid-client for the TPP, over its mutual TLS, authenticating with private_key_jwt (PS256). */
async function relyingParty(responseType: ResponseType): Promise<client.Configuration> {
  const key = await tpp.signingKey.key.toCryptoKey({ name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
  const rp = await client.discovery(
    new URL(env.url),
    clientId,
    { id_token_signed_response_alg: 'PS256', authorization_signed_response_alg: 'PS256' },
    client.PrivateKeyJwt({ key, kid: tpp.signingKey.kid }),
    { [client.customFetch]: fetchVia(env.ts.mtlsAgent(tlsOf(tpp.transport))) },
  );
  if (responseType === 'code') client.useJwtResponseMode(rp);
  else client.useCodeIdTokenResponseType(rp);
  return rp;
}

interface AuthorizationRequest {
  readonly url: URL;
  readonly consentId: string;
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
}

const CONSENTS: Record<Exclude<ConsentApi, 'events'>, { resource: string; body: () => unknown; scope: string }> = {
  accounts: { resource: '/account-access-consents', body: () => accountAccessBody(), scope: 'openid accounts' },
  payments: { resource: '/domestic-payment-consents', body: () => domesticPaymentBody(), scope: 'openid payments' },
  vrp: { resource: '/domestic-vrp-consents', body: () => domesticVrpBody(), scope: 'openid payments' },
  funds: { resource: '/funds-confirmation-consents', body: () => ({}), scope: 'openid fundsconfirmations' },
};

/**
 * The TPP's authorization request for a new consent of `api`: every parameter in a request object
 * it signs (FAPI 1.0 Advanced §5.2.2), the consent named in its claims.
 */
async function authorizationRequest(
  rp: client.Configuration,
  responseType: ResponseType,
  redirectUri = callback(),
  api: Exclude<ConsentApi, 'events'> = 'accounts',
): Promise<AuthorizationRequest> {
  const { issuer, authorization_endpoint: endpoint } = rp.serverMetadata();
  const kind = CONSENTS[api];
  const consentId = await createConsent(env, { tpp, clientId }, api, kind.resource, kind.body());
  const scope = kind.scope;
  const [state, nonce, verifier] = [random(), random(), randomBytes(32).toString('base64url')];
  const now = Math.floor(Date.now() / 1000);
  const request = await tpp.signRequest({
    iss: clientId,
    aud: issuer,
    client_id: clientId,
    response_type: responseType,
    // FAPI 1.0 Advanced §5.2.2-2: `code` alone only with JARM.
    ...(responseType === 'code' ? { response_mode: 'jwt' } : {}),
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    nbf: now,
    exp: now + 300,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    claims: intentClaims(consentId),
  });
  const url = new URL(endpoint!);
  url.search = new URLSearchParams({ client_id: clientId, response_type: responseType, scope, request }).toString();
  return { url, consentId, state, nonce, verifier };
}

const isPage = (method: string, path: RegExp) => (r: BrowserResponse) => r.request().method() === method && path.test(new URL(r.url()).pathname);
const INTERACTION_PAGE = /^\/oauth2\/interaction\/[^/]+$/;
const heading = (p: Page, name: string) => p.getByRole('heading', { level: 1, name }).waitFor();

/** The policy a login or consent page of a request to `redirectUri` must carry. */
function assertCsp(res: BrowserResponse, redirectUri = callback()): void {
  const csp = res.headers()['content-security-policy'] ?? '';
  assert.match(csp, /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]{43}='; form-action 'self' (\S+); frame-ancestors 'none'; base-uri 'none'$/, csp);
  assert.equal(
    /form-action 'self' (\S+);/.exec(csp)![1],
    new URL(redirectUri).origin,
    'form-action: the bank and the redirect URI origin of this request only',
  );
}

/** Opens the authorization request: the login page. */
async function openLogin(w: Watched, req: AuthorizationRequest): Promise<BrowserResponse> {
  const login = await w.page.goto(req.url.href);
  await heading(w.page, 'Sign in to your bank');
  assert.equal(new URL(w.page.url()).origin, new URL(env.url).origin);
  return login!;
}

/** Fills the login form and submits it; the page that answers. */
async function submitLogin(w: Watched, username: string, password: string): Promise<BrowserResponse> {
  await w.page.getByLabel('User name').fill(username);
  await w.page.getByLabel('Password').fill(password);
  const [answer] = await Promise.all([
    w.page.waitForResponse((r) => (isPage('POST', /\/login$/)(r) && r.status() !== 303) || isPage('GET', INTERACTION_PAGE)(r)),
    w.page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  return answer;
}

/** Signs the PSU in from the login page and waits for the consent page of an account access consent, which it checks. */
async function signInToConsent(w: Watched, shot: string): Promise<void> {
  const consent = await submitLogin(w, PSU.username, PSU.password);
  await heading(w.page, 'Give access');
  assert.equal(consent.status(), 200);
  assertCsp(consent);
  const main = w.page.getByRole('main');
  await main.getByText(`Signed in as ${PSU.name}.`).waitFor();
  await main.getByText(`${tpp.name} asks to see this information about the accounts you choose:`).waitFor();
  // The consent's permissions, in the customer's words, and its end.
  assert.deepEqual(
    await main.getByRole('listitem').allTextContents(),
    (accountAccessBody().Data.Permissions as string[]).map((p) => PERMISSION_WORDS[p]),
  );
  await main.getByText('Access ends').waitFor();
  // The PSU's three accounts to choose from, each a labelled checkbox.
  const boxes = main.getByRole('group', { name: 'Choose the accounts to share' }).getByRole('checkbox');
  assert.equal(await boxes.count(), 3);
  await psuScreenshot(w.page, `${shot}-2-consent`);
}

/** Ticks the first `n` accounts on the consent page. */
async function chooseAccounts(w: Watched, n: number): Promise<void> {
  const boxes = w.page.getByRole('group', { name: 'Choose the accounts to share' }).getByRole('checkbox');
  for (let i = 0; i < n; i++) await boxes.nth(i).check();
}

/** Clicks `button` and waits until the browser is at the TPP: its redirect URI with the answer. */
async function returnToTpp(w: Watched, button: string, shot: string): Promise<URL> {
  const arrived = w.page
    .waitForURL((u) => u.origin === tppOrigin())
    .catch((err: Error) => {
      throw new Error(
        `the browser did not return to the TPP (${err.message.split('\n')[0]}); it is at ${w.page.url()}; problems: ${w.problems.join(' | ') || 'none'}`,
      );
    });
  await w.page.getByRole('button', { name: button }).click();
  await arrived;
  await heading(w.page, 'Back at the TPP');
  await psuScreenshot(w.page, `${shot}-3-tpp`);
  const at = new URL(w.page.url());
  assert.equal(`${at.origin}${at.pathname}`, callback());
  return at;
}

/** Where the answer is: JARM's `response` in the query (its claims, signature checked), or the fragment. */
async function answerOf(at: URL, responseType: ResponseType): Promise<Record<string, unknown>> {
  if (responseType === 'code id_token') {
    assert.equal(at.search, '', 'code id_token answers in the fragment (OIDC Core §3.3.2.5)');
    return Object.fromEntries(new URLSearchParams(at.hash.slice(1)));
  }
  assert.deepEqual([...at.searchParams.keys()], ['response']);
  assert.equal(at.hash, '');
  const { payload, protectedHeader } = await jwtVerify(at.searchParams.get('response')!, createLocalJWKSet(jwks), { issuer: env.url, audience: clientId });
  assert.equal(protectedHeader.alg, 'PS256');
  return payload;
}

/** What the TPP host received since `from`: the one GET of the redirect (a fragment stays in the browser). */
function assertTppReceived(from: number, at: URL): void {
  assert.deepEqual(tppHost.received.slice(from), [{ host: new URL(callback()).host, method: 'GET', url: `${at.pathname}${at.search}` }]);
}

/** Exchanges the code over mutual TLS (private_key_jwt) and checks the PSU's access token. */
async function exchange(rp: client.Configuration, req: AuthorizationRequest, at: URL, scope = 'accounts'): Promise<client.TokenEndpointResponse> {
  const tokens = await client.authorizationCodeGrant(rp, at, { pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce });
  assert.equal(tokens.token_type, 'bearer');
  assert.equal(tokens.scope, scope);
  assert.equal(tokens.claims()!.sub, PSU.username);
  assert.equal(tokens.claims()!['openbanking_intent_id'], req.consentId);
  assert.equal(tokens.claims()!['acr'], 'urn:openbanking:psd2:sca');
  const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), { issuer: env.url, audience: `${env.url}/open-banking`, typ: 'at+jwt' });
  assert.equal(payload.sub, PSU.username);
  assert.equal(payload['client_id'], clientId);
  assert.equal(payload['scope'], scope);
  assert.equal(payload['openbanking_intent_id'], req.consentId);
  assert.deepEqual(payload['cnf'], { 'x5t#S256': createHash('sha256').update(tpp.transport.x509.raw).digest('base64url') });
  return tokens;
}

describe('the PSU journey in Chromium', { skip: missing }, () => {
  before(async () => {
    tppHost = await startTppCallbackHost([TPP_HOST, OTHER_HOST]);
    backend = await startTestBackend();
    env = await startDcrEnvironment({ sandbox: { users: [PSU] } });
    await publishConsentApis(env, backend.url, ['accounts', 'payments', 'vrp']);
    // Two registered redirect URIs on two origins: a page may lead back only to the one its request names.
    tpp = await env.addTpp({ name: 'Acme Budgeting Ltd', roles: ['AISP', 'PISP'], redirectUris: [callback(), callback(OTHER_HOST)] });
    const claims = await env.validRequestClaims(tpp, { redirect_uris: [callback(), callback(OTHER_HOST)], response_types: ['code id_token', 'code'] });
    const registered = await jsonBody(await env.register(tpp, claims), 201);
    clientId = String(registered['client_id']);
    jwks = (await (await env.ts.fetch('/oauth2/jwks')).json()) as JSONWebKeySet;
    browser = await launchWithHosts([TPP_HOST, OTHER_HOST]);
  });
  after(async () => {
    for (const w of opened) await w.context.close().catch(() => undefined);
    await browser?.close();
    await env?.close();
    await backend?.close();
    await tppHost?.close();
  });

  for (const responseType of ['code', 'code id_token'] as const) {
    const shot = responseType.replace(' ', '-');
    test(`${responseType}: sign in, Allow, back at the TPP with the code and state, code exchanged over mTLS`, async () => {
      const rp = await relyingParty(responseType);
      const req = await authorizationRequest(rp, responseType);
      const w = await newPage();
      const login = await openLogin(w, req);
      assert.equal(login.status(), 200);
      assertCsp(login);
      // The hashed stylesheet applies (a CSP refusal would also show as a console error).
      assert.equal(await w.page.evaluate('getComputedStyle(document.body).maxWidth'), '512px');
      await psuScreenshot(w.page, `${shot}-1-login`);
      await signInToConsent(w, shot);

      await chooseAccounts(w, 2);
      const from = tppHost.received.length;
      const at = await returnToTpp(w, 'Allow', shot);
      assertTppReceived(from, at);
      const answer = await answerOf(at, responseType);
      assert.equal(answer['state'], req.state);
      assert.equal(typeof answer['code'], 'string');
      if (responseType === 'code id_token') {
        // The ID token names the issuer (RFC 9207 §2.4: no iss parameter then).
        const idToken = decodeJwt(answer['id_token'] as string);
        assert.equal(idToken.iss, env.url);
        assert.equal(idToken['nonce'], req.nonce);
      } else {
        assert.equal(answer['iss'], env.url);
      }
      await exchange(rp, req, at);
      // The consent is the PSU's, with the two accounts ticked.
      const consent = (await env.ts.storage.consents.get(req.consentId))!;
      assert.equal(consent.status, 'AUTH');
      assert.equal(consent.psu, PSU.username);
      assert.equal(consent.accounts.length, 2);
      assert.deepEqual(problems(w), []);
    });
  }

  for (const responseType of ['code', 'code id_token'] as const) {
    for (const [leave, from] of [
      ['Deny', 'consent'],
      ['Cancel', 'login'],
    ] as const) {
      test(`${responseType}: ${leave} on the ${from} page returns access_denied with the state, and no code`, async () => {
        const rp = await relyingParty(responseType);
        const req = await authorizationRequest(rp, responseType);
        const w = await newPage();
        await openLogin(w, req);
        const shot = `${responseType.replace(' ', '-')}-${leave.toLowerCase()}`;
        if (from === 'consent') await signInToConsent(w, shot);
        const before = tppHost.received.length;
        const at = await returnToTpp(w, leave, shot);
        assertTppReceived(before, at);
        const answer = await answerOf(at, responseType);
        assert.equal(answer['error'], 'access_denied');
        assert.equal(answer['error_description'], 'the user did not give access');
        assert.equal(answer['state'], req.state);
        assert.equal(answer['code'], undefined);
        assert.equal(answer['id_token'], undefined);
        // Refused by the signed-in PSU: rejected; a Cancel before anyone signed in leaves it waiting.
        assert.equal((await env.ts.storage.consents.get(req.consentId))!.status, from === 'consent' ? 'RJCT' : 'AWAU');
        assert.deepEqual(problems(w), []);
      });
    }
  }

  test('Allow with no account ticked asks again on the page; nothing reaches the TPP and the consent still waits', async () => {
    const rp = await relyingParty('code id_token');
    const req = await authorizationRequest(rp, 'code id_token');
    const w = await newPage();
    await openLogin(w, req);
    await signInToConsent(w, 'no-account');
    const before = tppHost.received.length;
    const [again] = await Promise.all([w.page.waitForResponse(isPage('POST', /\/confirm$/)), w.page.getByRole('button', { name: 'Allow' }).click()]);
    assert.equal(again.status(), 400);
    assertCsp(again);
    await heading(w.page, 'Give access');
    assert.equal(await w.page.getByRole('alert').textContent(), 'Please choose an account.');
    assert.equal(tppHost.received.length, before);
    assert.equal((await env.ts.storage.consents.get(req.consentId))!.status, 'AWAU');
    await chooseAccounts(w, 3);
    const at = await returnToTpp(w, 'Allow', 'no-account');
    await exchange(rp, req, at);
    assert.equal((await env.ts.storage.consents.get(req.consentId))!.accounts.length, 3);
    w.problems.length = 0;
  });

  test('a domestic payment: the page shows the amount, payee and reference; one account chosen; no refresh token', async () => {
    const rp = await relyingParty('code id_token');
    const req = await authorizationRequest(rp, 'code id_token', callback(), 'payments');
    const w = await newPage();
    await openLogin(w, req);
    await submitLogin(w, PSU.username, PSU.password);
    await heading(w.page, 'Give access');
    const main = w.page.getByRole('main');
    await main.getByText(`${tpp.name} asks to make one payment from your account:`).waitFor();
    for (const [term, value] of [
      ['Amount', '165.88 GBP'],
      ['Paid to', 'ACME Inc (08080021325698)'],
      ['Reference', 'FRESCO-101'],
    ]) {
      assert.equal(await main.locator(`dt:text-is("${term}") + dd`).textContent(), value);
    }
    // A payment cannot be withdrawn later: the page does not say it can.
    assert.equal(await main.getByText('You can withdraw this access').count(), 0);
    const radios = main.getByRole('group', { name: 'Choose the account to use' }).getByRole('radio');
    assert.equal(await radios.count(), 3);
    await radios.nth(1).check();
    await psuScreenshot(w.page, 'payment-consent');
    const at = await returnToTpp(w, 'Allow', 'payment');
    const tokens = await exchange(rp, req, at, 'payments');
    assert.equal(tokens.refresh_token, undefined);
    assert.equal((await env.ts.storage.consents.get(req.consentId))!.accounts.length, 1);
    assert.deepEqual(problems(w), []);
  });

  test('a domestic VRP: the page shows the limits and the payee', async () => {
    const rp = await relyingParty('code id_token');
    const req = await authorizationRequest(rp, 'code id_token', callback(), 'vrp');
    const w = await newPage();
    await openLogin(w, req);
    await submitLogin(w, PSU.username, PSU.password);
    await heading(w.page, 'Give access');
    const main = w.page.getByRole('main');
    await main.getByText(`${tpp.name} asks to make payments from your account, as often as needed, within these limits:`).waitFor();
    assert.equal(await main.locator('dt:text-is("Largest single payment") + dd').textContent(), '100.00 GBP');
    assert.equal(await main.locator('dt:text-is("At most per month (calendar)") + dd').textContent(), '300.00 GBP');
    assert.equal(await main.locator('dt:text-is("Paid to") + dd').textContent(), 'Marcus Sweepimus (30949330000010)');
    await main.getByRole('group', { name: 'Choose the account to use' }).getByRole('radio').first().check();
    await psuScreenshot(w.page, 'vrp-consent');
    const at = await returnToTpp(w, 'Allow', 'vrp');
    const tokens = await exchange(rp, req, at, 'payments');
    assert.ok(tokens.refresh_token, 'a VRP consent is long-lived: a refresh token');
    assert.deepEqual(problems(w), []);
  });

  test('accessibility: axe-core finds no WCAG 2.1 A or AA violation on the login page and the AIS, payment and VRP consent pages', async () => {
    // axe-core is injected as a script, which the pages' CSP forbids: this one context bypasses it.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true, viewport: { width: 1280, height: 800 } });
    try {
      const found: string[] = [];
      const check = async (p: Page, name: string) => {
        await p.addScriptTag({ content: AXE });
        const violations = (await p.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
          .then((r) => r.violations.map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')))`)) as string[];
        found.push(...violations.map((v) => `${name}: ${v}`));
      };
      for (const api of ['accounts', 'payments', 'vrp'] as const) {
        const req = await authorizationRequest(await relyingParty('code id_token'), 'code id_token', callback(), api);
        const p = await context.newPage();
        p.setDefaultTimeout(15_000);
        await p.goto(req.url.href);
        // The first signs in; the others find the PSU's session (the same browser) and go straight to the consent.
        if (api === 'accounts') {
          await heading(p, 'Sign in to your bank');
          await check(p, 'login');
          await p.getByLabel('User name').fill(PSU.username);
          await p.getByLabel('Password').fill(PSU.password);
          await p.getByRole('button', { name: 'Sign in' }).click();
        }
        await heading(p, 'Give access');
        await check(p, `${api} consent`);
        await p.close();
      }
      assert.deepEqual(found, []);
    } finally {
      await context.close();
    }
  });

  test('a wrong user name or password shows the error on the login page; the right one then goes on to the TPP', async () => {
    const rp = await relyingParty('code id_token');
    const req = await authorizationRequest(rp, 'code id_token');
    const w = await newPage();
    await openLogin(w, req);
    const before = tppHost.received.length;
    const wrong: Array<[string, string]> = [
      [PSU.username, 'wrong'],
      [PSU.username, `${PSU.password} `],
      [PSU.username, PSU.password.toUpperCase()],
      [PSU.username, PSU.password.slice(0, -1)],
      ['Alice', PSU.password],
      [` ${PSU.username}`, PSU.password],
      ['nobody', PSU.password],
      // The built-in demo user is gone once [[sandbox.users]] lists others.
      ['psu', 'psu'],
    ];
    for (const [username, password] of wrong) {
      const answer = await submitLogin(w, username, password);
      assert.equal(answer.status(), 401, `${username} / ${password}`);
      assertCsp(answer);
      await heading(w.page, 'Sign in to your bank');
      assert.equal(await w.page.getByRole('alert').textContent(), BAD_LOGIN);
      assert.equal(await w.page.getByLabel('User name').inputValue(), username);
      assert.equal(await w.page.getByLabel('Password').inputValue(), '');
    }
    await psuScreenshot(w.page, 'wrong-password');
    assert.equal(tppHost.received.length, before, 'nothing reached the TPP');
    // Chromium reports each 401 page as a console error; nothing else may show.
    assert.deepEqual(
      problems(w),
      wrong.map(() => 'console: Failed to load resource: the server responded with a status of 401 (Unauthorized)'),
    );
    w.problems.length = 0;

    await signInToConsent(w, 'after-wrong-password');
    await chooseAccounts(w, 1);
    const at = await returnToTpp(w, 'Allow', 'after-wrong-password');
    await exchange(rp, req, at);
    assert.deepEqual(problems(w), []);
  });

  test("the pages' forms may lead to the redirect URI origin of their own request only", async () => {
    // A request to the other registered redirect URI: its pages name that origin, and only it.
    const other = await authorizationRequest(await relyingParty('code id_token'), 'code id_token', callback(OTHER_HOST));
    const w1 = await newPage();
    assertCsp(await openLogin(w1, other), callback(OTHER_HOST));

    const req = await authorizationRequest(await relyingParty('code id_token'), 'code id_token');
    const w = await newPage();
    await openLogin(w, req);
    await signInToConsent(w, 'form-action');
    const before = tppHost.received.length;
    const consentUrl = w.page.url();
    /** Submits a form to `action` from the consent page, as an injected form would. */
    const submit = (action: string) =>
      w.page.evaluate(`(() => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = ${JSON.stringify(action)};
      document.body.append(form);
      form.submit();
    })()`);
    // Chromium refuses each with a console error and stays on the page; the TPP host hears nothing.
    for (const action of [callback(OTHER_HOST), `https://127.0.0.1:${tppHost.port}/cb`, `https://localhost:${tppHost.port}/cb`, 'https://evil.example/']) {
      const refused = w.page.waitForEvent(
        'console',
        (m) =>
          m.type() === 'error' &&
          m.text().startsWith(`Sending form data to '${action}' violates the following Content Security Policy directive: "form-action 'self' ${tppOrigin()}"`),
      );
      await submit(action);
      await refused;
    }
    assert.equal(w.page.url(), consentUrl);
    assert.equal(tppHost.received.length, before, 'no form reached another origin');
    // The request's own redirect URI origin is allowed: the same kind of form gets there.
    const arrived = w.page.waitForURL((u) => u.origin === tppOrigin());
    await submit(`${callback()}?probe=1`);
    await arrived;
    assert.deepEqual(tppHost.received.slice(before), [{ host: new URL(callback()).host, method: 'POST', url: '/cb?probe=1' }]);
  });

  // Last: it changes the registration the other tests use.
  test('once the client no longer has the redirect URI registered, its pages lead nowhere but the bank', async () => {
    const req = await authorizationRequest(await relyingParty('code id_token'), 'code id_token', callback(OTHER_HOST));
    const w = await newPage();
    assertCsp(await openLogin(w, req), callback(OTHER_HOST));
    const claims = await env.validRequestClaims(tpp, { redirect_uris: [callback()], response_types: ['code id_token', 'code'] });
    await jsonBody(
      await env.manage('PUT', clientId, {
        token: await env.ccToken(tpp, clientId, 'private_key_jwt'),
        cert: tpp.transport,
        body: await tpp.signRequest(claims),
      }),
      200,
    );

    const again = (await w.page.reload())!;
    await heading(w.page, 'Sign in to your bank');
    assert.match(again.headers()['content-security-policy'] ?? '', /form-action 'self';/);
    // oidc-provider checked the redirect URI when the request came in and does not check it again
    // when it resumes: the browser refuses the redirect, since the page's CSP no longer names that origin.
    const before = tppHost.received.length;
    const page = w.page.url();
    const refused = w.page
      .waitForURL((u) => u.origin === tppOrigin(OTHER_HOST))
      .then(
        () => 'arrived',
        (err: Error) => err.message,
      );
    await w.page.getByRole('button', { name: 'Cancel' }).click();
    assert.match(await refused, /net::ERR_ABORTED/);
    assert.equal(w.page.url(), page);
    await psuScreenshot(w.page, 'redirect-uri-removed');
    assert.equal(tppHost.received.length, before);
  });
});
