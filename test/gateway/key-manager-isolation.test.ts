/**
 * An application is a key manager and a client id together
 * (docs/gateway.md#applications-and-subscriptions): a token validated by key manager K only ever
 * maps to K's applications, whatever client id it names. Two real external OpenID providers (one
 * self-validated, one introspected) beside the resident key manager, a recording backend behind the
 * gateway: every cross-key-manager combination (resident ↔ external, external ↔ external, one
 * client_id string at three key managers) is refused or counted apart, roles come only from the
 * certificate, the registration or the key manager's own roles mapping, the resident revocation
 * mark is the resident client's only, and a key manager that would be this server or another key
 * manager is refused when saved.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import { issueClientCertificate, issueServerCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { psd2Extension } from '../../src/crypto/psd2-roles.ts';
import { x5tS256 } from '../../src/crypto/thumbprint.ts';
import type { TppRole } from '../../src/ob/roles.ts';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort, readSandboxCa } from '../helpers/server.ts';
import { INTROSPECTOR, JWT_RESOURCE, OPAQUE_RESOURCE, startExternalOidc, type ExternalOidc } from '../helpers/external-oidc.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { adminCall, addPlan, assertTokenRefused, jsonOf, OB_FILES, publishApi, type ServerFetch } from './support.ts';

const RESIDENT = 'Resident Key Manager';
const ONE = 'IdP One';
const TWO = 'IdP Two';
/** A client id both external key managers issue tokens for. */
const SHARED = 'shared-tpp';
const KEY_MANAGERS = '/api/am/admin/v4/key-managers';
const SUBSCRIPTIONS = '/api/am/devportal/v3/subscriptions';

let env: DcrEnvironment;
let backend: TestBackend;
let ext1: ExternalOidc;
let ext2: ExternalOidc;
let residentId: string;
let accountsId: string;
let vrpId: string;

const adminJson = (path: string, method: string, body?: unknown) => adminCall((p, init) => env.ts.fetch(p, init as never), path, method, body);

