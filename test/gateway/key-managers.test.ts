/**
 * External key managers (docs/gateway.md#key-managers, #tokens): a real OIDC server (oidc-provider,
 * started by the test) added by its discovery URL, validated on save; its certificate-bound tokens
 * accepted by self-validation (JWT, keys by kid from its JWKS) and by introspection (opaque, cached
 * by the hash of the whole token); which key manager owns a token decided by the token handling
 * options; a disabled key manager owns no tokens (the resident one included). Each refusal's Bearer
 * challenge says which check failed.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { issueServerCertificate } from '../../src/crypto/pki.ts';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { freePort, readSandboxCa } from '../helpers/server.ts';
import { INTROSPECTOR, JWT_RESOURCE, OPAQUE_RESOURCE, EXTERNAL_TPP, startExternalOidc, type ExternalOidc } from '../helpers/external-oidc.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { adminCall, assertTokenRefused, jsonOf, OB_FILES, publishApi, type ServerFetch } from './support.ts';

const KEY_MANAGERS = '/api/am/admin/v4/key-managers';
let env: DcrEnvironment;
let backend: TestBackend;
let ext: ExternalOidc;
let fetchAdmin: ServerFetch;
let fundsApiId: string;

const adminJson = (path: string, method: string, body?: unknown) => adminCall((p, init) => env.ts.fetch(p, init as never), path, method, body);

const fundsCall = (token: string, tls = tlsOf(env.cbpii.transport)) =>
  env.ts.fetch('/open-banking/v3.1/cbpii/funds-confirmation-consents', {
    method: 'POST',
    body: '{}',
    cert: tls,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
  });

before(async () => {
  const port = await freePort();
  backend = await startTestBackend();
  env = await startDcrEnvironment({ oauth: { allowed_outbound_hosts: [`localhost:${port}`] } });
  fetchAdmin = (path, init) => env.ts.fetch(path, init as never);
  // Its TLS certificate comes from the bank's sandbox CA, which the server's outbound fetch trusts.
  const ca = readSandboxCa(env.ts.server.config.derived.dataDir);
  const cert = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
  ext = await startExternalOidc({
    port,
    serverTls: { certPem: cert.chainPem, keyPem: cert.keyPem },
    serverCaPem: ca.certPem,
    clientCaPems: [env.directory.rootCa.certPem],
  });
  fundsApiId = String((await publishApi(fetchAdmin, OB_FILES.funds, backend.url))['id']);
});

after(async () => {
  await ext?.close();
  await env?.close();
  await backend?.close();
});

test('a key manager is validated when it is saved, and nothing is saved when it fails', async () => {
  const wellKnown = `${ext.issuer}/.well-known/openid-configuration`;
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'host not allowed',
      { name: 'Nope', wellKnownEndpoint: 'https://idp.example.invalid/.well-known/openid-configuration' },
      /could not be fetched: outbound request to idp\.example\.invalid is not allowed/,
    ],
    ['not a discovery document', { name: 'Nope', wellKnownEndpoint: `${ext.issuer}/jwks` }, /has no issuer/],
    [
      'another issuer',
      { name: 'Nope', wellKnownEndpoint: wellKnown, issuer: 'https://other.example' },
      /names issuer https:\/\/localhost:\d+, not the one given/,
    ],
    [
      'introspection without credentials',
      { name: 'Nope', wellKnownEndpoint: wellKnown, enableSelfValidationJWT: false },
      /needs the gateway's client credentials/,
    ],
    [
      'a bad reference pattern',
      { name: 'Nope', wellKnownEndpoint: wellKnown, tokenValidation: [{ type: 'REFERENCE', value: '(' }] },
      /not a valid regular expression/,
    ],
  ];
  for (const [what, body, message] of cases) {
    const res = await jsonOf(await adminJson(KEY_MANAGERS, 'POST', body), 400);
    assert.equal(res['code'], 'KEY_MANAGER_INVALID', what);
    assert.match(String(res['message']), message, what);
  }
  const listed = await jsonOf(await adminJson(KEY_MANAGERS, 'GET'), 200);
  assert.deepEqual(
    (listed['list'] as Array<Record<string, unknown>>).map((k) => [k['name'], k['type'], k['enabled']]),
    [['Resident Key Manager', 'default', true]],
  );
});

test('self-validated JWTs of an external key manager: accepted when bound to the certificate, refused when it is disabled', async () => {
  const saved = await jsonOf(
    await adminJson(KEY_MANAGERS, 'POST', {
      name: 'External IdP',
      wellKnownEndpoint: `${ext.issuer}/.well-known/openid-configuration`,
      enableSelfValidationJWT: true,
      additionalProperties: { audience: JWT_RESOURCE, roles_claim: 'software_roles' },
    }),
    201,
  );
  assert.equal(saved['issuer'], ext.issuer, 'read from the discovery document');
  assert.deepEqual(saved['endpoints'], {
    jwks: `${ext.issuer}/jwks`,
    introspection: `${ext.issuer}/token/introspection`,
    token: `${ext.issuer}/token`,
    revoke: `${ext.issuer}/token/revocation`,
  });
  assert.deepEqual(saved['tokenValidation'], [{ type: 'JWT', value: ext.issuer }]);
  // The external key manager's client is an application of this gateway by an admin's subscription naming the key manager.
  const sub = await jsonOf(
    await adminJson('/api/am/devportal/v3/subscriptions', 'POST', { applicationId: EXTERNAL_TPP.client_id, keyManager: 'External IdP', apiId: fundsApiId }),
    201,
  );
  assert.equal(sub['keyManager'], 'External IdP');

  const token = await ext.token(tlsOf(env.cbpii.transport), 'fundsconfirmations');
  const res = await fundsCall(token);
  assert.equal(res.status, 200, await res.clone().text());
  const identity = JSON.parse(Buffer.from(String(backend.calls.at(-1)!.headers['x-opendcr-identity']).split('.')[1]!, 'base64url').toString()) as Record<
    string,
    unknown
  >;
  assert.equal(identity['client_id'], EXTERNAL_TPP.client_id);
  assert.equal(identity['key_manager'], 'External IdP');
  assert.deepEqual(identity['roles'], ['CBPII']);

  // Bound to the TPP's certificate: with another one it is refused.
  const otherCert = 'the access token is bound to another client certificate than the one presented';
  await assertTokenRefused(await fundsCall(token, tlsOf(env.aispPisp.transport)), otherCert);
  // Tampered: refused (the cache is keyed by the whole token).
  await assertTokenRefused(await fundsCall(`${token.slice(0, -3)}AAA`), "the access token's signature does not verify with its key manager's keys");
  // Signed by a key the key manager's key set does not hold (a kid it never published).
  const [header, payload] = token.split('.');
  const otherKid = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header!, 'base64url').toString()), kid: 'not-in-the-key-set' })).toString(
    'base64url',
  );
  await assertTokenRefused(await fundsCall(`${otherKid}.${payload}.${token.split('.')[2]}`), "the access token names no key of its key manager's key set");

  await jsonOf(await adminJson(`${KEY_MANAGERS}/External%20IdP`, 'PUT', { enabled: false }), 200);
  const noOwner = 'no enabled key manager owns this access token';
  await assertTokenRefused(await fundsCall(token), noOwner, 'a disabled key manager owns no tokens, not even one verified before');
  await assertTokenRefused(
    await fundsCall(await ext.token(tlsOf(env.cbpii.transport), 'fundsconfirmations')),
    noOwner,
    'a disabled key manager owns no tokens',
  );
  await jsonOf(await adminJson(`${KEY_MANAGERS}/External%20IdP`, 'PUT', { enabled: true }), 200);
});

test('opaque tokens of an external key manager are introspected; an inactive one is refused', async () => {
  const updated = await jsonOf(
    await adminJson(`${KEY_MANAGERS}/External%20IdP`, 'PUT', {
      name: 'External IdP',
      wellKnownEndpoint: `${ext.issuer}/.well-known/openid-configuration`,
      enableSelfValidationJWT: false,
      tokenValidation: [{ type: 'REFERENCE', value: '[A-Za-z0-9_-]{43}' }],
      additionalProperties: {
        introspection_client_id: INTROSPECTOR.client_id,
        introspection_client_secret: INTROSPECTOR.client_secret,
        roles_claim: 'software_roles',
      },
    }),
    200,
  );
  assert.equal(updated['enableSelfValidationJWT'], false);
  assert.equal((updated['additionalProperties'] as Record<string, unknown>)['introspection_client_secret'], undefined, 'the secret is never sent back');

  const opaque = await ext.token(tlsOf(env.cbpii.transport), 'fundsconfirmations', OPAQUE_RESOURCE);
  assert.match(opaque, /^[A-Za-z0-9_-]{43}$/);
  const ok = await fundsCall(opaque);
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal((await fundsCall(opaque)).status, 200, 'served from the introspection cache as well');
  await assertTokenRefused(
    await fundsCall(opaque, tlsOf(env.aispPisp.transport)),
    'the access token is bound to another client certificate than the one presented',
    'bound to the certificate (cnf in the introspection answer)',
  );
  await assertTokenRefused(await fundsCall('A'.repeat(43)), 'the key manager says the access token is not active', 'unknown to the key manager: not active');
});

test('the resident key manager can be disabled, not removed; its tokens stop while it is disabled', async () => {
  const reg = await jsonBody(await env.register(env.cbpii, await env.validRequestClaims(env.cbpii)), 201);
  const token = await env.ccToken(env.cbpii, String(reg['client_id']), 'private_key_jwt', { scope: 'fundsconfirmations' });
  assert.equal((await fundsCall(token)).status, 200);
  const removal = await jsonOf(await adminJson(`${KEY_MANAGERS}/Resident%20Key%20Manager`, 'DELETE'), 400);
  assert.equal(removal['code'], 'KEY_MANAGER_RESIDENT');
  await jsonOf(await adminJson(`${KEY_MANAGERS}/Resident%20Key%20Manager`, 'PUT', { enabled: false }), 200);
  try {
    const noOwner = 'no enabled key manager owns this access token';
    await assertTokenRefused(await fundsCall(token), noOwner, 'not even a token verified before');
    await assertTokenRefused(
      await fundsCall(await env.ccToken(env.cbpii, String(reg['client_id']), 'private_key_jwt', { scope: 'fundsconfirmations' })),
      noOwner,
    );
  } finally {
    await jsonOf(await adminJson(`${KEY_MANAGERS}/Resident%20Key%20Manager`, 'PUT', { enabled: true }), 200);
  }
  assert.equal((await fundsCall(token)).status, 200);
});
