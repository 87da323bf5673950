/**
 * The PSU's authorisation bound to a consent, over real HTTPS: a TPP creates a consent through
 * the gateway, its signed authorization request names it (`openbanking_intent_id`), the PSU signs
 * in, chooses accounts on a page built from the consent and approves or refuses it. Checked: every
 * refusal at /authorize before anyone signs in (nothing changes), the binding of PSU, accounts and
 * grant (two approvals at once authorise it once), the tokens naming the consent, refresh tokens
 * ending with the consent and refused once it is gone, and the stored rows and history.
 */
import { cookiesFor } from '../../src/cli/psu-flow.ts';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oidc from 'openid-client';
import { startDcrEnvironment, jsonBody, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import {
  accountAccessBody,
  authorizeConsent,
  consentCall,
  createConsent,
  domesticPaymentBody,
  domesticVrpBody,
  publishConsentApis,
  registerConsentTpp,
  type ConsentTpp,
} from '../helpers/consents.ts';
import { allow, type PageStep } from '../../src/cli/psu-flow.ts';
import { sandboxAccountSource, type PsuAccount } from '../../src/consent/psu-accounts.ts';

let env: DcrEnvironment;
let backend: TestBackend;
let aisp: ConsentTpp;
let other: ConsentTpp;
let psuAccounts: readonly PsuAccount[];

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment();
  await publishConsentApis(env, backend.url);
  aisp = await registerConsentTpp(env, env.aispPisp);
  other = await registerConsentTpp(env, await env.addTpp({ name: 'Other Accounts Ltd', roles: ['AISP', 'PISP'] }));
  psuAccounts = await sandboxAccountSource(env.ts.server.config).list('psu');
  assert.equal(psuAccounts.length, 3);
});
after(async () => {
  await env?.close();
  await backend?.close();
});

const stored = (id: string) => env.ts.storage.consents.get(id);
const history = (id: string) => env.ts.storage.consents.history(id);
const newAccountConsent = () => createConsent(env, aisp, 'accounts', '/account-access-consents', accountAccessBody());