type Cert = IssuedCertificate;
const call = (path: string, token: string, cert: Cert, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
  env.ts.fetch(path, {
    method: init.method ?? 'GET',
    cert: tlsOf(cert),
    ...(init.body === undefined ? {} : { body: init.body }),
    headers: {
      authorization: `Bearer ${token}`,
      'x-fapi-interaction-id': randomUUID(),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
  });
/** Client credentials, AISP. */
const accountConsent = (token: string, cert: Cert) => call('/open-banking/v3.1/aisp/account-access-consents', token, cert, { method: 'POST', body: '{}' });
/** A PSU's authorization, AISP. */
const accountList = (token: string, cert: Cert) => call('/open-banking/v3.1/aisp/accounts', token, cert);
/** Client credentials, PISP, idempotent. */
const vrpConsent = (token: string, cert: Cert) =>
  call('/open-banking/v3.1/pisp/domestic-vrp-consents', token, cert, { method: 'POST', body: '{}', headers: { 'x-idempotency-key': randomUUID() } });

/** The identity JWT the backend received on its last call. */
const lastIdentity = () => decodeJwt(String(backend.calls.at(-1)!.headers['x-opendcr-identity']));

async function refused(res: Response, status: number, code: string, what: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, `${what}: ${text}`);
  assert.equal((JSON.parse(text) as Record<string, unknown>)['Code'], code, what);
}

/** A transport certificate of the same software as `cert`, from the directory's issuing CA, carrying PSD2 `roles`. */
const qwac = (cert: Cert, roles: TppRole[]) =>
  issueClientCertificate(env.directory.issuingCa, {
    subject: cert.x509.subject.split('\n').join(', '),
    validityDays: 1,
    extensions: [psd2Extension(roles)],
  });

const keyManagerBody = (name: string, ext: ExternalOidc, extra: Record<string, unknown> = {}) => ({
  name,
  wellKnownEndpoint: `${ext.issuer}/.well-known/openid-configuration`,
  enableSelfValidationJWT: true,
  additionalProperties: { audience: JWT_RESOURCE, roles_claim: 'software_roles' },
  ...extra,
});
const introspected = (roles: boolean) => ({
  enableSelfValidationJWT: false,
  tokenValidation: [{ type: 'REFERENCE', value: '[A-Za-z0-9_-]{43}' }],
  additionalProperties: {
    introspection_client_id: INTROSPECTOR.client_id,
    introspection_client_secret: INTROSPECTOR.client_secret,
    ...(roles ? { roles_claim: 'software_roles' } : {}),
  },
});

before(async () => {
  const [port1, port2] = [await freePort(), await freePort()];
  backend = await startTestBackend();
  env = await startDcrEnvironment({ oauth: { allowed_outbound_hosts: [`localhost:${port1}`, `localhost:${port2}`] } });
  const fetchAdmin: ServerFetch = (path, init) => env.ts.fetch(path, init as never);
  // Per day: the fixed window cannot turn over while the test counts.
  await addPlan(fetchAdmin, 'IsoTwo', 2, 'day');
  await addPlan(fetchAdmin, 'IsoThree', 3, 'day');
  accountsId = String((await publishApi(fetchAdmin, OB_FILES.accounts, backend.url, { policies: ['Gold', 'IsoTwo', 'IsoThree'] }))['id']);
  // TPP A, resident: subscribed at registration to the accounts API (AISP), on Gold.
  residentId = String((await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201))['client_id']);
  // Published after A registered: A holds no resident subscription to it.
  vrpId = String((await publishApi(fetchAdmin, OB_FILES.vrp, backend.url))['id']);
  const ca = readSandboxCa(env.ts.server.config.derived.dataDir);
  const cert = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
  // Both external key managers have a client named like A, and one named SHARED; their tokens claim AISP and PISP.
  const extOpts = {
    serverTls: { certPem: cert.chainPem, keyPem: cert.keyPem },
    serverCaPem: ca.certPem,
    clientCaPems: [env.directory.rootCa.certPem],
    clientIds: [residentId, SHARED],
    roles: ['AISP', 'PISP'],
  };
  ext1 = await startExternalOidc({ port: port1, ...extOpts });
  ext2 = await startExternalOidc({ port: port2, ...extOpts });
  await jsonOf(await adminJson(KEY_MANAGERS, 'POST', keyManagerBody(ONE, ext1)), 201);
  await jsonOf(await adminJson(KEY_MANAGERS, 'POST', keyManagerBody(TWO, ext2, introspected(true))), 201);
});

after(async () => {
  await ext1?.close();
  await ext2?.close();
  await env?.close();
  await backend?.close();
});

test('resident ← external: a token from an external key manager naming a resident client gets no resident subscription, and nothing reaches the backend', async () => {
  const a = env.aispPisp.transport;
  const b = env.cbpii.transport;
  const cnf = (cert: Cert) => ({ 'x5t#S256': x5tS256(cert.x509) });
  const attacks: Array<[string, () => Promise<Response>]> = [];
  for (const [certName, cert] of [
    ["B's certificate", b],
    ["A's certificate", a],
  ] as const) {
    attacks.push(
      [`${ONE} (JWT), client credentials, ${certName}`, async () => accountConsent(await ext1.token(tlsOf(cert), 'accounts', JWT_RESOURCE, residentId), cert)],
      [
        `${TWO} (introspected), client credentials, ${certName}`,
        async () => accountConsent(await ext2.token(tlsOf(cert), 'accounts', OPAQUE_RESOURCE, residentId), cert),
      ],
      [
        `${ONE}, signed: A's client_id, roles AISP+PISP, a PSU, ${certName}`,
        async () =>
          accountList(
            await ext1.sign({
              client_id: residentId,
              sub: 'psu-victim',
              scope: 'accounts',
              software_roles: ['AISP', 'PISP'],
              aud: JWT_RESOURCE,
              cnf: cnf(cert),
            }),
            cert,
          ),
      ],
      [
        `${ONE}, signed: A's client_id as its subject, ${certName}`,
        async () =>
          accountConsent(
            await ext1.sign({
              client_id: residentId,
              sub: residentId,
              scope: 'accounts',
              software_roles: ['AISP'],
              aud: JWT_RESOURCE,
              cnf: cnf(cert),
            }),
            cert,
          ),
      ],
    );
  }
  const before = backend.calls.length;
  for (const [what, attack] of attacks) await refused(await attack(), 403, 'GATEWAY_NOT_SUBSCRIBED', what);
  assert.equal(backend.calls.length, before, 'no refused call reached the backend');
  // The resident client itself is subscribed and served, as the resident key manager's.
  const own = await env.ccToken(env.aispPisp, residentId, 'private_key_jwt', { scope: 'accounts' });
  assert.equal((await accountConsent(own, a)).status, 200);
  assert.deepEqual([lastIdentity()['key_manager'], lastIdentity()['client_id']], [RESIDENT, residentId]);
});

