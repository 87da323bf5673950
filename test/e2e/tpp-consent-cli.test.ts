/**
 * The Open Banking consent journey with the command line only (src/cli/commands/tpp-consent.ts):
 * a server started as a child process (sandbox mode), the Account and Transaction and Payment
 * Initiation APIs published from their official files with `opendcr api …`, their consents served
 * here, and `opendcr tpp …` run as child processes sharing its data_dir. Over real HTTPS and mTLS:
 * consent create → get → authorize as the sandbox PSU (two accounts ticked) → get Authorised →
 * delete → get refused; a payment consent signed with a real x-jws-signature and authorised to a
 * token without a refresh token; --print-url finished by `tpp token --code`; and the refusals.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { walkConsentPages } from '../../src/cli/psu-flow.ts';
import { startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';
import { startTestBackend, type TestBackend } from '../gateway/backend.ts';
import { json, runCli, STACK_LINE, tempConfig, type CliRun } from '../cli/run-cli.ts';

const SPECS = new URL('../../specs/ob-read-write-openapi/v3.1.11/', import.meta.url);
const ACCOUNTS_API = new URL('account-info-openapi.yaml', SPECS).pathname;
const PAYMENTS_API = new URL('payment-initiation-openapi.yaml', SPECS).pathname;

// The first [[sandbox.users]] entry is the PSU `tpp authorize` signs in as by default.
const USERS = `
[[sandbox.users]]
username = "alice"
password = "alice-secret"
name = "Alice Example"
accounts = [
  { account_id = "alice-current", nickname = "Current account", identification = "40400411111111" },
  { account_id = "alice-savings", nickname = "Savings", identification = "40400422222222" },
  { account_id = "alice-joint", nickname = "Joint account", identification = "40400433333333" },
]
`;

let port: number;
let cfg: ReturnType<typeof tempConfig>;
let server: ChildServer;
let backend: TestBackend;
let tpp: string;
const cli = (...args: string[]) => runCli(cfg.file, ...args);
const folder = () => join(cfg.dataDir, 'sandbox', 'tpps', tpp);

/** A run that must fail with `code`, its stderr matching `pattern`, never a stack trace. */
function failed(r: CliRun, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}${r.stdout}`);
  assert.doesNotMatch(r.stderr + r.stdout, STACK_LINE);
  assert.match(r.stderr, pattern);
}

/** Imports an OB file with its consents served here; its API id. */
async function importApi(file: string, ...options: string[]): Promise<string> {
  return String(json(await cli('api', 'import', file, '--backend', backend.url, '--serve-consents', ...options, '--json'))['id']);
}

/** Publishes an API, subscribing the registered TPP. */
async function publish(id: string): Promise<void> {
  const published = await cli('api', 'publish', id, '--subscribe-existing');
  assert.equal(published.code, 0, published.stderr);
  assert.match(published.stdout, /is now PUBLISHED; subscribed 1 registration\(s\)/);
}

/** The sandbox directory, a TPP with the AISP and PISP roles, registered; its software_id. */
async function registeredTpp(): Promise<string> {
  assert.equal((await cli('sandbox', 'init')).code, 0);
  const created = await cli(
    'sandbox',
    'tpp',
    'create',
    '--name',
    'Consent TPP',
    '--roles',
    'AISP,PISP',
    '--redirect-uri',
    'https://tpp.example.com/cb',
    '--json',
  );
  const id = String(json(created)['software_id']);
  const registered = await cli('tpp', 'register', '--tpp', id);
  assert.equal(registered.code, 0, registered.stderr + server.output());
  return id;
}

before(async () => {
  port = await freePort();
  cfg = tempConfig('opendcr-e2e-tpp-consent-cli-', port, USERS);
  [backend, server] = await Promise.all([
    startTestBackend(),
    startChildServer({ cwd: cfg.dir, port, args: ['--config', cfg.file], env: { OPENDCR_LOG_LEVEL: 'warn' } }),
  ]);
  // The payments API checks x-jws-signature: the CLI's detached JWS must verify.
  const [id, accounts, payments] = await Promise.all([registeredTpp(), importApi(ACCOUNTS_API), importApi(PAYMENTS_API, '--verify-jws')]);
  tpp = id;
  await Promise.all([publish(accounts), publish(payments)]);
});

after(async () => {
  await Promise.all([server?.stop(), backend?.close()]);
  rmSync(cfg.dir, { recursive: true, force: true });
});

/** GET {context}/accounts with the PSU's saved token over the TPP's mTLS: the status and what the backend was told of the consent. */
async function readAccounts(): Promise<{ status: number; consent: Record<string, unknown> | undefined }> {
  const agent = new Agent({
    connect: {
      cert: readFileSync(join(folder(), 'transport-chain.pem'), 'utf8'),
      key: readFileSync(join(folder(), 'transport-key.pem'), 'utf8'),
      ca: readFileSync(join(cfg.dataDir, 'pki', 'ca.pem'), 'utf8'),
    },
  });
  const before = backend.calls.length;
  try {
    const token = readFileSync(join(folder(), 'psu-access-token.txt'), 'utf8').trim();
    const res = await request(`https://localhost:${port}/open-banking/v3.1/aisp/accounts`, {
      headers: { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': randomUUID() },
      dispatcher: agent,
    });
    await res.body.text();
    const call = backend.calls.slice(before).find((c) => c.url.endsWith('/accounts'));
    const identity = call?.headers['x-opendcr-identity'];
    return { status: res.statusCode, consent: typeof identity === 'string' ? (decodeJwt(identity)['consent'] as Record<string, unknown>) : undefined };
  } finally {
    await agent.close();
  }
}

