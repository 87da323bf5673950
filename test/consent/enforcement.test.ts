/**
 * The gateway holds every PSU call to its consent, over real HTTPS with a recording backend: the
 * account access permission of each data endpoint of the official file (the whole map, both ways),
 * the accounts the PSU chose (every other account refused, nothing forwarded), the consent as the
 * backend is told it, payment orders that must repeat their consent exactly and use it once, also
 * when many arrive at once, and VRP payments within their limits to the penny, 100 at once; the
 * consent's rows, history and ledger checked afterwards.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
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
import { sandboxAccountSource, type PsuAccount } from '../../src/consent/psu-accounts.ts';

let env: DcrEnvironment;
let backend: TestBackend;
let aisp: ConsentTpp;
let accounts: readonly PsuAccount[];

const AIS = '/open-banking/v3.1/aisp';
const PIS = '/open-banking/v3.1/pisp';

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment();
  await publishConsentApis(env, backend.url, ['accounts', 'payments', 'vrp']);
  aisp = await registerConsentTpp(env, env.aispPisp);
  accounts = await sandboxAccountSource(env.ts.server.config).list('psu');
});
after(async () => {
  await env?.close();
  await backend?.close();
});

/** A PSU token for a new consent of `api` with `body`, the PSU choosing `choose` of the offered accounts. */
async function psuToken(
  api: 'accounts' | 'payments' | 'vrp',
  resource: string,
  body: unknown,
  chosen?: readonly string[],
): Promise<{ id: string; token: string }> {
  const id = await createConsent(env, aisp, api, resource, body);
  const out = await authorizeConsent(env, aisp, id, api, chosen ? { choose: (offered) => offered.filter((o) => chosen.includes(o.accountId)) } : {});
  const tokens = await out.exchange();
  return { id, token: tokens.access_token };
}