test("resident → external: a resident token never uses an external key manager's subscription of the same client id; a manual subscription names its key manager", async () => {
  const a = env.aispPisp.transport;
  const b = env.cbpii.transport;
  const unknown = await jsonOf(await adminJson(SUBSCRIPTIONS, 'POST', { applicationId: residentId, keyManager: 'No Such IdP', apiId: vrpId }), 400);
  assert.deepEqual([unknown['code'], unknown['message']], ['SUBSCRIPTION_INVALID', 'no key manager named "No Such IdP"; see keymanager list']);
  const sub = await jsonOf(await adminJson(SUBSCRIPTIONS, 'POST', { applicationId: residentId, keyManager: ONE, apiId: vrpId }), 201);
  assert.deepEqual([sub['applicationId'], sub['keyManager'], sub['throttlingPolicy']], [residentId, ONE, 'Unlimited']);

  // ONE's client with A's client id is ONE's application: served, and said so to the backend.
  const external = await ext1.token(tlsOf(b), 'payments', JWT_RESOURCE, residentId);
  assert.equal((await vrpConsent(external, b)).status, 200);
  const identity = lastIdentity();
  assert.deepEqual(
    [identity['key_manager'], identity['client_id'], identity['roles'], identity['software_id']],
    [ONE, residentId, ['AISP', 'PISP'], undefined],
  );
  // A itself (resident, PISP by its registration) has no subscription to this API.
  const before = backend.calls.length;
  const own = await env.ccToken(env.aispPisp, residentId, 'private_key_jwt', { scope: 'payments' });
  await refused(await vrpConsent(own, a), 403, 'GATEWAY_NOT_SUBSCRIBED', "A's resident token on ONE's subscription");
  assert.equal(backend.calls.length, before);

  // Without a key manager, a manual subscription is the resident one's (a DCR client's).
  const resident = await jsonOf(await adminJson(SUBSCRIPTIONS, 'POST', { applicationId: 'some-dcr-client', apiId: vrpId }), 201);
  assert.equal(resident['keyManager'], RESIDENT);
  assert.equal((await adminJson(`${SUBSCRIPTIONS}/${String(resident['subscriptionId'])}`, 'DELETE')).status, 200);
  const listed = await jsonOf(await adminJson(`${SUBSCRIPTIONS}?applicationId=${residentId}`, 'GET'), 200);
  assert.deepEqual((listed['list'] as Array<Record<string, unknown>>).map((s) => [s['keyManager'], s['apiId']]).sort(), [
    [ONE, vrpId],
    [RESIDENT, accountsId],
  ]);
  const onlyOne = await jsonOf(await adminJson(`${SUBSCRIPTIONS}?applicationId=${residentId}&keyManager=${encodeURIComponent(ONE)}`, 'GET'), 200);
  assert.deepEqual(
    (onlyOne['list'] as Array<Record<string, unknown>>).map((s) => s['apiId']),
    [vrpId],
  );
});