describe('an account access consent, from creation to deletion', () => {
  let consentId: string;

  test('consent create: 201, AwaitingAuthorisation, the token and the exchange shown', async () => {
    const r = await cli('tpp', 'consent', 'create', '--tpp', tpp, '--type', 'account-access');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Obtained a client_credentials access token \(private_key_jwt, scope "accounts"\)\n/);
    assert.ok(r.stdout.includes(`POST https://localhost:${port}/open-banking/v3.1/aisp/account-access-consents → 201 Created\n`), r.stdout);
    const id = /"ConsentId": "([^"]+)"/.exec(r.stdout)?.[1];
    assert.ok(id, r.stdout);
    consentId = id;
    assert.match(r.stdout, /"Permissions": \[\n\s+"ReadAccountsDetail",\n\s+"ReadBalances",\n\s+"ReadTransactionsDetail",/);
    assert.ok(r.stdout.includes(`Consent ${consentId} is AwaitingAuthorisation.\n`), r.stdout);
    assert.ok(r.stdout.includes(`opendcr tpp authorize --tpp ${tpp} --type account-access --consent ${consentId}\n`));
  });

  test('consent get: 200, still awaiting authorisation', async () => {
    const body = json<{ Data: Record<string, unknown> }>(
      await cli('tpp', 'consent', 'get', '--tpp', tpp, '--type', 'account-access', '--consent', consentId, '--json'),
    );
    assert.deepEqual([body.Data['ConsentId'], body.Data['Status']], [consentId, 'AwaitingAuthorisation']);
  });

  test('authorize: the sandbox PSU ticks two accounts; a token naming the consent, a refresh token, the token saved', async () => {
    const r = await cli('tpp', 'authorize', '--tpp', tpp, '--type', 'account-access', '--consent', consentId, '--accounts', 'alice-current,alice-joint');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Authorization request: https:\/\/localhost:\d+\/oauth2\/authorize\?client_id=/);
    assert.match(r.stdout, /\nPSU "alice" signed in and allowed, with account\(s\) alice-current, alice-joint\n/);
    assert.match(r.stdout, /POST https:\/\/localhost:\d+\/oauth2\/token → 200 OK\n/);
    assert.match(r.stdout, /\nAccess token claims:\n[\s\S]*"openbanking_intent_id": "/);
    assert.ok(r.stdout.includes(`The tokens name consent ${consentId} (openbanking_intent_id).\n`), r.stdout);
    assert.match(r.stdout, /\nRefresh token: \S+ \(until \d{4}-/);
    const token = readFileSync(join(folder(), 'psu-access-token.txt'), 'utf8').trim();
    assert.ok(r.stdout.includes(`"access_token": "${token}"`));
    const claims = decodeJwt(token);
    assert.deepEqual([claims['openbanking_intent_id'], claims['scope']], [consentId, 'accounts']);
    // The gateway holds the token to exactly the two accounts ticked.
    const read = await readAccounts();
    assert.equal(read.status, 200);
    assert.deepEqual(read.consent?.['accounts'], ['alice-current', 'alice-joint']);
  });

  test('consent get: Authorised', async () => {
    const r = await cli('tpp', 'consent', 'get', '--tpp', tpp, '--type', 'account-access', '--consent', consentId);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(`GET https://localhost:${port}/open-banking/v3.1/aisp/account-access-consents/${consentId} → 200 OK\n`), r.stdout);
    assert.ok(r.stdout.endsWith(`Consent ${consentId} is Authorised.\n`), r.stdout);
  });

  test('consent delete: 204, and the PSU token stops', async () => {
    const r = await cli('tpp', 'consent', 'delete', '--tpp', tpp, '--type', 'account-access', '--consent', consentId);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, / → 204 No Content\nDeleted consent /);
    assert.equal((await readAccounts()).status, 401);
  });

  test("consent get after delete: exit 1 with the server's 400", async () => {
    const r = await cli('tpp', 'consent', 'get', '--tpp', tpp, '--type', 'account-access', '--consent', consentId);
    failed(r, 1, /^opendcr: the server rejected the consent read \(HTTP 400\): \S+: .+\nopendcr: {3}UK\.OBIE\.Resource\.NotFound: /);
    assert.match(r.stdout, / → 400 Bad Request\n[\s\S]*"ErrorCode": "UK\.OBIE\.Resource\.NotFound"/);
  });
});

