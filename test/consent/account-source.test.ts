/**
 * The bank's account system as the source of the accounts a customer chooses
 * (`[psu.account_source]`), against a real HTTPS endpoint that requires OpenDCR's client
 * certificate and a bearer header: the consent page offers the bank's accounts and the consent
 * binds the one chosen; a customer's list is read once for a page and its form; a payment
 * consent's debtor account is offered fixed when held and refused when not; an account system that
 * fails (down, 404, too slow, too large, the wrong shape) gives a clear page and leaves the consent
 * waiting, and is asked again next time.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../../src/crypto/pki.ts';
import { ConsentPageError } from '../../src/cli/psu-flow.ts';
import { startDcrEnvironment, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort, readSandboxCa } from '../helpers/server.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import {
  accountAccessBody,
  authorizeConsent,
  createConsent,
  domesticPaymentBody,
  publishConsentApis,
  registerConsentTpp,
  type ConsentTpp,
} from '../helpers/consents.ts';

const TOKEN_ENV = 'OPENDCR_TEST_ACCOUNT_SOURCE_TOKEN';
const TOKEN = 'Bearer account-system-token-0123456789';
const USERS = ['ann', 'bob', 'cat', 'dan', 'eve', 'fay', 'gus'] as const;

type Behaviour = 'ok' | 'down' | 'missing' | 'slow' | 'huge' | 'shape';

let env: DcrEnvironment;
let backend: TestBackend;
let tpp: ConsentTpp;
let accounts: Server;
let behaviour: Behaviour = 'ok';
const asked: Array<{ path: string; authorization: string | undefined; clientCert: boolean }> = [];

const bankAccounts = (psu: string) => [
  {
    accountId: `${psu}-current`,
    schemeName: 'UK.OBIE.SortCodeAccountNumber',
    identification: '40400412345678',
    name: 'Everyday account',
    currency: 'GBP',
    type: 'Personal',
  },
  { accountId: `${psu}-saver`, schemeName: 'UK.OBIE.SortCodeAccountNumber', identification: '40400487654321', name: 'Rainy day saver', currency: 'GBP' },
];

before(async () => {
  const port = await freePort();
  process.env[TOKEN_ENV] = TOKEN;
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-accounts-'));
  const clientCa = await createCertificateAuthority({ subject: 'CN=Bank internal CA', validityDays: 1 });
  const clientCert = await issueClientCertificate(clientCa, { subject: 'CN=opendcr', validityDays: 1 });
  writeFileSync(join(dir, 'client.pem'), clientCert.chainPem);
  writeFileSync(join(dir, 'client-key.pem'), clientCert.keyPem);
  backend = await startTestBackend();
  env = await startDcrEnvironment({
    oauth: { allowed_outbound_hosts: [`localhost:${port}`] },
    sandbox: { users: USERS.map((u) => ({ username: u, password: `${u}-pw`, name: u })) },
    psu: {
      account_source: {
        url: `https://localhost:${port}/customers/{psu}/accounts`,
        client_cert_file: join(dir, 'client.pem'),
        client_key_file: join(dir, 'client-key.pem'),
        authorization_env: TOKEN_ENV,
        timeout: 1,
        max_bytes: 4096,
        cache_ttl: 60,
      },
    },
  });
  // The endpoint's certificate comes from the bank's sandbox CA (trusted by the outbound fetch); it asks for OpenDCR's own.
  const serverCert = await issueServerCertificate(readSandboxCa(env.ts.server.config.derived.dataDir), {
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validityDays: 1,
  });
  accounts = createServer(
    { cert: serverCert.chainPem, key: serverCert.keyPem, ca: [clientCa.certPem], requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const m = /^\/customers\/([^/]+)\/accounts$/.exec(req.url ?? '');
      asked.push({ path: req.url ?? '', authorization: req.headers.authorization, clientCert: (req.socket as import('node:tls').TLSSocket).authorized });
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (!m || req.headers.authorization !== TOKEN) return json(401, {});
      if (behaviour === 'down') return json(503, { error: 'maintenance' });
      if (behaviour === 'missing') return json(404, {});
      if (behaviour === 'slow') return void setTimeout(() => json(200, { accounts: bankAccounts(decodeURIComponent(m[1]!)) }), 2500);
      if (behaviour === 'huge') return json(200, { accounts: bankAccounts('x'), padding: 'x'.repeat(10_000) });
      if (behaviour === 'shape') return json(200, { accounts: [{ accountId: 'a b', name: 'x' }] });
      return json(200, { accounts: bankAccounts(decodeURIComponent(m[1]!)) });
    },
  );
  await new Promise<void>((resolve) => accounts.listen(port, '127.0.0.1', resolve));
  await publishConsentApis(env, backend.url, ['accounts', 'payments']);
  tpp = await registerConsentTpp(env, env.aispPisp);
});
after(async () => {
  delete process.env[TOKEN_ENV];
  accounts?.closeAllConnections();
  await new Promise<void>((resolve) => (accounts ? accounts.close(() => resolve()) : resolve()));
  await env?.close();
  await backend?.close();
});

const psu = (u: (typeof USERS)[number]) => ({ username: u, password: `${u}-pw` });

describe("the bank's account system", () => {
  test('the consent page offers the bank’s accounts; the consent binds the one chosen; one read serves the page and its form', async () => {
    behaviour = 'ok';
    const id = await createConsent(env, tpp, 'accounts', '/account-access-consents', accountAccessBody());
    const before = asked.length;
    let offered: string[] = [];
    await authorizeConsent(env, tpp, id, 'accounts', {
      psu: psu('ann'),
      onConsent: (page) => {
        offered = page.offered.map((o) => o.accountId);
        const saver = page.offered.find((o) => o.accountId === 'ann-saver')!;
        return { post: page.confirm, form: new URLSearchParams({ [saver.field]: saver.accountId }) };
      },
    });
    assert.deepEqual(offered, ['ann-current', 'ann-saver']);
    const stored = await env.ts.storage.consents.get(id);
    assert.equal(stored?.status, 'AUTH');
    assert.deepEqual(stored?.accounts, ['ann-saver']);
    const calls = asked.slice(before);
    assert.equal(calls.length, 1, 'the page and its form read one list');
    assert.deepEqual(calls[0], { path: '/customers/ann/accounts', authorization: TOKEN, clientCert: true });
  });

  test('a payment consent: the debtor account offered fixed when the customer holds it, refused when not', async () => {
    behaviour = 'ok';
    const held = await createConsent(
      env,
      tpp,
      'payments',
      '/domestic-payment-consents',
      domesticPaymentBody({ SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '40-40-04 12345678' }),
    );
    let fixed = false;
    await authorizeConsent(env, tpp, held, 'payments', {
      psu: psu('bob'),
      onConsent: (page) => {
        fixed = page.offered.length === 1 && page.offered[0]!.kind === 'hidden';
        return { post: page.confirm, form: new URLSearchParams({ [page.offered[0]!.field]: page.offered[0]!.accountId }) };
      },
    });
    assert.ok(fixed, 'shown, not chosen');
    assert.deepEqual((await env.ts.storage.consents.get(held))?.accounts, ['bob-current']);

    const notHeld = await createConsent(
      env,
      tpp,
      'payments',
      '/domestic-payment-consents',
      domesticPaymentBody({ SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '11112222333344' }),
    );
    const out = await authorizeConsent(env, tpp, notHeld, 'payments', { psu: psu('bob') });
    assert.equal(out.answer.get('error'), 'access_denied');
    assert.equal((await env.ts.storage.consents.get(notHeld))?.status, 'RJCT');
  });

  for (const [i, b] of (['down', 'missing', 'slow', 'huge', 'shape'] as const).entries()) {
    test(`an account system that fails (${b}): a clear page, the consent still waits, asked again next time`, async () => {
      const user = USERS[2 + i]!;
      behaviour = b;
      const id = await createConsent(env, tpp, 'accounts', '/account-access-consents', accountAccessBody());
      const failed = await authorizeConsent(env, tpp, id, 'accounts', { psu: psu(user) }).then(
        () => assert.fail('the consent page should not show'),
        (err: unknown) => err,
      );
      assert.ok(failed instanceof ConsentPageError, String(failed));
      assert.equal(failed.status, 503);
      assert.match(failed.problem ?? '', /could not list your accounts/);
      assert.equal((await env.ts.storage.consents.get(id))?.status, 'AWAU', 'nothing shared or refused');

      behaviour = 'ok';
      const again = await createConsent(env, tpp, 'accounts', '/account-access-consents', accountAccessBody());
      await authorizeConsent(env, tpp, again, 'accounts', { psu: psu(user) });
      assert.equal((await env.ts.storage.consents.get(again))?.status, 'AUTH', 'a failure is not kept');
    });
  }
});