test('external ↔ external: one client_id string at two external key managers and the resident one is three applications, each on its own plan and counter', async () => {
  const b = env.cbpii.transport;
  await jsonOf(await adminJson(SUBSCRIPTIONS, 'POST', { applicationId: SHARED, keyManager: ONE, apiId: accountsId, throttlingPolicy: 'IsoTwo' }), 201);
  const viaOne = await ext1.token(tlsOf(b), 'accounts', JWT_RESOURCE, SHARED);
  const viaTwo = await ext2.token(tlsOf(b), 'accounts', OPAQUE_RESOURCE, SHARED);
  const before = backend.calls.length;
  await refused(await accountConsent(viaTwo, b), 403, 'GATEWAY_NOT_SUBSCRIBED', `${TWO}'s ${SHARED}, subscribed at ${ONE} only`);
  assert.equal(backend.calls.length, before);

  await jsonOf(await adminJson(SUBSCRIPTIONS, 'POST', { applicationId: SHARED, keyManager: TWO, apiId: accountsId, throttlingPolicy: 'IsoThree' }), 201);
  const again = await jsonOf(await adminJson(SUBSCRIPTIONS, 'POST', { applicationId: SHARED, keyManager: TWO, apiId: accountsId }), 409);
  assert.equal(again['code'], 'SUBSCRIPTION_EXISTS');
  // A's client id at ONE too, on a plan of its own; A at the resident key manager stays on Gold.
  await jsonOf(await adminJson(SUBSCRIPTIONS, 'POST', { applicationId: residentId, keyManager: ONE, apiId: accountsId, throttlingPolicy: 'IsoTwo' }), 201);
  const oneAsA = await ext1.token(tlsOf(b), 'accounts', JWT_RESOURCE, residentId);
  const residentA = await env.ccToken(env.aispPisp, residentId, 'private_key_jwt', { scope: 'accounts' });

  const served = async (token: string, cert: Cert, keyManager: string, clientId: string) => {
    const res = await accountConsent(token, cert);
    assert.equal(res.status, 200, `${keyManager} ${clientId}: ${await res.clone().text()}`);
    assert.deepEqual([lastIdentity()['key_manager'], lastIdentity()['client_id']], [keyManager, clientId]);
  };
  await served(viaOne, b, ONE, SHARED);
  await served(viaTwo, b, TWO, SHARED);
  await served(oneAsA, b, ONE, residentId);
  await served(viaOne, b, ONE, SHARED);
  await served(viaTwo, b, TWO, SHARED);
  await served(oneAsA, b, ONE, residentId);
  await refused(await accountConsent(viaOne, b), 429, 'GATEWAY_THROTTLED', `${ONE}'s ${SHARED} past IsoTwo`);
  await refused(await accountConsent(oneAsA, b), 429, 'GATEWAY_THROTTLED', `${ONE}'s ${residentId} past IsoTwo`);
  await served(viaTwo, b, TWO, SHARED);
  await refused(await accountConsent(viaTwo, b), 429, 'GATEWAY_THROTTLED', `${TWO}'s ${SHARED} past IsoThree`);
  for (let i = 0; i < 3; i += 1) await served(residentA, env.aispPisp.transport, RESIDENT, residentId);
});

test("roles: a roles claim counts only through the key manager's own roles mapping, and a certificate's PSD2 roles win", async () => {
  const b = env.cbpii.transport;
  const cnf = (cert: Cert) => ({ 'x5t#S256': x5tS256(cert.x509) });
  // ONE maps software_roles: a token naming its roles in another claim has none.
  for (const claim of ['roles', 'role', 'Software_Roles', 'software_roles ', 'tpp_roles']) {
    const token = await ext1.sign({ client_id: SHARED, scope: 'accounts', [claim]: ['AISP', 'PISP'], aud: JWT_RESOURCE, cnf: cnf(b) });
    await refused(await accountConsent(token, b), 403, 'GATEWAY_ROLE_MISSING', `${ONE}, roles in "${claim}"`);
  }
  // TWO without a roles mapping: its tokens' software_roles claim gives no roles.
  await jsonOf(await adminJson(`${KEY_MANAGERS}/${encodeURIComponent(TWO)}`, 'PUT', keyManagerBody(TWO, ext2, introspected(false))), 200);
  await refused(
    await accountConsent(await ext2.token(tlsOf(b), 'accounts', OPAQUE_RESOURCE, SHARED), b),
    403,
    'GATEWAY_ROLE_MISSING',
    `${TWO} with no roles mapping`,
  );

  // A certificate with PSD2 roles decides, whatever the mapped claim says.
  const pispOnly = await qwac(b, ['PISP']);
  const aispOnly = await qwac(b, ['AISP']);
  await refused(
    await accountConsent(
      await ext1.sign({ client_id: SHARED, scope: 'accounts', software_roles: ['AISP', 'PISP'], aud: JWT_RESOURCE, cnf: cnf(pispOnly) }),
      pispOnly,
    ),
    403,
    'GATEWAY_ROLE_MISSING',
    'claim AISP, certificate PISP only',
  );
  await refused(
    await vrpConsent(
      await ext1.sign({ client_id: residentId, scope: 'payments', software_roles: ['AISP', 'PISP'], aud: JWT_RESOURCE, cnf: cnf(aispOnly) }),
      aispOnly,
    ),
    403,
    'GATEWAY_ROLE_MISSING',
    'claim PISP, certificate AISP only',
  );
  const served = await vrpConsent(
    await ext1.sign({ client_id: residentId, scope: 'payments', software_roles: ['CBPII'], aud: JWT_RESOURCE, cnf: cnf(pispOnly) }),
    pispOnly,
  );
  assert.equal(served.status, 200, await served.text());
  assert.deepEqual(lastIdentity()['roles'], ['PISP']);
});