describe('refusals', () => {
  test('an unknown --type, and delete of a kind the TPP cannot delete: usage errors listing the kinds', async () => {
    const [unknown, payment] = await Promise.all([
      cli('tpp', 'consent', 'create', '--tpp', tpp, '--type', 'savings-account'),
      cli('tpp', 'consent', 'delete', '--tpp', tpp, '--type', 'domestic-payment', '--consent', 'x'),
    ]);
    failed(unknown, 2, /argument 'savings-account' is invalid\. Allowed choices are account-access, domestic-payment, .*domestic-vrp/);
    failed(payment, 2, /argument 'domestic-payment' is invalid\. Allowed choices are account-access, funds-confirmation, domestic-vrp\./);
  });

  test("an unknown permission: the server's 400 shown, exit 1, the value never echoed", async () => {
    const r = await cli('tpp', 'consent', 'create', '--tpp', tpp, '--type', 'account-access', '--permissions', 'ReadAccountsDetail,ReadMindsXyz');
    failed(r, 1, /^opendcr: the server rejected the consent request \(HTTP 400\): \S+: .+\nopendcr: {3}UK\.OBIE\.\S+ at Data\.Permissions\[1\]: /);
    assert.match(r.stdout, / → 400 Bad Request\n/);
    assert.ok(!(r.stdout + r.stderr).includes('ReadMindsXyz'), r.stdout + r.stderr);
  });

  test('authorize with a consent id of nobody: exit 1 with invalid_request', async () => {
    const r = await cli('tpp', 'authorize', '--tpp', tpp, '--type', 'account-access', '--consent', randomUUID());
    failed(r, 1, /^opendcr: the authorization was refused: invalid_request: /);
  });
});