describe('an account access consent authorised by the PSU', () => {
  test('two of three accounts chosen: the consent is Authorised with them; the tokens and the ID token name it; refresh lasts as long as the consent', async () => {
    const id = await newAccountConsent();
    const chosen = psuAccounts.slice(0, 2).map((a) => a.accountId);
    let page: { offered: readonly { accountId: string; label: string }[] } | undefined;
    const outcome = await authorizeConsent(env, aisp, id, 'accounts', {
      onConsent: (p) => {
        page = p;
        return allow(p, (offered) => offered.filter((o) => chosen.includes(o.accountId)));
      },
    });
    assert.equal(outcome.answer.get('error'), null, outcome.answer.get('error_description') ?? '');
    // The page offered the PSU's three accounts, named as they know them.
    assert.deepEqual(
      page!.offered.map((o) => o.accountId),
      psuAccounts.map((a) => a.accountId),
    );
    assert.match(page!.offered[0]!.label, /^Current account \(GBP\), ending \d{4}$/);

    const tokens = await outcome.exchange();
    const access = decodeJwt(tokens.access_token);
    assert.equal(access['openbanking_intent_id'], id);
    assert.equal(access.sub, 'psu');
    assert.equal(tokens.scope, 'accounts');
    const idToken = tokens.claims()!;
    assert.equal(idToken['openbanking_intent_id'], id);
    assert.equal(idToken['acr'], 'urn:openbanking:psd2:sca');
    assert.ok(tokens.refresh_token, 'an account access consent gets a refresh token');

    const c = (await stored(id))!;
    assert.equal(c.status, 'AUTH');
    assert.equal(c.psu, 'psu');
    assert.deepEqual(c.accounts, chosen);
    assert.ok(c.grantId);
    const rtEnd = (tokens as Record<string, unknown>)['http://openbanking.org.uk/refresh_token_expires_at'] as number;
    assert.ok(Math.abs(rtEnd - Math.floor(c.expiresAt! / 1000)) <= 2, `refresh token ends with the consent (${rtEnd} vs ${c.expiresAt})`);
    assert.deepEqual(
      (await history(id)).map((e) => [e.from, e.to, e.actor, e.actorId]),
      [
        [null, 'AWAU', 'tpp', aisp.clientId],
        ['AWAU', 'AUTH', 'psu', 'psu'],
      ],
    );
    const read = await jsonBody(await consentCall(env, aisp, 'accounts', 'GET', `/account-access-consents/${id}`), 200);
    assert.equal((read['Data'] as Record<string, unknown>)['Status'], 'Authorised');

    // Refresh works while the consent stands, and names it again.
    const refreshed = await oidc.refreshTokenGrant(outcome.rp, tokens.refresh_token!);
    assert.equal(decodeJwt(refreshed.access_token)['openbanking_intent_id'], id);

    // The TPP deletes the consent: its refresh token is refused, its access token inactive.
    const gone = await consentCall(env, aisp, 'accounts', 'DELETE', `/account-access-consents/${id}`);
    assert.equal(gone.status, 204);
    await assert.rejects(oidc.refreshTokenGrant(outcome.rp, refreshed.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    assert.deepEqual(await env.introspect(refreshed.access_token), { active: false });
    assert.deepEqual(await env.ts.storage.oidc.find('Grant', c.grantId!), undefined, 'the grant is destroyed');
  });

  test('a refresh after the consent was revoked is refused even when its tokens were not revoked (the status decides)', async () => {
    const id = await newAccountConsent();
    const outcome = await authorizeConsent(env, aisp, id, 'accounts');
    const tokens = await outcome.exchange();
    const c = (await stored(id))!;
    // Bank staff's revocation arrives as a transition alone (its token revocation still to come).
    await env.ts.storage.consents.transition(
      id,
      c.version,
      { status: 'CANC', at: Date.now() },
      {
        consentId: id,
        at: Date.now(),
        from: 'AUTH',
        to: 'CANC',
        actor: 'staff',
        actorId: 'ops',
        reason: null,
      },
    );
    await assert.rejects(oidc.refreshTokenGrant(outcome.rp, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    assert.deepEqual(await env.introspect(tokens.access_token), { active: false });
  });

  test('Deny after signing in rejects the consent and sends access_denied; Cancel before signing in leaves it waiting', async () => {
    const denied = await newAccountConsent();
    const out = await authorizeConsent(env, aisp, denied, 'accounts', { onConsent: (p): PageStep => ({ post: p.deny!, form: new URLSearchParams() }) });
    assert.equal(out.answer.get('error'), 'access_denied');
    assert.equal(out.answer.get('code'), null);
    const c = (await stored(denied))!;
    assert.equal(c.status, 'RJCT');
    assert.equal(c.grantId, null);
    assert.deepEqual((await history(denied)).at(-1)!.actor, 'psu');
  });

  test('two approvals of one consent at once (two tabs): it is authorised once, the other tab gets access_denied', async () => {
    const id = await newAccountConsent();
    // Both tabs reach the consent page before either submits.
    let arrived = 0;
    let release!: () => void;
    const both = new Promise<void>((r) => (release = r));
    const tab = () =>
      authorizeConsent(env, aisp, id, 'accounts', {
        onConsent: async (p) => {
          if (++arrived === 2) release();
          await both;
          return allow(p);
        },
      });
    const answers = await Promise.all([tab(), tab()]);
    const codes = answers.filter((a) => a.answer.get('code'));
    assert.equal(codes.length, 1, answers.map((a) => a.answer.toString()).join(' | '));
    assert.equal(answers.filter((a) => a.answer.get('error') === 'access_denied').length, 1);
    await codes[0]!.exchange();
    assert.equal((await history(id)).filter((e) => e.to === 'AUTH').length, 1);
    // The losing tab's grant is gone: only the winner's stands.
    const c = (await stored(id))!;
    assert.ok(await env.ts.storage.oidc.find('Grant', c.grantId!));
  });

  test("a choice the page did not offer (another customer's account, none, a forged field) is asked again and changes nothing", async () => {
    const id = await newAccountConsent();
    const stranger = (
      await sandboxAccountSource({ ...env.ts.server.config, sandbox: { users: [{ username: 'x', password: 'x', name: '', email: '', accounts: [] }] } }).list(
        'x',
      )
    )[0]!;
    const forms: Array<Record<string, string>> = [
      {},
      { account_0: stranger.accountId },
      { account_0: psuAccounts[1]!.accountId },
      { account_1: psuAccounts[0]!.accountId },
      { account_0: psuAccounts[0]!.accountId, account_7: psuAccounts[1]!.accountId },
      { account: psuAccounts[0]!.accountId },
    ];
    let attempts = 0;
    const jar = new Map<string, string>();
    const out = await authorizeConsent(env, aisp, id, 'accounts', {
      jar,
      onConsent: async (p) => {
        for (const form of forms) {
          const res = await env.ts.fetch(p.confirm.pathname, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookiesFor(jar, new URL(env.url).origin) },
            body: new URLSearchParams(form).toString(),
          });
          const html = await res.text();
          assert.equal(res.status, 400, JSON.stringify(form));
          assert.match(html, /<p class="error" role="alert">Please choose an account.<\/p>/);
          assert.ok(!html.includes(stranger.accountId), 'the forged value is not echoed');
          assert.equal((await stored(id))!.status, 'AWAU');
          attempts += 1;
        }
        return allow(p);
      },
    });
    assert.equal(attempts, forms.length);
    assert.ok(out.answer.get('code'));
  });
});

describe('refusals at /authorize: before sign-in, to the TPP, nothing changed', () => {
  const refused = async (
    consentId: string,
    opts: Parameters<typeof authorizeConsent>[4],
    error: string,
    description: RegExp | string,
    who = aisp,
    api: 'accounts' | 'payments' = 'accounts',
  ) => {
    const out = await authorizeConsent(env, who, consentId, api, opts);
    assert.equal(out.answer.get('error'), error, out.answer.toString());
    if (typeof description === 'string') assert.equal(out.answer.get('error_description'), description);
    else assert.match(out.answer.get('error_description') ?? '', description);
    assert.equal(out.answer.get('code'), null);
  };

  test('no consent named, named wrongly, or outside the signed request object: invalid_request', async () => {
    const id = await newAccountConsent();
    const before = await stored(id);
    const intent = (claim: unknown) => ({ id_token: { openbanking_intent_id: claim } });
    const cases: Array<[Record<string, unknown> | null, RegExp]> = [
      [null, /openbanking_intent_id/],
      // oidc-provider's own check of the claims parameter comes first.
      [{}, /^claims parameter should have userinfo or id_token properties$/],
      [{ id_token: { acr: { essential: true } } }, /openbanking_intent_id/],
      [intent({ value: id }), /must be essential/],
      [intent({ value: id, essential: false }), /must be essential/],
      [intent({ essential: true }), /must carry the ConsentId/],
      [intent({ value: [id], essential: true }), /must carry the ConsentId/],
      [intent({ value: '', essential: true }), /not a ConsentId/],
      [intent({ value: 'x'.repeat(129), essential: true }), /not a ConsentId/],
      [intent(id), /^claims.id_token members must be null or objects$/],
      [
        { id_token: { openbanking_intent_id: { value: id, essential: true } }, userinfo: { openbanking_intent_id: { value: `${id}x`, essential: true } } },
        /different consents/,
      ],
      [{ id_token: 'x' }, /^claims.id_token should be an object$/],
    ];
    for (const [claims, description] of cases) await refused(id, { claims }, 'invalid_request', description);
    // Beside the signed request object, in the URL: not taken.
    await refused(
      id,
      { claims: null, query: { claims: JSON.stringify({ id_token: { openbanking_intent_id: { value: id, essential: true } } }) } },
      'invalid_request',
      /openbanking_intent_id/,
    );
    assert.deepEqual(await stored(id), before);
  });

  test("an unknown consent, another client's, a deleted one: the same invalid_request", async () => {
    const mine = await newAccountConsent();
    const theirs = await createConsent(env, other, 'accounts', '/account-access-consents', accountAccessBody());
    const deleted = await newAccountConsent();
    assert.equal((await consentCall(env, aisp, 'accounts', 'DELETE', `/account-access-consents/${deleted}`)).status, 204);
    for (const id of ['00000000-0000-4000-8000-000000000000', theirs, deleted, `${mine} `, mine.toUpperCase()]) {
      await refused(id, {}, 'invalid_request', 'openbanking_intent_id names no consent of this client');
    }
    assert.equal((await stored(theirs))!.status, 'AWAU');
  });

  test("a scope that is not the consent type's: invalid_scope", async () => {
    const id = await newAccountConsent();
    // (A scope the client did not register is oidc-provider's invalid_scope before any consent is read.)
    for (const scope of ['openid payments', 'openid accounts payments', 'openid payments accounts']) {
      await refused(id, { scope }, 'invalid_scope', 'this consent is authorised with the scope accounts, and no other API scope');
    }
    const pay = await createConsent(env, aisp, 'payments', '/domestic-payment-consents', domesticPaymentBody());
    await refused(
      pay,
      { scope: 'openid accounts' },
      'invalid_scope',
      'this consent is authorised with the scope payments, and no other API scope',
      aisp,
      'payments',
    );
    assert.equal((await stored(id))!.status, 'AWAU');
  });

  test('a consent already authorised or rejected: invalid_request, its binding untouched', async () => {
    const id = await newAccountConsent();
    const first = await authorizeConsent(env, aisp, id, 'accounts');
    assert.ok(first.answer.get('code'));
    const bound = await stored(id);
    await refused(id, {}, 'invalid_request', 'the consent is not awaiting authorisation');
    assert.deepEqual(await stored(id), bound);
  });
});

describe('payment, VRP and funds confirmation consents', () => {
  test('a domestic payment consent: one account chosen, no refresh token; a DebtorAccount the PSU does not hold is rejected by the bank', async () => {
    const id = await createConsent(env, aisp, 'payments', '/domestic-payment-consents', domesticPaymentBody());
    let labels: string[] = [];
    const out = await authorizeConsent(env, aisp, id, 'payments', {
      onConsent: (p) => {
        labels = p.offered.map((o) => o.label);
        return allow(p, (offered) => [offered[1]!]);
      },
    });
    assert.equal(labels.length, 3);
    const tokens = await out.exchange();
    assert.equal(tokens.refresh_token, undefined, 'a payment consent is used once: no refresh token');
    assert.equal(decodeJwt(tokens.access_token)['openbanking_intent_id'], id);
    assert.deepEqual((await stored(id))!.accounts, [psuAccounts[1]!.accountId]);

    const named = await createConsent(
      env,
      aisp,
      'payments',
      '/domestic-payment-consents',
      domesticPaymentBody({ SchemeName: psuAccounts[2]!.scheme, Identification: psuAccounts[2]!.identification }),
    );
    const fixed = await authorizeConsent(env, aisp, named, 'payments', {
      onConsent: (p) => {
        assert.deepEqual(
          p.offered.map((o) => [o.kind, o.accountId]),
          [['hidden', psuAccounts[2]!.accountId]],
        );
        return allow(p);
      },
    });
    assert.ok(fixed.answer.get('code'));

    const foreign = await createConsent(
      env,
      aisp,
      'payments',
      '/domestic-payment-consents',
      domesticPaymentBody({ SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '11111122222222' }),
    );
    const refusedOut = await authorizeConsent(env, aisp, foreign, 'payments');
    assert.equal(refusedOut.answer.get('error'), 'access_denied');
    const c = (await stored(foreign))!;
    assert.equal(c.status, 'RJCT');
    assert.equal((await history(foreign)).at(-1)!.actor, 'bank');
  });

  test('a domestic VRP consent: the page shows its limits; the refresh token ends with ValidToDateTime', async () => {
    const id = await createConsent(env, aisp, 'vrp', '/domestic-vrp-consents', domesticVrpBody());
    let html = '';
    const out = await authorizeConsent(env, aisp, id, 'vrp', {
      onConsent: (p) => {
        html = p.html;
        return allow(p);
      },
    });
    assert.match(html, /<dt>Largest single payment<\/dt><dd>100.00 GBP<\/dd>/);
    assert.match(html, /<dt>At most per month \(calendar\)<\/dt><dd>300.00 GBP<\/dd>/);
    assert.match(html, /<dt>Paid to<\/dt><dd>Marcus Sweepimus \(30949330000010\)<\/dd>/);
    const tokens = await out.exchange();
    assert.ok(tokens.refresh_token);
    const c = (await stored(id))!;
    const rtEnd = (tokens as Record<string, unknown>)['http://openbanking.org.uk/refresh_token_expires_at'] as number;
    assert.ok(Math.abs(rtEnd - Math.floor(c.expiresAt! / 1000)) <= 2);
    assert.ok(rtEnd - Date.now() / 1000 > 90 * 86_400, 'not cut at 90 days');
  });

  test('a funds confirmation consent names its account: the PSU must hold it', async () => {
    const acct = psuAccounts[0]!;
    const body = {
      Data: {
        DebtorAccount: { SchemeName: acct.scheme, Identification: acct.identification },
        ExpirationDateTime: new Date(Date.now() + 86_400_000).toISOString(),
      },
    };
    const cbpii = await registerConsentTpp(env, env.cbpii);
    const id = await createConsent(env, cbpii, 'funds', '/funds-confirmation-consents', body);
    const out = await authorizeConsent(env, cbpii, id, 'funds');
    assert.ok(out.answer.get('code'), out.answer.toString());
    await out.exchange();
    assert.deepEqual((await stored(id))!.accounts, [acct.accountId]);
  });
});

test('the gateway refuses a PSU token of a deleted consent', async () => {
  const id = await newAccountConsent();
  const tokens = await (await authorizeConsent(env, aisp, id, 'accounts')).exchange();
  const call = () =>
    env.ts.fetch('/open-banking/v3.1/aisp/accounts', {
      cert: tlsOf(aisp.tpp.transport),
      headers: { authorization: `Bearer ${tokens.access_token}`, 'x-fapi-interaction-id': '93bac548-d2de-4546-b106-880a5018460d' },
    });
  const ok = await call();
  assert.equal(ok.status, 200, await ok.text());
  assert.equal((await consentCall(env, aisp, 'accounts', 'DELETE', `/account-access-consents/${id}`)).status, 204);
  const refused = await call();
  assert.equal(refused.status, 401);
  assert.match(refused.headers.get('www-authenticate') ?? '', /the consent this token was issued for no longer stands/);
});