test('a key manager that would be this server or another key manager, or that names an endpoint the gateway may not reach, is refused when saved', async () => {
  const self = env.ts.server.config.derived;
  const here = new URL(self.baseUrl);
  const upper = (url: string) => url.replace(here.host, here.host.toUpperCase());
  const ext1Jwks = `${ext1.issuer}/jwks`;
  const notHere = 'an external key manager is another server, with its own issuer and keys';
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>, string]> = [];
  for (const issuer of [self.issuer, `${self.issuer}/`, upper(self.issuer), `${self.issuer}/gateway`, `${self.baseUrl}/oauth2`]) {
    cases.push([`issuer ${issuer}`, { issuer }, {}, `the discovery document's issuer ${issuer} is this server's (the resident key manager's): ${notHere}`]);
  }
  for (const jwks of [
    `${self.baseUrl}/oauth2/jwks`,
    `${self.baseUrl}/oauth2/jwks/`,
    upper(`${self.baseUrl}/oauth2/jwks`),
    `${self.baseUrl}/gateway/jwks.json`,
  ]) {
    cases.push([
      `jwks_uri ${jwks}`,
      { jwks_uri: jwks },
      {},
      `the discovery document's jwks_uri ${jwks} is on this server (the resident key manager): ${notHere}`,
    ]);
  }
  // Another name for this server (its IP address): the key set it serves is this server's own.
  for (const path of ['/oauth2/jwks', '/gateway/jwks.json']) {
    cases.push([
      `jwks_uri at 127.0.0.1${path}`,
      { jwks_uri: `https://127.0.0.1:${here.port}${path}` },
      {},
      "the key set (jwks_uri) holds this server's own signing keys: an external key manager signs with keys of its own",
    ]);
  }
  cases.push([
    `introspection_endpoint on this server`,
    { introspection_endpoint: `${self.baseUrl}/oauth2/introspect` },
    introspected(true),
    `the discovery document's introspection_endpoint ${self.baseUrl}/oauth2/introspect is on this server (the resident key manager): ${notHere}`,
  ]);
  for (const issuer of [ext1.issuer, `${ext1.issuer}/`, ext1.issuer.replace('localhost', 'LOCALHOST')]) {
    cases.push([`${ONE}'s issuer ${issuer}`, { issuer }, {}, `the discovery document's issuer ${issuer} is key manager "${ONE}"'s: ${notHere}`]);
  }
  for (const jwks of [ext1Jwks, `${ext1Jwks}/`, ext1Jwks.replace('localhost', 'LocalHost'), ext1Jwks.replace('/jwks', '/%6Awks')]) {
    cases.push([`${ONE}'s jwks_uri ${jwks}`, { jwks_uri: jwks }, {}, `the discovery document's jwks_uri ${ext1Jwks} is key manager "${ONE}"'s: ${notHere}`]);
  }
  for (const [what, rule] of [
    ['a JWT rule', { type: 'JWT', value: self.issuer }],
    ['a CUSTOM iss rule', { type: 'CUSTOM', value: `iss=${self.issuer}` }],
    [`a JWT rule naming ${ONE}`, { type: 'JWT', value: ext1.issuer }],
    [`a CUSTOM rule naming ${ONE}`, { type: 'CUSTOM', value: `iss=${ext1.issuer}/` }],
  ] as const) {
    const named = rule.type === 'JWT' ? rule.value : rule.value.slice(4);
    // Introspected, with no key set of its own: TWO's would make it TWO (refused as such, first).
    cases.push([
      `${what} taking another key manager's tokens`,
      { jwks_uri: undefined },
      { ...introspected(true), tokenValidation: [rule] },
      `a token handling rule names the issuer ${named}, another key manager's: a key manager owns only its own tokens`,
    ]);
  }
  // Endpoints the outbound allow-list refuses: the gateway could not reach them at use.
  for (const key of ['jwks_uri', 'introspection_endpoint', 'token_endpoint', 'revocation_endpoint']) {
    for (const validation of [{}, introspected(true)]) {
      cases.push([
        `${key} not allowed (${Object.keys(validation).length ? 'introspection' : 'jwt'})`,
        { [key]: 'https://idp.example.invalid/endpoint' },
        validation,
        `the discovery document's ${key} is at idp.example.invalid, which [oauth] allowed_outbound_hosts does not allow: the gateway could not reach it`,
      ]);
    }
  }
  let n = 0;
  for (const [what, changes, body, message] of cases) {
    n += 1;
    // A new key manager: TWO's server under an issuer of its own (TWO's would be refused as TWO's).
    const added = await ext2.discoveryVariant(`add-${n}`, { issuer: `${ext2.issuer}/other`, ...changes });
    const res = await jsonOf(await adminJson(KEY_MANAGERS, 'POST', keyManagerBody('Refused', ext2, { ...body, wellKnownEndpoint: added })), 400);
    assert.deepEqual([res['code'], res['message']], ['KEY_MANAGER_INVALID', message], what);
    // Replacing an existing key manager is checked the same way.
    const wellKnownEndpoint = await ext2.discoveryVariant(`replace-${n}`, changes);
    const replaced = await jsonOf(
      await adminJson(`${KEY_MANAGERS}/${encodeURIComponent(TWO)}`, 'PUT', keyManagerBody(TWO, ext2, { ...body, wellKnownEndpoint })),
      400,
    );
    assert.deepEqual([replaced['code'], replaced['message']], ['KEY_MANAGER_INVALID', message], `${what} (replacing ${TWO})`);
  }
  const listed = await jsonOf(await adminJson(KEY_MANAGERS, 'GET'), 200);
  assert.deepEqual(
    (listed['list'] as Array<Record<string, unknown>>).map((k) => [k['name'], k['issuer']]),
    [
      [ONE, ext1.issuer],
      [TWO, ext2.issuer],
      [RESIDENT, self.issuer],
    ],
    'nothing was saved or changed',
  );
  // The unchanged discovery document of TWO is still accepted (a key manager is not another because it is itself).
  await jsonOf(await adminJson(`${KEY_MANAGERS}/${encodeURIComponent(TWO)}`, 'PUT', keyManagerBody(TWO, ext2, introspected(false))), 200);
});