describe('a domestic payment consent', () => {
  let consentId: string;

  test('consent create --body: 201 through a gateway that verifies x-jws-signature', async () => {
    const body = join(cfg.dir, 'payment.json');
    const payment = {
      Data: {
        Initiation: {
          InstructionIdentification: 'CLI-1',
          EndToEndIdentification: 'CLI-E2E-1',
          InstructedAmount: { Amount: '12.50', Currency: 'GBP' },
          CreditorAccount: { SchemeName: 'UK.OBIE.SortCodeAccountNumber', Identification: '08080021325698', Name: 'ACME Inc' },
          RemittanceInformation: { Reference: 'CLI-INVOICE-1' },
        },
      },
      Risk: { PaymentContextCode: 'EcommerceGoods' },
    };
    writeFileSync(body, JSON.stringify(payment, null, 2));
    const out = json<{ Data: Record<string, unknown> }>(
      await cli('tpp', 'consent', 'create', '--tpp', tpp, '--type', 'domestic-payment', '--body', body, '--json'),
    );
    assert.equal(out.Data['Status'], 'AwaitingAuthorisation');
    assert.deepEqual(out.Data['Initiation'], payment.Data.Initiation);
    consentId = String(out.Data['ConsentId']);
  });

  test('authorize: a token for the payment and no refresh token', async () => {
    const answer = json(await cli('tpp', 'authorize', '--tpp', tpp, '--type', 'domestic-payment', '--consent', consentId, '--json'));
    assert.equal(answer['refresh_token'], undefined);
    const claims = decodeJwt(String(answer['access_token']));
    assert.deepEqual([claims['openbanking_intent_id'], claims['scope']], [consentId, 'payments']);
    assert.equal(readFileSync(join(folder(), 'psu-access-token.txt'), 'utf8').trim(), answer['access_token']);
  });
});

test('authorize --print-url, the PSU in a browser, then tpp token --code with the callback URL', async () => {
  const expires = new Date(Date.now() + 7 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  const created = json<{ Data: Record<string, unknown> }>(
    await cli('tpp', 'consent', 'create', '--tpp', tpp, '--type', 'account-access', '--permissions', 'ReadAccountsBasic', '--expires', expires, '--json'),
  );
  assert.deepEqual([created.Data['Permissions'], created.Data['ExpirationDateTime']], [['ReadAccountsBasic'], expires]);
  const consentId = String(created.Data['ConsentId']);
  const printed = await cli('tpp', 'authorize', '--tpp', tpp, '--type', 'account-access', '--consent', consentId, '--print-url');
  assert.equal(printed.code, 0, printed.stderr);
  const url = /\n(https:\/\/localhost:\d+\/oauth2\/authorize\?\S+)\n/.exec(printed.stdout)?.[1];
  assert.ok(url, printed.stdout);
  assert.match(printed.stdout, /\n {2}opendcr tpp token --tpp \S+ --code '<the callback URL, or its code>'\n$/);
  const saved = JSON.parse(readFileSync(join(folder(), 'authorization.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([saved['consent_id'], saved['authorization_url'], typeof saved['code_verifier']], [consentId, url, 'string']);
  // The PSU's browser: no client certificate, the sandbox CA.
  const agent = new Agent({ connect: { ca: readFileSync(join(cfg.dataDir, 'pki', 'ca.pem'), 'utf8') } });
  let callback: URL;
  try {
    callback = await walkConsentPages(
      (u, init) => undiciFetch(u, { ...init, redirect: 'manual', dispatcher: agent }) as unknown as Promise<Response>,
      new URL(url),
      `https://localhost:${port}`,
      { username: 'alice', password: 'alice-secret' },
    );
  } finally {
    await agent.close();
  }
  assert.equal(callback.origin + callback.pathname, 'https://tpp.example.com/cb');
  const finished = json(await cli('tpp', 'token', '--tpp', tpp, '--code', callback.href, '--json'));
  assert.equal(decodeJwt(String(finished['access_token']))['openbanking_intent_id'], consentId);
  assert.equal(typeof finished['refresh_token'], 'string');
  assert.ok(!existsSync(join(folder(), 'authorization.json')), 'the used authorization is removed');
});
