/**
 * openid-client v6 as a real relying party against a running server, over HTTPS and mutual TLS:
 * discovery, client_credentials (private_key_jwt, tls_client_auth), FAPI 1.0 Final
 * authorization_code (signed request object, code id_token, PKCE, real login and consent pages),
 * userinfo, refresh rotation, introspection and revocation by the gateway, jwt-bearer, the scope
 * API and signing key rotation.
 */
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as client from 'openid-client';
import { SignJWT, createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { GATEWAY, startTestServer, type TestServer } from '../helpers/server.ts';
import { fetchVia, newSigningKey, registerObClient, relyingParty, REDIRECT_URI, type ObClient } from '../helpers/ob-client.ts';
import { authorizeInBrowser } from '../helpers/browser.ts';
import { seedConsent } from '../helpers/consents.ts';
import { intentClaims } from '../../src/cli/psu-flow.ts';
import { assertAdminError, assertErrorResponse, isOAuthError } from '../helpers/assert-error.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.bank.example.com';
const PSU = { username: 'psu', password: 'psu' };
const SCOPES = '/api/identity/oauth2/v1.0/scopes';

let ts: TestServer;
let idpKey: Awaited<ReturnType<typeof newSigningKey>>;
let tpp: ObClient;
let rp: client.Configuration;
let gateway: client.Configuration;

before(async () => {
  idpKey = await newSigningKey('idp-1');
  ts = await startTestServer({
    oauth: { grant_type: { jwt_bearer: { trusted_issuers: [{ issuer: IDP, jwks: { keys: [idpKey.publicJwk] } }] } } },
  });
  tpp = await registerObClient(ts, 'private_key_jwt', { grant_types: ['client_credentials', 'authorization_code', 'refresh_token', JWT_BEARER] });
  rp = await relyingParty(ts, tpp, client.PrivateKeyJwt(tpp.signingKey));
  gateway = await client.discovery(new URL(ts.url), GATEWAY.client_id, undefined, client.ClientSecretBasic(GATEWAY.client_secret), {
    [client.customFetch]: fetchVia(ts.mtlsAgent()),
  });
});
after(() => ts?.close());

const resource = () => `${ts.url}/open-banking`;
/** RFC 8705 §3.1: base64url SHA-256 of the DER certificate. */
const x5tS256 = (c: ObClient) => createHash('sha256').update(c.cert.x509.raw).digest('base64url');

async function serverJwks(): Promise<JSONWebKeySet> {
  const res = await ts.fetch('/oauth2/jwks');
  assert.equal(res.status, 200);
  return (await res.json()) as JSONWebKeySet;
}

/** Verifies an RFC 9068 access token against /oauth2/jwks and returns its claims. */
async function verifyAccessToken(token: string) {
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await serverJwks()), {
    issuer: ts.url,
    audience: resource(),
    typ: 'at+jwt',
    algorithms: ['PS256'],
  });
  return { payload, protectedHeader };
}

/** A FAPI 1.0 Final authorization: JAR (PS256), code id_token, PKCE S256, through the PSU's browser. */
async function authorize(config: client.Configuration, c: ObClient, scope: string, consentId?: string) {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithJAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      scope,
      nonce,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...(consentId === undefined ? {} : { claims: JSON.stringify(intentClaims(consentId)) }),
    },
    c.signingKey,
  );
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request']);
  const callback = await authorizeInBrowser(ts, url, PSU);
  assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);
  // code id_token answers in the fragment (OIDC Core §3.3.2.5).
  assert.equal(callback.search, '');
  return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
}

