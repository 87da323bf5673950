/**
 * The consent (intent) resources served here, through the gateway over real HTTPS: the official
 * v3.1.11 and v4.0 definitions published with their consents served by OpenDCR, a TPP creating,
 * reading and deleting consents with its client-credentials token, every refusal in the API
 * version's own OB error shape, nothing of it reaching the bank's backend, and the stored rows
 * and history checked afterwards.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { startDcrEnvironment, jsonBody, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { publishApi, SPEC, type ServerFetch } from '../gateway/support.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const FILES = {
  'v3.1': new URL('ob-read-write-openapi/v3.1.11/account-info-openapi.yaml', SPEC),
  'v4.0': new URL('ob-read-write-openapi/v4.0.x/account-info-openapi.yaml', SPEC),
} as const;
const PAYMENTS = new URL('ob-read-write-openapi/v3.1.11/payment-initiation-openapi.yaml', SPEC);
type Family = keyof typeof FILES;

type Json = Record<string, unknown>;
/** The value at a JSON pointer's segments (each already unescaped). */
const dig = (root: unknown, keys: readonly string[]): Json => keys.reduce<unknown>((o, k) => (o as Json)[k], root) as Json;

/** The official response schema of an operation, to hold our answers to it. */
function responseValidator(file: URL, path: string, method: string, status: string) {
  const doc = parseYaml(readFileSync(file, 'utf8')) as Json;
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  addFormats(ajv);
  ajv.addSchema(doc, 'doc');
  let response = dig(doc, ['paths', path, method, 'responses', status]);
  let pointer = `#/paths/${path.replaceAll('/', '~1')}/${method}/responses/${status}`;
  if (typeof response['$ref'] === 'string') {
    pointer = response['$ref'];
    response = dig(doc, pointer.slice(2).split('/'));
  }
  const type = Object.keys(response['content'] as Json).find((t) => t.startsWith('application/json'))!;
  return ajv.compile({ $ref: `doc${pointer}/content/${type.replaceAll('/', '~1')}/schema` });
}

const ACCOUNTS_BODY = (over: Record<string, unknown> = {}) => ({
  Data: {
    Permissions: ['ReadAccountsDetail', 'ReadBalances', 'ReadTransactionsDetail', 'ReadTransactionsCredits'],
    ExpirationDateTime: new Date(Date.now() + 30 * 86400_000).toISOString(),
    ...over,
  },
  Risk: {},
});

let env: DcrEnvironment;
let backend: TestBackend;
let tpp: SandboxTpp;
let other: SandboxTpp;
const tokens: Record<string, string> = {};

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment();
  const admin: ServerFetch = (path, init) => env.ts.fetch(path, init as never);
  for (const [family, file] of Object.entries(FILES)) {
    await publishApi(admin, file, backend.url, { serveConsents: true, name: `Accounts ${family}` });
  }
  await publishApi(admin, PAYMENTS, backend.url, { serveConsents: true });
  tpp = env.aispPisp;
  other = await env.addTpp({ name: 'Other Accounts Ltd', roles: ['AISP'] });
  for (const [name, t] of [
    ['tpp', tpp],
    ['other', other],
  ] as const) {
    const reg = await jsonBody(await env.register(t, await env.validRequestClaims(t)), 201);
    const clientId = String(reg['client_id']);
    tokens[name] = await env.ccToken(t, clientId, 'private_key_jwt', { scope: 'accounts' });
    if (name === 'tpp') tokens['payments'] = await env.ccToken(t, clientId, 'private_key_jwt', { scope: 'payments' });
    tokens[`${name}:client`] = clientId;
  }
});
after(async () => {
  await env?.close();
  await backend?.close();
});

