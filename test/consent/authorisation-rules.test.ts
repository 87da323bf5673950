/**
 * The rules the authorisation server holds a consent to (src/consent/authorisation.ts), the page's
 * account of a consent (describe.ts) and the PSU's accounts (psu-accounts.ts), over the whole
 * family of forms a TPP or an attacker sends: every place and shape of the intent claim, every
 * status, owner, scope and end of the consent, every way a token can outlive it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { authorisationRefusal, intentOfClaims, tokenRefusal } from '../../src/consent/authorisation.ts';
import { describeConsent, debtorAccountOf, PERMISSION_WORDS } from '../../src/consent/describe.ts';
import { namesAccount, sandboxAccountSource } from '../../src/consent/psu-accounts.ts';
import { CONSENT_STATUSES, type ConsentKind, type ConsentRecord } from '../../src/storage/consent-records.ts';
import { RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toToml } from 'smol-toml';
import { loadConfig } from '../../src/config/load.ts';

/** The configuration a file with `table` gives (sandbox mode, the default). */
function configOf(table: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-accounts-'));
  try {
    const file = join(dir, 'opendcr.toml');
    writeFileSync(file, toToml({ server: { data_dir: join(dir, 'data') }, ...table }));
    return loadConfig({ path: file, env: {} });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ID = '7f3c9a2e-2b5d-4c1e-9f0a-1d2e3f4a5b6c';
const intent = (value: unknown, essential: unknown = true) => ({ value, essential });
const NOW = Date.parse('2026-12-07T12:00:00Z');

function consent(over: Partial<ConsentRecord> = {}): ConsentRecord {
  return {
    id: ID,
    kind: 'account-access',
    apiVersion: 'v3.1',
    keyManager: RESIDENT_KEY_MANAGER,
    clientId: 'client-a',
    status: 'AWAU',
    data: { Permissions: ['ReadAccountsBasic'] },
    risk: {},
    psu: null,
    accounts: [],
    grantId: null,
    createdAt: NOW - 1000,
    statusUpdatedAt: NOW - 1000,
    expiresAt: NOW + 86_400_000,
    deletedAt: null,
    version: 1,
    apiContext: null,
    ...over,
  };
}
const ask = (over: Record<string, unknown> = {}) => ({
  keyManager: RESIDENT_KEY_MANAGER,
  clientId: 'client-a',
  scopes: ['openid', 'accounts'],
  now: NOW,
  ...over,
});

test('the intent claim: found in id_token, userinfo or both (the same), as an object or its JSON text', () => {
  for (const claims of [
    { id_token: { openbanking_intent_id: intent(ID) } },
    { userinfo: { openbanking_intent_id: intent(ID) } },
    { id_token: { openbanking_intent_id: intent(ID), acr: { essential: true } }, userinfo: { openbanking_intent_id: intent(ID) } },
    { id_token: null, userinfo: { openbanking_intent_id: intent(ID) } },
  ]) {
    assert.deepEqual(intentOfClaims(claims), { intent: ID }, JSON.stringify(claims));
    assert.deepEqual(intentOfClaims(JSON.stringify(claims)), { intent: ID });
  }
});

test('the intent claim: every missing, misplaced or malformed form names no consent', () => {
  const cases: unknown[] = [
    undefined,
    null,
    '',
    'not json',
    '[]',
    42,
    [],
    {},
    { id_token: {} },
    { id_token: { acr: { essential: true } } },
    { id_token: 'x' },
    { id_token: [] },
    { openbanking_intent_id: intent(ID) },
    { access_token: { openbanking_intent_id: intent(ID) } },
    { id_token: { openbanking_intent_id: ID } },
    { id_token: { openbanking_intent_id: null } },
    { id_token: { openbanking_intent_id: intent(ID, false) } },
    { id_token: { openbanking_intent_id: intent(ID, 'true') } },
    { id_token: { openbanking_intent_id: intent(ID, 1) } },
    { id_token: { openbanking_intent_id: { value: ID } } },
    { id_token: { openbanking_intent_id: { values: [ID], essential: true } } },
    { id_token: { openbanking_intent_id: intent([ID]) } },
    { id_token: { openbanking_intent_id: intent(42) } },
    { id_token: { openbanking_intent_id: intent('') } },
    { id_token: { openbanking_intent_id: intent('x'.repeat(129)) } },
    { id_token: { openbanking_intent_id: intent(ID) }, userinfo: { openbanking_intent_id: intent(`${ID}x`) } },
    { id_token: { openbanking_intent_id: intent(ID) }, userinfo: { openbanking_intent_id: intent(ID, false) } },
    { id_token: { OpenBanking_Intent_Id: intent(ID) } },
  ];
  for (const claims of cases) assert.ok('problem' in intentOfClaims(claims), JSON.stringify(claims) ?? String(claims));
  assert.deepEqual(intentOfClaims({ id_token: { openbanking_intent_id: intent('x'.repeat(128)) } }), { intent: 'x'.repeat(128) });
});

test('authorising: only this client’s live consent awaiting authorisation, of the scope its type has', () => {
  assert.equal(authorisationRefusal(consent(), ask()), undefined);
  const notFound = { error: 'invalid_request', description: 'openbanking_intent_id names no consent of this client' };
  assert.deepEqual(authorisationRefusal(undefined, ask()), notFound);
  assert.deepEqual(authorisationRefusal(consent({ clientId: 'client-b' }), ask()), notFound);
  assert.deepEqual(authorisationRefusal(consent({ clientId: 'CLIENT-A' }), ask()), notFound);
  assert.deepEqual(authorisationRefusal(consent({ keyManager: 'Other KM' }), ask()), notFound);
  assert.deepEqual(authorisationRefusal(consent({ deletedAt: NOW - 1 }), ask()), notFound);
  for (const status of CONSENT_STATUSES.filter((s) => s !== 'AWAU')) {
    assert.deepEqual(
      authorisationRefusal(consent({ status }), ask()),
      { error: 'invalid_request', description: 'the consent is not awaiting authorisation' },
      status,
    );
  }
  // Its end: refused from the very millisecond.
  assert.equal(authorisationRefusal(consent({ expiresAt: NOW + 1 }), ask()), undefined);
  assert.equal(authorisationRefusal(consent({ expiresAt: null }), ask()), undefined);
  for (const end of [NOW, NOW - 1, 0]) assert.equal(authorisationRefusal(consent({ expiresAt: end }), ask())?.error, 'invalid_request');
});

test('authorising: the scope of each consent type, and no second API scope', () => {
  const scopeOf: Record<ConsentKind, string> = {
    'account-access': 'accounts',
    'domestic-payment': 'payments',
    'domestic-scheduled-payment': 'payments',
    'domestic-standing-order': 'payments',
    'international-payment': 'payments',
    'international-scheduled-payment': 'payments',
    'international-standing-order': 'payments',
    'funds-confirmation': 'fundsconfirmations',
    'domestic-vrp': 'payments',
  };
  for (const [kind, scope] of Object.entries(scopeOf) as Array<[ConsentKind, string]>) {
    assert.equal(authorisationRefusal(consent({ kind }), ask({ scopes: ['openid', scope] })), undefined, kind);
    assert.equal(authorisationRefusal(consent({ kind }), ask({ scopes: [scope] })), undefined, kind);
    for (const other of ['accounts', 'payments', 'fundsconfirmations'].filter((s) => s !== scope)) {
      assert.equal(authorisationRefusal(consent({ kind }), ask({ scopes: ['openid', other] }))?.error, 'invalid_scope', `${kind} with ${other}`);
      assert.equal(
        authorisationRefusal(consent({ kind }), ask({ scopes: ['openid', scope, other] }))?.error,
        'invalid_scope',
        `${kind} with ${scope} ${other}`,
      );
    }
    assert.equal(authorisationRefusal(consent({ kind }), ask({ scopes: ['openid'] }))?.error, 'invalid_scope');
    assert.equal(authorisationRefusal(consent({ kind }), ask({ scopes: ['openid', scope.toUpperCase()] }))?.error, 'invalid_scope');
  }
});

test('a token of a consent stands only while the consent is authorised, for its client, grant and PSU', () => {
  const live = consent({ status: 'AUTH', psu: 'alice', grantId: 'g1' });
  const token = { clientId: 'client-a', grantId: 'g1', subject: 'alice' };
  assert.equal(tokenRefusal(live, token), undefined);
  assert.equal(tokenRefusal(live, { clientId: 'client-a' }), undefined, 'a JWT names no grant');
  assert.ok(tokenRefusal(undefined, token));
  assert.ok(tokenRefusal({ ...live, deletedAt: NOW }, token));
  for (const status of CONSENT_STATUSES.filter((s) => s !== 'AUTH')) assert.ok(tokenRefusal({ ...live, status }, token), status);
  assert.ok(tokenRefusal(live, { ...token, clientId: 'client-b' }));
  assert.ok(tokenRefusal(live, { ...token, grantId: 'g2' }), 'an earlier authorisation’s grant');
  assert.ok(tokenRefusal(live, { ...token, subject: 'mallory' }));
  assert.ok(tokenRefusal({ ...live, psu: null }, token));
});

test('the page describes the consent from its own data: permissions in words, payments, VRP limits', () => {
  for (const word of Object.values(PERMISSION_WORDS)) assert.ok(word.length > 0);
  const ais = describeConsent(
    consent({ data: { Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadNothing'], ExpirationDateTime: '2027-03-01T10:00:00+00:00' } }),
    'Acme',
  );
  assert.deepEqual(ais.permissions, [PERMISSION_WORDS['ReadAccountsDetail'], PERMISSION_WORDS['ReadBalances'], 'ReadNothing']);
  assert.deepEqual(ais.details[0], { label: 'Access ends', value: '1 March 2027 at 10:00 UTC' });
  assert.equal(ais.selection, 'many');
  const pay = describeConsent(
    consent({
      kind: 'domestic-payment',
      data: {
        Initiation: {
          InstructedAmount: { Amount: '10.50', Currency: 'GBP' },
          CreditorAccount: { Name: 'Bob', Identification: '12345612345678' },
          RemittanceInformation: { Reference: 'INV-1' },
        },
      },
    }),
    'Acme',
  );
  assert.deepEqual(pay.details, [
    { label: 'Amount', value: '10.50 GBP' },
    { label: 'Paid to', value: 'Bob (12345612345678)' },
    { label: 'Reference', value: 'INV-1' },
  ]);
  assert.equal(pay.revocable, false);
  const vrp = describeConsent(
    consent({
      kind: 'domestic-vrp',
      data: {
        ControlParameters: {
          MaximumIndividualAmount: { Amount: '50', Currency: 'GBP' },
          PeriodicLimits: [
            { PeriodType: 'Week', PeriodAlignment: 'Consent', Amount: '100', Currency: 'GBP' },
            { PeriodType: 'Year', PeriodAlignment: 'Calendar', Amount: '1000', Currency: 'GBP' },
          ],
        },
      },
    }),
    'Acme',
  );
  assert.deepEqual(
    vrp.details.map((d) => `${d.label}: ${d.value}`),
    [
      'Largest single payment: 50 GBP',
      'At most per week (from today): 100 GBP',
      'At most per year (calendar): 1000 GBP',
      'Until: No end date; you can withdraw it at any time',
    ],
  );
  assert.equal(debtorAccountOf(consent()), undefined);
  assert.deepEqual(debtorAccountOf(consent({ kind: 'funds-confirmation', data: { DebtorAccount: { Identification: '1' } } })), { Identification: '1' });
});

test('the PSU’s accounts: derived ones stable and distinct per user; configured ones as given; an account named in any spelling of its number', async () => {
  const config = configOf({
    sandbox: {
      users: [
        { username: 'a', password: 'a' },
        { username: 'b', password: 'b' },
      ],
    },
  });
  const source = sandboxAccountSource(config);
  const [a, a2, b] = [await source.list('a'), await source.list('a'), await source.list('b')];
  assert.equal(a.length, 3);
  assert.deepEqual(a, a2);
  assert.equal(new Set([...a, ...b].map((x) => x.accountId)).size, 6);
  assert.deepEqual(await source.list('nobody'), []);
  const acct = a[0]!;
  assert.match(acct.identification, /^\d{14}$/);
  const spaced = `${acct.identification.slice(0, 2)}-${acct.identification.slice(2, 4)}-${acct.identification.slice(4, 6)} ${acct.identification.slice(6)}`;
  assert.ok(namesAccount({ SchemeName: acct.scheme, Identification: spaced }, acct));
  assert.ok(!namesAccount({ SchemeName: 'UK.OBIE.IBAN', Identification: acct.identification }, acct));
  assert.ok(!namesAccount({ SchemeName: acct.scheme, Identification: `${acct.identification}0` }, acct));
  for (const bad of [undefined, null, 'x', {}, { SchemeName: acct.scheme }, { SchemeName: acct.scheme, Identification: 1 }])
    assert.ok(!namesAccount(bad, acct));
  const given = sandboxAccountSource(
    configOf({
      sandbox: {
        users: [
          {
            username: 'a',
            password: 'a',
            accounts: [{ account_id: 'acc-1', nickname: 'Joint', currency: 'EUR', identification: 'DE89370400440532013000', scheme: 'UK.OBIE.IBAN' }],
          },
        ],
      },
    }),
  );
  assert.deepEqual(await given.list('a'), [
    { accountId: 'acc-1', nickname: 'Joint', currency: 'EUR', scheme: 'UK.OBIE.IBAN', identification: 'DE89370400440532013000' },
  ]);
  // One AccountId names one customer's account: a second user with it is a configuration error.
  assert.throws(
    () =>
      configOf({
        sandbox: {
          users: [
            { username: 'a', password: 'a', accounts: [{ account_id: 'same', nickname: 'A', identification: '1' }] },
            { username: 'b', password: 'b', accounts: [{ account_id: 'same', nickname: 'B', identification: '2' }] },
          ],
        },
      }),
    /account_id must be unique across every user/,
  );
  for (const account_id of ['', 'a b', 'x'.repeat(41), 'é']) {
    assert.throws(
      () => configOf({ sandbox: { users: [{ username: 'a', password: 'a', accounts: [{ account_id, nickname: 'A', identification: '1' }] }] } }),
      /account_id/,
    );
  }
});