test('discovery: same document at both paths, FAPI capabilities advertised', async () => {
  const [standard, wso2] = await Promise.all([ts.fetch('/.well-known/openid-configuration'), ts.fetch('/oauth2/token/.well-known/openid-configuration')]);
  assert.equal(standard.status, 200);
  assert.equal(wso2.status, 200);
  const doc = (await standard.json()) as Record<string, unknown>;
  assert.deepEqual(await wso2.json(), doc);

  assert.equal(doc['issuer'], ts.url);
  for (const [key, path] of [
    ['authorization_endpoint', '/oauth2/authorize'],
    ['token_endpoint', '/oauth2/token'],
    ['introspection_endpoint', '/oauth2/introspect'],
    ['revocation_endpoint', '/oauth2/revoke'],
    ['userinfo_endpoint', '/oauth2/userinfo'],
    ['jwks_uri', '/oauth2/jwks'],
    ['pushed_authorization_request_endpoint', '/oauth2/par'],
  ])
    assert.equal(doc[key!], `${ts.url}${path}`, key);
  for (const method of ['tls_client_auth', 'private_key_jwt']) {
    assert.ok((doc['token_endpoint_auth_methods_supported'] as string[]).includes(method), method);
  }
  for (const key of [
    'id_token_signing_alg_values_supported',
    'request_object_signing_alg_values_supported',
    'token_endpoint_auth_signing_alg_values_supported',
    'authorization_signing_alg_values_supported',
  ]) {
    assert.ok((doc[key] as string[]).includes('PS256'), key);
    assert.ok(!(doc[key] as string[]).includes('RS256'), `${key}: RS256 is not allowed by FAPI`);
  }
  assert.equal(doc['tls_client_certificate_bound_access_tokens'], true);
  assert.deepEqual(doc['response_types_supported'], ['code', 'code id_token']);
  assert.ok((doc['grant_types_supported'] as string[]).includes(JWT_BEARER));

  // openid-client accepts either path (the WSO2 one given as the document's URL).
  const viaWso2 = await relyingParty(ts, tpp, client.PrivateKeyJwt(tpp.signingKey), {
    discoveryUrl: `${ts.url}/oauth2/token/.well-known/openid-configuration`,
  });
  assert.deepEqual({ ...viaWso2.serverMetadata() }, { ...rp.serverMetadata() });
});

test('client_credentials with private_key_jwt (PS256): certificate-bound RFC 9068 access token', async () => {
  const tokens = await client.clientCredentialsGrant(rp, { scope: 'accounts' });
  assert.equal(tokens.token_type, 'bearer');
  assert.equal(tokens.scope, 'accounts');
  assert.equal(tokens.expires_in, 3600);
  assert.equal(tokens.refresh_token, undefined);

  const { payload, protectedHeader } = await verifyAccessToken(tokens.access_token);
  assert.equal(protectedHeader.alg, 'PS256');
  assert.equal(payload['client_id'], tpp.clientId);
  assert.equal(payload.sub, tpp.clientId);
  assert.equal(payload['scope'], 'accounts');
  assert.deepEqual(payload['cnf'], { 'x5t#S256': x5tS256(tpp) });
  assert.equal(payload.exp! - payload.iat!, 3600);
});

test('client_credentials with tls_client_auth (subject DN registered in another order and case)', async () => {
  const tls = await registerObClient(ts, 'tls_client_auth', { grant_types: ['client_credentials'], response_types: [] });
  // Compared as parsed DNs: the spelling differs from the certificate's in order and case.
  const id = tls.metadata['software_id'];
  assert.equal(tls.cert.x509.subject, `C=GB\nO=OpenBanking\nOU=0015800001HQQrZAAX\nCN=${id}`);
  assert.equal(tls.metadata['tls_client_auth_subject_dn'], `o=OPENBANKING, Cn=${id}, c=gb, OU=0015800001HQQrZAAX`);
  const tlsRp = await relyingParty(ts, tls, client.TlsClientAuth());
  const tokens = await client.clientCredentialsGrant(tlsRp, { scope: 'payments' });
  const { payload } = await verifyAccessToken(tokens.access_token);
  assert.equal(payload['client_id'], tls.clientId);
  assert.equal(payload['scope'], 'payments');
  assert.deepEqual(payload['cnf'], { 'x5t#S256': x5tS256(tls) });
});