function call(family: Family, path: string, init: { method?: string; body?: unknown; as?: 'tpp' | 'other'; headers?: Record<string, string> } = {}) {
  const who = init.as ?? 'tpp';
  return env.ts.fetch(`/open-banking/${family}/aisp${path}`, {
    method: init.method ?? 'GET',
    cert: tlsOf((who === 'tpp' ? tpp : other).transport),
    headers: {
      authorization: `Bearer ${tokens[who]}`,
      'x-fapi-interaction-id': randomUUID(),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
}

const STATUS = { 'v3.1': 'AwaitingAuthorisation', 'v4.0': 'AWAU' } as const;

for (const family of ['v3.1', 'v4.0'] as const) {
  describe(`account-access-consents, ${family}`, () => {
    test('a consent is created, read and deleted; the answers follow the official response schemas; the backend sees none of it', async () => {
      const calls = backend.calls.length;
      const sent = ACCOUNTS_BODY();
      const created = await call(family, '/account-access-consents', { method: 'POST', body: sent });
      const body = await jsonBody(created, 201);
      const data = body['Data'] as Record<string, unknown>;
      const id = String(data['ConsentId']);
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.equal(data['Status'], STATUS[family]);
      assert.deepEqual(data['Permissions'], sent.Data.Permissions);
      assert.equal(data['ExpirationDateTime'], sent.Data.ExpirationDateTime);
      assert.equal(data['CreationDateTime'], data['StatusUpdateDateTime']);
      assert.deepEqual(body['Risk'], {});
      assert.equal(
        (body['Links'] as Record<string, string>)['Self'],
        `${env.url.replace(/\/$/, '')}/open-banking/${family}/aisp/account-access-consents/${id}`,
      );
      assert.ok(created.headers.get('x-fapi-interaction-id'));
      const valid201 = responseValidator(FILES[family], '/account-access-consents', 'post', '201');
      assert.ok(valid201(body), JSON.stringify(valid201.errors));

      const read = await jsonBody(await call(family, `/account-access-consents/${id}`), 200);
      assert.deepEqual(read, body);
      const valid200 = responseValidator(FILES[family], '/account-access-consents/{ConsentId}', 'get', '200');
      assert.ok(valid200(read), JSON.stringify(valid200.errors));

      const deleted = await call(family, `/account-access-consents/${id}`, { method: 'DELETE' });
      assert.equal(deleted.status, 204);
      assert.equal(await deleted.text(), '');
      for (const method of ['GET', 'DELETE']) {
        const gone = await jsonBody(await call(family, `/account-access-consents/${id}`, { method }), 400);
        assert.equal((gone['Errors'] as Array<Record<string, string>>)[0]!['ErrorCode'], family === 'v3.1' ? 'UK.OBIE.Resource.NotFound' : 'U011');
      }
      assert.equal(backend.calls.length, calls, 'no consent call reached the backend');

      const stored = (await env.ts.storage.consents.get(id))!;
      assert.equal(stored.kind, 'account-access');
      assert.equal(stored.apiVersion, family);
      assert.equal(stored.clientId, tokens['tpp:client']);
      assert.equal(stored.status, 'AWAU');
      assert.ok(stored.deletedAt !== null);
      const history = await env.ts.storage.consents.history(id);
      assert.deepEqual(
        history.map((e) => [e.from, e.to, e.actor, e.reason]),
        [
          [null, 'AWAU', 'tpp', null],
          ['AWAU', 'AWAU', 'tpp', 'deleted'],
        ],
      );
    });

    test("another TPP's consent is not found, read or deleted, and stays as it was", async () => {
      const mine = await jsonBody(await call(family, '/account-access-consents', { method: 'POST', body: ACCOUNTS_BODY() }), 201);
      const id = String((mine['Data'] as Record<string, unknown>)['ConsentId']);
      for (const method of ['GET', 'DELETE']) {
        const res = await jsonBody(await call(family, `/account-access-consents/${id}`, { method, as: 'other' }), 400);
        assert.equal((res['Errors'] as Array<Record<string, string>>)[0]!['ErrorCode'], family === 'v3.1' ? 'UK.OBIE.Resource.NotFound' : 'U011');
        assert.equal(JSON.stringify(res).includes(id), false, 'the id is not echoed');
      }
      const still = (await env.ts.storage.consents.get(id))!;
      assert.equal(still.deletedAt, null);
      assert.equal(still.version, 1);
    });

    test('every invalid request is refused with its code and path, and stores nothing', async () => {
      const v4 = family === 'v4.0';
      const code = (name: string) =>
        v4
          ? (
              {
                'UK.OBIE.Field.Invalid': 'U002',
                'UK.OBIE.Field.InvalidDate': 'U003',
                'UK.OBIE.Field.Missing': 'U004',
                'UK.OBIE.Resource.InvalidFormat': 'U010',
              } as Record<string, string>
            )[name]!
          : name;
      const before = (await env.ts.storage.consents.list({ clientId: tokens['tpp:client']!, deleted: true, limit: 1000 })).length;
      const cases: Array<[string, unknown, string, string | undefined]> = [
        ['an unknown permission', ACCOUNTS_BODY({ Permissions: ['ReadAccountsBasic', 'ReadEverything'] }), 'UK.OBIE.Field.Invalid', 'Data.Permissions[1]'],
        ['no permission', ACCOUNTS_BODY({ Permissions: [] }), 'UK.OBIE.Field.Invalid', 'Data.Permissions'],
        ['no account permission', ACCOUNTS_BODY({ Permissions: ['ReadBalances'] }), 'UK.OBIE.Field.Missing', 'Data.Permissions'],
        [
          'transactions without a direction',
          ACCOUNTS_BODY({ Permissions: ['ReadAccountsBasic', 'ReadTransactionsBasic'] }),
          'UK.OBIE.Field.Missing',
          'Data.Permissions',
        ],
        [
          'a direction without transactions',
          ACCOUNTS_BODY({ Permissions: ['ReadAccountsBasic', 'ReadTransactionsDebits'] }),
          'UK.OBIE.Field.Missing',
          'Data.Permissions',
        ],
        ['a permission twice', ACCOUNTS_BODY({ Permissions: ['ReadAccountsBasic', 'ReadAccountsBasic'] }), 'UK.OBIE.Field.Invalid', 'Data.Permissions'],
        ['an expiry in the past', ACCOUNTS_BODY({ ExpirationDateTime: '2020-01-01T00:00:00+00:00' }), 'UK.OBIE.Field.InvalidDate', 'Data.ExpirationDateTime'],
        ['an expiry without a zone', ACCOUNTS_BODY({ ExpirationDateTime: '2099-01-01T00:00:00' }), 'UK.OBIE.Field.InvalidDate', 'Data.ExpirationDateTime'],
        ['a date that is no date', ACCOUNTS_BODY({ TransactionFromDateTime: '<script>' }), 'UK.OBIE.Field.InvalidDate', 'Data.TransactionFromDateTime'],
        [
          'a window that ends before it starts',
          ACCOUNTS_BODY({ TransactionFromDateTime: '2024-02-01T00:00:00+00:00', TransactionToDateTime: '2024-01-01T00:00:00+00:00' }),
          'UK.OBIE.Field.InvalidDate',
          'Data.TransactionFromDateTime',
        ],
        ['no Data', { Risk: {} }, 'UK.OBIE.Field.Missing', 'Data'],
        ['no Risk', { Data: ACCOUNTS_BODY().Data }, 'UK.OBIE.Field.Missing', 'Risk'],
        ['Permissions as a string', ACCOUNTS_BODY({ Permissions: 'ReadAccountsBasic' }), 'UK.OBIE.Field.Invalid', 'Data.Permissions'],
        ['a body that is an array', [ACCOUNTS_BODY()], 'UK.OBIE.Field.Invalid', '$'],
        ['a body that is not JSON', '{"Data":', 'UK.OBIE.Resource.InvalidFormat', undefined],
      ];
      for (const [what, sent, name, path] of cases) {
        const res = await call(family, '/account-access-consents', { method: 'POST', body: sent });
        const text = await res.text();
        // A body the gateway cannot parse is refused before the consent service, in the gateway's shape.
        if (what === 'a body that is not JSON' && res.status === 400 && text.includes('GATEWAY_')) continue;
        assert.equal(res.status, 400, `${what}: ${text}`);
        assert.doesNotMatch(text, /<script>|ReadEverything/, `${what}: nothing of the request is echoed`);
        const errors = (JSON.parse(text) as Record<string, unknown>)['Errors'] as Array<Record<string, string>>;
        assert.ok(
          errors.some((e) => e['ErrorCode'] === code(name) && e['Path'] === path),
          `${what}: expected ${code(name)} at ${path}, got ${JSON.stringify(errors)}`,
        );
        const valid400 = responseValidator(FILES[family], '/account-access-consents', 'post', '400');
        assert.ok(valid400(JSON.parse(text)), `${what}: ${JSON.stringify(valid400.errors)}`);
      }
      const afterwards = (await env.ts.storage.consents.list({ clientId: tokens['tpp:client']!, deleted: true, limit: 1000 })).length;
      assert.equal(afterwards, before, 'nothing was stored');
    });

    test('a PSU operation with a client-credentials token, and an AIS consent with a payments token, are refused before anything is served', async () => {
      const calls = backend.calls.length;
      const res = await call(family, '/accounts');
      await res.arrayBuffer();
      // A client-credentials token: the gateway refuses the PSU operation before the backend.
      assert.equal(res.status, 403);
      assert.equal(backend.calls.length, calls);
      const payments = await env.ts.fetch(`/open-banking/${family}/aisp/account-access-consents`, {
        method: 'POST',
        cert: tlsOf(tpp.transport),
        headers: { authorization: `Bearer ${tokens['payments']}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
        body: JSON.stringify(ACCOUNTS_BODY()),
      });
      assert.equal(payments.status, 403, await payments.text());
    });
  });
}

describe('domestic-payment-consents, v3.1', () => {
  const consent = {
    Data: {
      Initiation: {
        InstructionIdentification: 'ACME412',
        EndToEndIdentification: 'FRESCO.21302.GFX.20',
        InstructedAmount: { Amount: '165.88', Currency: 'GBP' },
        CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '08080021325698', Name: 'ACME Inc' },
      },
    },
    Risk: { PaymentContextCode: 'EcommerceGoods' },
  };
  const pay = (key: string, body: unknown, method = 'POST', path = '/domestic-payment-consents') =>
    env.ts.fetch(`/open-banking/v3.1/pisp${path}`, {
      method,
      cert: tlsOf(tpp.transport),
      headers: {
        authorization: `Bearer ${tokens['payments']}`,
        'x-fapi-interaction-id': randomUUID(),
        ...(method === 'POST' ? { 'content-type': 'application/json', 'x-idempotency-key': key, 'x-jws-signature': 'not-checked-unless-the-api-says-so' } : {}),
      },
      ...(method === 'POST' ? { body: JSON.stringify(body) } : {}),
    });

  test('a payment consent is created once per idempotency key, read back with its Initiation and Risk, and cannot be deleted', async () => {
    const key = randomUUID().slice(0, 30);
    const first = await jsonBody(await pay(key, consent), 201);
    const again = await jsonBody(await pay(key, consent), 201);
    assert.deepEqual(again, first, 'the repeat is answered with the first answer');
    const data = first['Data'] as Record<string, unknown>;
    assert.equal(data['Status'], 'AwaitingAuthorisation');
    assert.deepEqual(data['Initiation'], consent.Data.Initiation);
    assert.deepEqual(first['Risk'], consent.Risk);
    const valid201 = responseValidator(PAYMENTS, '/domestic-payment-consents', 'post', '201');
    assert.ok(valid201(first), JSON.stringify(valid201.errors));
    const id = String(data['ConsentId']);
    const read = await jsonBody(await pay('', undefined, 'GET', `/domestic-payment-consents/${id}`), 200);
    assert.deepEqual(read, first);
    const remove = await pay('', undefined, 'DELETE', `/domestic-payment-consents/${id}`);
    assert.equal(remove.status, 405, await remove.text());
    const mine = await env.ts.storage.consents.list({ clientId: tokens['tpp:client']!, kind: 'domestic-payment', limit: 100 });
    assert.equal(mine.filter((c) => c.id === id).length, 1);
    assert.equal(mine.length, 1, 'one consent for the key, not two');
    const bad = await jsonBody(
      await pay(randomUUID().slice(0, 30), {
        ...consent,
        Data: { Initiation: { ...consent.Data.Initiation, InstructedAmount: { Amount: 'lots', Currency: 'GBP' } } },
      }),
      400,
    );
    assert.deepEqual(
      (bad['Errors'] as Array<Record<string, string>>).map((e) => [e['ErrorCode'], e['Path']]),
      [['UK.OBIE.Field.Invalid', 'Data.Initiation.InstructedAmount.Amount']],
    );
  });
});