function call(token: string, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  return env.ts.fetch(path, {
    method: init.method ?? 'GET',
    cert: tlsOf(aisp.tpp.transport),
    headers: {
      authorization: `Bearer ${token}`,
      'x-fapi-interaction-id': randomUUID(),
      ...(init.body === undefined
        ? {}
        : { 'content-type': 'application/json', 'x-idempotency-key': randomUUID(), 'x-jws-signature': 'not-checked-unless-the-api-says-so' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

/** A refusal in the OB shape with `code`, and nothing reaching the backend. */
async function refused(res: Response, status: number, code: string, calls: number, path?: string): Promise<void> {
  const body = await jsonBody(res, status);
  assert.equal(body['Code'], code, JSON.stringify(body));
  if (path !== undefined) assert.equal((body['Errors'] as Array<Record<string, string>>)[0]!['Path'], path);
  assert.equal(backend.calls.length, calls, 'nothing was forwarded');
}

const identityOf = (c: { headers: Record<string, unknown> }) => decodeJwt(String(c.headers[env.ts.server.config.gateway.identity_header.toLowerCase()]));

describe('account access', () => {
  // Every data endpoint of the official file with the permissions that open it (docs/consents.md).
  const ENDPOINTS: Array<[string, string[]]> = [
    ['/accounts', ['ReadAccountsBasic', 'ReadAccountsDetail']],
    ['/accounts/{A}', ['ReadAccountsBasic', 'ReadAccountsDetail']],
    ['/balances', ['ReadBalances']],
    ['/accounts/{A}/balances', ['ReadBalances']],
    ['/beneficiaries', ['ReadBeneficiariesBasic', 'ReadBeneficiariesDetail']],
    ['/accounts/{A}/beneficiaries', ['ReadBeneficiariesBasic', 'ReadBeneficiariesDetail']],
    ['/direct-debits', ['ReadDirectDebits']],
    ['/accounts/{A}/direct-debits', ['ReadDirectDebits']],
    ['/standing-orders', ['ReadStandingOrdersBasic', 'ReadStandingOrdersDetail']],
    ['/accounts/{A}/standing-orders', ['ReadStandingOrdersBasic', 'ReadStandingOrdersDetail']],
    ['/transactions', ['ReadTransactionsBasic', 'ReadTransactionsDetail']],
    ['/accounts/{A}/transactions', ['ReadTransactionsBasic', 'ReadTransactionsDetail']],
    ['/accounts/{A}/statements/s1/transactions', ['ReadTransactionsBasic', 'ReadTransactionsDetail']],
    ['/statements', ['ReadStatementsBasic', 'ReadStatementsDetail']],
    ['/accounts/{A}/statements', ['ReadStatementsBasic', 'ReadStatementsDetail']],
    ['/accounts/{A}/statements/s1', ['ReadStatementsBasic', 'ReadStatementsDetail']],
    ['/accounts/{A}/statements/s1/file', ['ReadStatementsDetail']],
    ['/products', ['ReadProducts']],
    ['/accounts/{A}/product', ['ReadProducts']],
    ['/offers', ['ReadOffers']],
    ['/accounts/{A}/offers', ['ReadOffers']],
    ['/accounts/{A}/party', ['ReadParty']],
    ['/accounts/{A}/parties', ['ReadParty']],
    ['/party', ['ReadPartyPSU']],
    ['/scheduled-payments', ['ReadScheduledPaymentsBasic', 'ReadScheduledPaymentsDetail']],
    ['/accounts/{A}/scheduled-payments', ['ReadScheduledPaymentsBasic', 'ReadScheduledPaymentsDetail']],
  ];
  // Two consents whose permissions split every endpoint between them: each endpoint open to exactly one.
  const FIRST = ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail', 'ReadTransactionsCredits', 'ReadStatementsBasic', 'ReadParty', 'ReadOffers'];
  const SECOND = [
    'ReadAccountsBasic',
    'ReadBeneficiariesBasic',
    'ReadDirectDebits',
    'ReadStandingOrdersDetail',
    'ReadProducts',
    'ReadPartyPSU',
    'ReadScheduledPaymentsBasic',
  ];

  test('each data endpoint passes exactly when the consent grants one of its permissions; the backend is told the consent', async () => {
    const chosen = accounts.slice(0, 2).map((a) => a.accountId);
    for (const permissions of [FIRST, SECOND]) {
      const { id, token } = await psuToken('accounts', '/account-access-consents', accountAccessBody({ Permissions: permissions }), chosen);
      for (const [template, opening] of ENDPOINTS) {
        const path = `${AIS}${template.replace('{A}', chosen[1]!)}`;
        const before = backend.calls.length;
        const res = await call(token, path);
        const open = opening.some((p) => permissions.includes(p));
        if (open) {
          assert.equal(res.status, 200, `${template} with ${permissions.join(',')}: ${await res.text()}`);
          const got = backend.calls.at(-1)!;
          const consent = identityOf(got)['consent'] as Record<string, unknown>;
          assert.deepEqual(consent['id'], id);
          assert.deepEqual(consent['accounts'], chosen);
          assert.deepEqual(consent['permissions'], permissions);
          assert.equal(consent['status'], 'AUTH');
          assert.equal(consent['type'], 'account-access');
        } else {
          await refused(res, 403, 'GATEWAY_CONSENT_PERMISSION', before);
        }
      }
    }
  });

  test('an account the PSU did not choose is refused on every account path, in every spelling; nothing reaches the backend', async () => {
    const chosen = [accounts[0]!.accountId];
    const { token } = await psuToken('accounts', '/account-access-consents', accountAccessBody(), chosen);
    const stranger = (
      await sandboxAccountSource({ ...env.ts.server.config, sandbox: { users: [{ username: 'x', password: 'x', name: '', email: '', accounts: [] }] } }).list(
        'x',
      )
    )[0]!.accountId;
    const others = [accounts[1]!.accountId, accounts[2]!.accountId, stranger, chosen[0]!.toUpperCase(), `${chosen[0]}x`, chosen[0]!.slice(0, -1), 'p1', '0'];
    for (const other of others) {
      for (const template of ['/accounts/{A}', '/accounts/{A}/balances', '/accounts/{A}/transactions', '/accounts/{A}/statements/s1/transactions']) {
        const before = backend.calls.length;
        await refused(await call(token, `${AIS}${template.replace('{A}', encodeURIComponent(other))}`), 403, 'GATEWAY_CONSENT_ACCOUNT', before);
      }
    }
    assert.equal((await call(token, `${AIS}/accounts/${chosen[0]}/balances`)).status, 200);
  });

  test("transactions only within the consent's window: the booking-date filters the backend gets are the intersection", async () => {
    const window = { TransactionFromDateTime: '2026-01-01T00:00:00+00:00', TransactionToDateTime: '2026-06-30T12:00:00+01:00' };
    const { token } = await psuToken('accounts', '/account-access-consents', accountAccessBody(window), [accounts[0]!.accountId]);
    const path = `${AIS}/accounts/${accounts[0]!.accountId}/transactions`;
    const sentQuery = async (query: string) => {
      const res = await call(token, `${path}${query}`);
      assert.equal(res.status, 200, await res.text());
      return Object.fromEntries(new URL(backend.calls.at(-1)!.url, 'http://backend').searchParams);
    };
    const FROM = '2026-01-01T00:00:00';
    const TO = '2026-06-30T11:00:00';
    assert.deepEqual(await sentQuery(''), { fromBookingDateTime: FROM, toBookingDateTime: TO });
    assert.deepEqual(await sentQuery('?fromBookingDateTime=2025-01-01T00:00:00&toBookingDateTime=2027-01-01T00:00:00'), {
      fromBookingDateTime: FROM,
      toBookingDateTime: TO,
    });
    assert.deepEqual(await sentQuery('?fromBookingDateTime=2026-03-01T00:00:00&toBookingDateTime=2026-04-01T00:00:00'), {
      fromBookingDateTime: '2026-03-01T00:00:00',
      toBookingDateTime: '2026-04-01T00:00:00',
    });
    // A zone sent is ignored (OB); an empty result (to before from) is the backend's to give.
    assert.deepEqual(await sentQuery('?fromBookingDateTime=2026-03-01T00:00:00%2B05:00'), {
      fromBookingDateTime: '2026-03-01T00:00:00',
      toBookingDateTime: TO,
    });
    assert.deepEqual(await sentQuery('?toBookingDateTime=2025-01-01T00:00:00'), { fromBookingDateTime: FROM, toBookingDateTime: '2025-01-01T00:00:00' });
    // Also on the bulk endpoint, and nothing but the booking dates changes.
    const bulk = await call(token, `${AIS}/transactions?page=2`);
    assert.equal(bulk.status, 200);
    assert.deepEqual(Object.fromEntries(new URL(backend.calls.at(-1)!.url, 'http://backend').searchParams), {
      page: '2',
      fromBookingDateTime: FROM,
      toBookingDateTime: TO,
    });
    for (const bad of ['yesterday', '2026-13-01T00:00:00', '2026-01-01', '2026-01-01T00:00', '<b>']) {
      const before = backend.calls.length;
      await refused(await call(token, `${path}?fromBookingDateTime=${encodeURIComponent(bad)}`), 400, 'GATEWAY_QUERY_INVALID', before, 'fromBookingDateTime');
    }
    // A consent without a window: the query goes as sent.
    const open = await psuToken('accounts', '/account-access-consents', accountAccessBody(), [accounts[0]!.accountId]);
    assert.equal((await call(open.token, `${path}?fromBookingDateTime=yesterday`)).status, 200);
    assert.equal(new URL(backend.calls.at(-1)!.url, 'http://backend').search, '?fromBookingDateTime=yesterday');
  });

  test('a deleted consent stops its token at once; an AIS token opens no payment operation', async () => {
    const { id, token } = await psuToken('accounts', '/account-access-consents', accountAccessBody());
    assert.equal((await call(token, `${AIS}/accounts`)).status, 200);
    const pay = await call(token, `${PIS}/domestic-payments`, { method: 'POST', body: domesticPaymentBody() });
    assert.equal(pay.status, 403);
    assert.equal(((await pay.json()) as { Code: string }).Code, 'GATEWAY_SCOPE_MISSING');
    assert.equal((await consentCall(env, aisp, 'accounts', 'DELETE', `/account-access-consents/${id}`)).status, 204);
    const before = backend.calls.length;
    const after = await call(token, `${AIS}/accounts`);
    assert.equal(after.status, 401);
    assert.equal(backend.calls.length, before);
  });
});

describe('payment orders', () => {
  const order = (id: string, over: (b: ReturnType<typeof domesticPaymentBody>) => unknown = (b) => b) => {
    const b = domesticPaymentBody();
    return over({ ...b, Data: { ConsentId: id, ...b.Data } } as never);
  };

  test('an order that does not repeat its consent exactly is refused with the first field that differs; the consent stays usable', async () => {
    const { id, token } = await psuToken('payments', '/domestic-payment-consents', domesticPaymentBody());
    type Body = { Data: Record<string, unknown> & { Initiation: Record<string, unknown> }; Risk: Record<string, unknown> };
    const cases: Array<[(b: Body) => unknown, string]> = [
      [(b) => ({ ...b, Data: { ...b.Data, ConsentId: randomUUID() } }), 'Data.ConsentId'],
      [(b) => ({ ...b, Data: { ...b.Data, ConsentId: undefined } }), 'Data.ConsentId'],
      [
        (b) => ({ ...b, Data: { ...b.Data, Initiation: { ...b.Data.Initiation, InstructedAmount: { Amount: '165.89', Currency: 'GBP' } } } }),
        'Data.Initiation.InstructedAmount.Amount',
      ],
      [
        (b) => ({ ...b, Data: { ...b.Data, Initiation: { ...b.Data.Initiation, InstructedAmount: { Amount: '165.88', Currency: 'EUR' } } } }),
        'Data.Initiation.InstructedAmount.Currency',
      ],
      [
        (b) => ({
          ...b,
          Data: {
            ...b.Data,
            Initiation: {
              ...b.Data.Initiation,
              CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '08080021325699', Name: 'ACME Inc' },
            },
          },
        }),
        'Data.Initiation.CreditorAccount.Identification',
      ],
      [
        (b) => ({
          ...b,
          Data: { ...b.Data, Initiation: { ...b.Data.Initiation, DebtorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '1' } } },
        }),
        'Data.Initiation.DebtorAccount',
      ],
      [(b) => ({ ...b, Data: { ...b.Data, Initiation: { ...b.Data.Initiation, RemittanceInformation: undefined } } }), 'Data.Initiation.RemittanceInformation'],
      [(b) => ({ ...b, Risk: { PaymentContextCode: 'BillPayment' } }), 'Risk.PaymentContextCode'],
      [(b) => ({ ...b, Risk: {} }), 'Risk.PaymentContextCode'],
    ];
    for (const [change, path] of cases) {
      const before = backend.calls.length;
      await refused(
        await call(token, `${PIS}/domestic-payments`, { method: 'POST', body: order(id, change as never) }),
        400,
        'GATEWAY_CONSENT_BODY_MISMATCH',
        before,
        path,
      );
    }
    assert.equal((await env.ts.storage.consents.get(id))!.status, 'AUTH');
    // Refused by the backend (4xx): the consent may be used again.
    backend.behave({ status: 400 });
    try {
      assert.equal((await call(token, `${PIS}/domestic-payments`, { method: 'POST', body: order(id) })).status, 400);
    } finally {
      backend.behave({ status: 200 });
    }
    assert.equal((await env.ts.storage.consents.get(id))!.status, 'AUTH');
    const accepted = await call(token, `${PIS}/domestic-payments`, { method: 'POST', body: order(id) });
    assert.equal(accepted.status, 200, await accepted.text());
    const forwarded = identityOf(backend.calls.at(-1)!)['consent'] as Record<string, unknown>;
    assert.equal(forwarded['type'], 'domestic-payment');
    assert.equal((await env.ts.storage.consents.get(id))!.status, 'COND');
  });

  test('orders of one consent at once (each with its own idempotency key): exactly one reaches the backend; the consent is consumed once', async () => {
    const { id, token } = await psuToken('payments', '/domestic-payment-consents', domesticPaymentBody());
    const before = backend.calls.length;
    backend.behave({ delayMs: 200 });
    let answers: Response[];
    try {
      answers = await Promise.all(Array.from({ length: 12 }, () => call(token, `${PIS}/domestic-payments`, { method: 'POST', body: order(id) })));
    } finally {
      backend.behave({ delayMs: 0 });
    }
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(' '));
    for (const a of answers.filter((x) => x.status !== 200)) {
      const body = a.status === 401 ? undefined : ((await a.json()) as { Code: string });
      assert.ok(a.status === 401 || body?.Code === 'GATEWAY_CONSENT_STATUS', `${a.status} ${JSON.stringify(body)}`);
    }
    assert.equal(backend.calls.length - before, 1, 'one order reached the backend');
    assert.equal((await env.ts.storage.consents.get(id))!.status, 'COND');
    assert.equal((await env.ts.storage.consents.history(id)).filter((e) => e.to === 'COND').length, 1);
    // The token of a consumed consent is stopped.
    const again = await call(token, `${PIS}/domestic-payments`, { method: 'POST', body: order(id) });
    assert.equal(again.status, 401);
  });
});

describe('VRP payments', () => {
  // 10.00 a payment, 100.00 a month from the consent's creation day (a period the test cannot leave).
  const consentBody = () => {
    const b = domesticVrpBody();
    return {
      ...b,
      Data: {
        ...b.Data,
        ControlParameters: {
          ...b.Data.ControlParameters,
          MaximumIndividualAmount: { Amount: '10.00', Currency: 'GBP' },
          PeriodicLimits: [{ Amount: '100.00', Currency: 'GBP', PeriodAlignment: 'Consent', PeriodType: 'Month' }],
        },
      },
    };
  };
  const VRP = '/open-banking/v3.1/vrp/domestic-vrps';
  const payment = (id: string, amount: string, over: Record<string, unknown> = {}) => {
    const c = consentBody();
    return {
      Data: {
        ConsentId: id,
        PSUAuthenticationMethod: 'UK.OBIE.SCA',
        VRPType: 'UK.OBIE.VRPType.Sweeping',
        Initiation: c.Data.Initiation,
        Instruction: {
          InstructionIdentification: 'SWEEP-1',
          EndToEndIdentification: 'SWEEP-E2E-1',
          InstructedAmount: { Amount: amount, Currency: 'GBP' },
          CreditorAccount: c.Data.Initiation.CreditorAccount,
        },
        ...over,
      },
      Risk: c.Risk,
    };
  };
  const ledger = async (id: string) => (await env.ts.storage.consents.vrpPayments(id, 0)).reduce((sum, p) => sum + BigInt(p.units), 0n);

  test('each payment is held to the consent: its body, the largest single payment; a refused one is not counted; a client credentials token is refused', async () => {
    const { id, token } = await psuToken('vrp', '/domestic-vrp-consents', consentBody());
    const before = backend.calls.length;
    await refused(
      await call(token, VRP, { method: 'POST', body: payment(id, '10.01') }),
      400,
      'GATEWAY_VRP_LIMIT',
      before,
      'Data.Instruction.InstructedAmount.Amount',
    );
    await refused(
      await call(token, VRP, { method: 'POST', body: payment(id, '1.00', { VRPType: 'UK.OBIE.VRPType.Other' }) }),
      400,
      'GATEWAY_VRP_LIMIT',
      before,
      'Data.VRPType',
    );
    await refused(
      await call(token, VRP, { method: 'POST', body: payment(id, '1.00', { Initiation: {} }) }),
      400,
      'GATEWAY_CONSENT_BODY_MISMATCH',
      before,
      'Data.Initiation',
    );
    await refused(
      await call(token, VRP, { method: 'POST', body: payment(randomUUID(), '1.00') }),
      400,
      'GATEWAY_CONSENT_BODY_MISMATCH',
      before,
      'Data.ConsentId',
    );
    // The file marks the payment for client credentials; a consent opens it to the PSU's token only.
    const cc = await env.ccToken(aisp.tpp, aisp.clientId, 'private_key_jwt', { scope: 'payments' });
    await refused(await call(cc, VRP, { method: 'POST', body: payment(id, '1.00') }), 403, 'GATEWAY_FLOW_MISMATCH', before);
    assert.equal(await ledger(id), 0n, 'nothing counted');
    // Refused by the backend: not counted; accepted: counted, and the backend told the consent.
    backend.behave({ status: 422 });
    try {
      assert.equal((await call(token, VRP, { method: 'POST', body: payment(id, '5.00') })).status, 422);
    } finally {
      backend.behave({ status: 200 });
    }
    assert.equal(await ledger(id), 0n);
    assert.equal((await call(token, VRP, { method: 'POST', body: payment(id, '5.00') })).status, 200);
    assert.equal(await ledger(id), 500_000n);
    assert.equal((identityOf(backend.calls.at(-1)!)['consent'] as Record<string, unknown>)['type'], 'domestic-vrp');
    // The same payment repeated with its idempotency key is answered again, not counted twice.
    const key = randomUUID();
    const first = await call(token, VRP, { method: 'POST', body: payment(id, '2.00'), headers: { 'x-idempotency-key': key } });
    const again = await call(token, VRP, { method: 'POST', body: payment(id, '2.00'), headers: { 'x-idempotency-key': key } });
    assert.deepEqual([first.status, again.status], [200, 200]);
    assert.equal(await ledger(id), 700_000n);
  });

  test('100 payments at once against a limit: exactly those that fit pass, never a penny over', async () => {
    const { id, token } = await psuToken('vrp', '/domestic-vrp-consents', consentBody());
    const before = backend.calls.length;
    // 100 × 1.01 against 100.00: 99 fit (99.99), the hundredth would be 101.00.
    const answers = await Promise.all(Array.from({ length: 100 }, () => call(token, VRP, { method: 'POST', body: payment(id, '1.01') })));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 200).length, 99, statuses.join(' '));
    const over = answers.find((a) => a.status !== 200)!;
    const body = (await over.json()) as { Code: string; Errors: Array<{ Path: string; Message: string }> };
    assert.equal(body.Code, 'GATEWAY_VRP_LIMIT');
    assert.equal(body.Errors[0]!.Path, 'Data.ControlParameters.PeriodicLimits[0]');
    assert.match(body.Errors[0]!.Message, /0\.01 GBP left/);
    assert.equal(backend.calls.length - before, 99, '99 payments reached the bank');
    assert.equal(await ledger(id), 9_999_000n, 'the ledger holds 99.99');
    // The last penny still fits, the next does not.
    assert.equal((await call(token, VRP, { method: 'POST', body: payment(id, '0.01') })).status, 200);
    assert.equal((await call(token, VRP, { method: 'POST', body: payment(id, '0.01') })).status, 400);
    assert.equal(await ledger(id), 10_000_000n);
  });
});