test('authorization_code (FAPI 1.0 Final): JAR, code id_token, PKCE, consent, then refresh rotation', async () => {
  const hybrid = await relyingParty(ts, tpp, client.PrivateKeyJwt(tpp.signingKey));
  client.useCodeIdTokenResponseType(hybrid);
  const consentId = await seedConsent(ts.storage, tpp.clientId);
  const tokens = await authorize(hybrid, tpp, 'openid accounts', consentId);

  // ID token: signature, nonce, c_hash/s_hash already checked by openid-client.
  assert.equal(decodeProtectedHeader(tokens.id_token!).alg, 'PS256');
  const idToken = tokens.claims()!;
  assert.equal(idToken.iss, ts.url);
  assert.equal(idToken.sub, 'psu');
  assert.equal(idToken.aud, tpp.clientId);
  assert.equal(idToken['openbanking_intent_id'], consentId);

  // The access token is for the Open Banking APIs, bound to the TPP's transport certificate, and names the consent.
  assert.equal(tokens.scope, 'accounts');
  const { payload } = await verifyAccessToken(tokens.access_token);
  assert.equal(payload.sub, 'psu');
  assert.equal(payload['client_id'], tpp.clientId);
  assert.equal(payload['scope'], 'accounts');
  assert.equal(payload['openbanking_intent_id'], consentId);
  assert.deepEqual(payload['cnf'], { 'x5t#S256': x5tS256(tpp) });

  const first = tokens.refresh_token!;
  assert.ok(first);
  const refreshed = await client.refreshTokenGrant(hybrid, first);
  assert.ok(refreshed.refresh_token && refreshed.refresh_token !== first, 'a new refresh token is issued');
  const again = await verifyAccessToken(refreshed.access_token);
  assert.equal(again.payload.sub, 'psu');
  assert.equal(again.payload['scope'], 'accounts');
  assert.equal(again.payload['openbanking_intent_id'], consentId);
  assert.deepEqual(again.payload['cnf'], { 'x5t#S256': x5tS256(tpp) });

  // renew_refresh_token = true: the used refresh token is dead.
  await assert.rejects(client.refreshTokenGrant(hybrid, first), isOAuthError(400, { error: 'invalid_grant', error_description: 'grant request is invalid' }));
});

test('userinfo with the certificate-bound token over mutual TLS; gateway introspection; revocation', async () => {
  const hybrid = await relyingParty(ts, tpp, client.PrivateKeyJwt(tpp.signingKey));
  client.useCodeIdTokenResponseType(hybrid);
  // OIDC scopes only: a token for userinfo (an API scope would make it a token for the APIs).
  const tokens = await authorize(hybrid, tpp, 'openid');
  assert.equal(tokens.scope, 'openid');

  const userinfo = await client.fetchUserInfo(hybrid, tokens.access_token, 'psu');
  assert.deepEqual(userinfo, { sub: 'psu' });

  const active = await client.tokenIntrospection(gateway, tokens.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, tpp.clientId);
  assert.equal(active.sub, 'psu');
  assert.equal(active.scope, 'openid');
  assert.equal(active.token_type, 'Bearer');
  assert.deepEqual(active.cnf, { 'x5t#S256': x5tS256(tpp) });
  assert.equal((await client.tokenIntrospection(gateway, tokens.refresh_token!)).active, true);

  await client.tokenRevocation(hybrid, tokens.access_token);
  assert.deepEqual({ ...(await client.tokenIntrospection(gateway, tokens.access_token)) }, { active: false });
  await assertErrorResponse(await ts.fetch('/oauth2/userinfo', { headers: { authorization: `Bearer ${tokens.access_token}` }, cert: tpp.cert }), 401, {
    error: 'invalid_token',
    error_description: 'invalid token provided',
  });

  await client.tokenRevocation(hybrid, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
  assert.deepEqual({ ...(await client.tokenIntrospection(gateway, tokens.refresh_token!)) }, { active: false });
  await assert.rejects(
    client.refreshTokenGrant(hybrid, tokens.refresh_token!),
    isOAuthError(400, { error: 'invalid_grant', error_description: 'grant request is invalid' }),
  );
});

test('jwt-bearer grant from an inline trusted issuer; a replayed jti is refused', async () => {
  const assertion = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: 'PS256', kid: idpKey.kid })
    .setIssuer(IDP)
    .setSubject('psu')
    .setAudience(`${ts.url}/oauth2/token`)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(idpKey.key);

  const tokens = await client.genericGrantRequest(rp, JWT_BEARER, { assertion, scope: 'accounts' });
  assert.equal(tokens.scope, 'accounts');
  const { payload } = await verifyAccessToken(tokens.access_token);
  assert.equal(payload.sub, 'psu');
  assert.equal(payload['client_id'], tpp.clientId);
  assert.equal(payload['scope'], 'accounts');
  assert.deepEqual(payload['cnf'], { 'x5t#S256': x5tS256(tpp) });

  // oidc-provider keeps invalid_grant details out of the response (they go to its error_detail).
  await assert.rejects(
    client.genericGrantRequest(rp, JWT_BEARER, { assertion, scope: 'accounts' }),
    isOAuthError(400, { error: 'invalid_grant', error_description: 'grant request is invalid' }),
  );
});