test("the resident revocation mark is the resident client's: deleting A stops A's tokens, not an external key manager's client of the same id", async () => {
  const a = env.aispPisp.transport;
  const b = env.cbpii.transport;
  const own = await env.ccToken(env.aispPisp, residentId, 'private_key_jwt', { scope: 'accounts' });
  const external = await ext1.token(tlsOf(b), 'payments', JWT_RESOURCE, residentId);
  // Both verified once (and cached), then A's registration is deleted.
  assert.equal((await accountList(own, a)).status, 403, 'a client credentials token on a PSU operation (verified, then refused)');
  assert.equal((await vrpConsent(external, b)).status, 200);
  assert.equal((await env.manage('DELETE', residentId, { token: own, cert: a })).status, 204);
  await assertTokenRefused(await accountConsent(own, a), 'the client this token was issued to no longer exists', "the deleted resident client's token");
  const still = await vrpConsent(external, b);
  assert.equal(still.status, 200, await still.clone().text());
  assert.equal(lastIdentity()['key_manager'], ONE);
  assert.equal((await vrpConsent(await ext1.token(tlsOf(b), 'payments', JWT_RESOURCE, residentId), b)).status, 200, 'a new token too');
  // The registration's (resident) subscriptions went with it; ONE's application keeps its own.
  const left = await jsonOf(await adminJson(`${SUBSCRIPTIONS}?applicationId=${residentId}`, 'GET'), 200);
  assert.deepEqual(
    (left['list'] as Array<Record<string, unknown>>).map((s) => s['keyManager']),
    [ONE, ONE],
  );
});