test('scope API: create, use in client_credentials, delete; 401, 409 and 400 bodies', async () => {
  const admin = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
  const json = { 'content-type': 'application/json' };
  const scopeApi = (method: string, body?: unknown, authorization = admin, path = SCOPES) =>
    ts.fetch(path, { method, headers: { ...(body === undefined ? {} : json), authorization }, body: body === undefined ? undefined : JSON.stringify(body) });
  // No `scope` metadata: the client may ask for any scope the server has.
  const any = await registerObClient(ts, 'private_key_jwt', { scope: undefined, grant_types: ['client_credentials'], response_types: [] });
  const anyRp = await relyingParty(ts, any, client.PrivateKeyJwt(any.signingKey));
  const grantedScope = async (scope: string) =>
    (await verifyAccessToken((await client.clientCredentialsGrant(anyRp, { scope })).access_token)).payload['scope'];

  assert.equal(await grantedScope('accounts e2e_balances'), 'accounts', 'unknown scopes are not granted');

  const wrong = await scopeApi('POST', { name: 'e2e_balances' }, `Basic ${Buffer.from('admin:wrong').toString('base64')}`);
  assert.equal(wrong.headers.get('www-authenticate'), 'Basic realm="opendcr-admin", charset="UTF-8"');
  await assertAdminError(wrong, 401, 'ADMIN_UNAUTHORIZED', 'administrator credentials are missing or wrong');

  const created = await scopeApi('POST', { name: 'e2e_balances', displayName: 'Balances' });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('location'), `${SCOPES}/name/e2e_balances`);
  assert.deepEqual(await created.json(), { name: 'e2e_balances', displayName: 'Balances', description: '', bindings: [] });

  // The key manager rebuilt itself in this process: the scope is grantable at once.
  assert.equal(await grantedScope('accounts e2e_balances'), 'accounts e2e_balances');

  await assertAdminError(await scopeApi('POST', { name: 'e2e_balances' }), 409, 'SCOPE_EXISTS', 'a scope of that name already exists');
  await assertAdminError(await scopeApi('POST', { name: 'two words' }), 400, 'MALFORMED_REQUEST', '"name": must be a single RFC 6749 scope token');
  await assertAdminError(await scopeApi('POST', { name: 'x', colour: 'red' }), 400, 'MALFORMED_REQUEST', 'unknown field "colour"');

  // A client registered with the scope in its metadata...
  const holder = await registerObClient(ts, 'private_key_jwt', { scope: 'accounts e2e_balances', grant_types: ['client_credentials'], response_types: [] });
  const holderRp = await relyingParty(ts, holder, client.PrivateKeyJwt(holder.signingKey));

  const deleted = await scopeApi('DELETE', undefined, admin, `${SCOPES}/name/e2e_balances`);
  assert.equal(deleted.status, 204);
  assert.equal(await grantedScope('accounts e2e_balances'), 'accounts');
  // ...keeps working after the scope is deleted; the scope is just no longer granted.
  const held = await client.clientCredentialsGrant(holderRp, { scope: 'accounts e2e_balances' });
  assert.equal((await verifyAccessToken(held.access_token)).payload['scope'], 'accounts');
  await assertAdminError(await scopeApi('GET', undefined, admin, `${SCOPES}/name/e2e_balances`), 404, 'SCOPE_NOT_FOUND', 'no scope of that name');
});

test('signing key rotation: the new kid signs, the old kid stays published', async () => {
  const before = await client.clientCredentialsGrant(rp, { scope: 'accounts' });
  const oldKid = decodeProtectedHeader(before.access_token).kid!;

  const newKids = await ts.server.keyManager.keys.rotate();
  await ts.server.keyManager.refresh();

  const afterRotation = await client.clientCredentialsGrant(rp, { scope: 'accounts' });
  const newKid = decodeProtectedHeader(afterRotation.access_token).kid!;
  assert.notEqual(newKid, oldKid);
  assert.ok(newKids.includes(newKid), 'signed with a key from the rotation');

  const published = (await serverJwks()).keys.map((k) => k.kid);
  assert.ok(published.includes(oldKid), 'the retired key is still published');
  assert.ok(published.includes(newKid));
  // Tokens signed before and after the rotation both verify against the published set.
  await verifyAccessToken(before.access_token);
  await verifyAccessToken(afterRotation.access_token);
});

test('/health and /ready', async () => {
  const health = await ts.fetch('/health');
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ready = await ts.fetch('/ready');
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', storage: 'sqlite', shared_state: 'embedded' });
});
