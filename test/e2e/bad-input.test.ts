/**
 * Wrong requests against a running server over HTTPS and mutual TLS. Each asserts the status and
 * the whole JSON error body, and that nothing was issued. Access tokens are opaque here so every
 * issued token is a stored record: "no token issued" is then a count that did not change.
 */
import assert from 'node:assert/strict';
import { createPublicKey, randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import * as client from 'openid-client';
import { SignJWT, base64url } from 'jose';
import { GATEWAY, readSandboxCa, startTestServer, type ClientTls, type TestServer } from '../helpers/server.ts';
import { registerObClient, relyingParty, REDIRECT_URI, transportSubject, type ObClient } from '../helpers/ob-client.ts';
import { authorizeInBrowser } from '../helpers/browser.ts';
import { assertErrorResponse } from '../helpers/assert-error.ts';
import { createCertificateAuthority, issueClientCertificate } from '../../src/crypto/pki.ts';

const CLIENT_AUTH_FAILED = { error: 'invalid_client', error_description: 'client authentication failed' };
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

let ts: TestServer;
let pkj: ObClient;
let tls: ObClient;
/** A valid transport certificate from the sandbox CA, belonging to nobody registered. */
let stranger: ClientTls;

before(async () => {
  ts = await startTestServer({ oauth: { token_generation: { access_token_type: 'opaque' } } });
  pkj = await registerObClient(ts, 'private_key_jwt');
  tls = await registerObClient(ts, 'tls_client_auth', { grant_types: ['client_credentials'], response_types: [] });
  stranger = await ts.issueClientCert(transportSubject('stranger'));
});
after(() => ts?.close());

/** Access tokens the server holds (client_credentials and user tokens). */
async function issuedTokens(): Promise<number> {
  const { oidc } = ts.server.storage;
  return (await oidc.listIds('ClientCredentials', 1000)).length + (await oidc.listIds('AccessToken', 1000)).length;
}

/** Runs `request` and asserts it issued no token. */
async function noTokenIssued(request: () => Promise<Response>): Promise<Response> {
  const before = await issuedTokens();
  const res = await request();
  assert.equal(await issuedTokens(), before, 'no token was issued');
  return res;
}

const tokenRequest = (body: string | Record<string, string>, cert?: ClientTls, contentType = 'application/x-www-form-urlencoded') =>
  ts.fetch('/oauth2/token', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
    ...(cert ? { cert } : {}),
  });

const tokenEndpoint = () => `${ts.url}/oauth2/token`;
const now = () => Math.floor(Date.now() / 1000);

/** A private_key_jwt client assertion for `pkj`; `claims` override the defaults. */
function assertion(claims: Record<string, unknown> = {}, key: Parameters<SignJWT['sign']>[0] = pkj.signingKey.key, alg = 'PS256'): Promise<string> {
  return new SignJWT({ iss: pkj.clientId, sub: pkj.clientId, aud: tokenEndpoint(), jti: randomUUID(), iat: now(), exp: now() + 60, ...claims })
    .setProtectedHeader({ alg, kid: pkj.signingKey.kid })
    .sign(key);
}

const withAssertion = (clientAssertion: string) =>
  tokenRequest({ grant_type: 'client_credentials', scope: 'accounts', client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion }, pkj.cert);

test('malformed token request bodies', async () => {
  await assertErrorResponse(await noTokenIssued(() => tokenRequest({ client_id: tls.clientId, scope: 'accounts' }, tls.cert)), 400, {
    error: 'invalid_request',
    error_description: "missing required parameter 'grant_type'",
  });
  await assertErrorResponse(
    await noTokenIssued(() => tokenRequest(`client_id=${tls.clientId}&grant_type=client_credentials&grant_type=client_credentials`, tls.cert)),
    400,
    { error: 'invalid_request', error_description: "'grant_type' parameter must not be provided twice" },
  );
  await assertErrorResponse(await noTokenIssued(() => tokenRequest('', tls.cert)), 400, {
    error: 'invalid_request',
    error_description: 'no client authentication mechanism provided',
  });
});

test('application/json to /oauth2/token', async () => {
  const res = await noTokenIssued(() =>
    tokenRequest(JSON.stringify({ grant_type: 'client_credentials', client_id: tls.clientId }), tls.cert, 'application/json'),
  );
  await assertErrorResponse(res, 400, {
    error: 'invalid_request',
    error_description: 'only application/x-www-form-urlencoded content-type bodies are supported on POST /oauth2/token',
  });
});

test('client assertion with the wrong aud; its jti is not used up', async () => {
  const jti = randomUUID();
  await assertErrorResponse(
    await noTokenIssued(async () => withAssertion(await assertion({ jti, aud: 'https://other-bank.example.com/token' }))),
    401,
    CLIENT_AUTH_FAILED,
  );
  // The refused assertion did not consume its jti: a correct one with the same jti works.
  const ok = await withAssertion(await assertion({ jti }));
  assert.equal(ok.status, 200);
});

test('expired client assertion', async () => {
  const res = await noTokenIssued(async () => withAssertion(await assertion({ iat: now() - 3700, exp: now() - 3600 })));
  await assertErrorResponse(res, 401, CLIENT_AUTH_FAILED);
});

test('replayed client assertion jti', async () => {
  const once = await assertion();
  assert.equal((await withAssertion(once)).status, 200);
  await assertErrorResponse(await noTokenIssued(() => withAssertion(once)), 401, CLIENT_AUTH_FAILED);
});

test('the same client assertion sent twice at once: exactly one token', async () => {
  // Both in flight together: their jti checks can land in one replay-store batch (group commit).
  const once = await assertion();
  const before = await issuedTokens();
  const statuses = (await Promise.all([withAssertion(once), withAssertion(once)])).map((r) => r.status).sort();
  assert.deepEqual(statuses, [200, 401]);
  assert.equal(await issuedTokens(), before + 1);
});

test('client assertion with alg none', async () => {
  const header = base64url.encode(JSON.stringify({ alg: 'none', kid: pkj.signingKey.kid }));
  const payload = base64url.encode(
    JSON.stringify({ iss: pkj.clientId, sub: pkj.clientId, aud: tokenEndpoint(), jti: randomUUID(), iat: now(), exp: now() + 60 }),
  );
  await assertErrorResponse(await noTokenIssued(() => withAssertion(`${header}.${payload}.`)), 401, CLIENT_AUTH_FAILED);
});

test("client assertion HS256-signed with the client's public key as the HMAC secret", async () => {
  const publicPem = createPublicKey({ key: pkj.publicJwk as never, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  for (const secret of [publicPem, JSON.stringify(pkj.publicJwk)]) {
    const forged = await assertion({}, new TextEncoder().encode(secret), 'HS256');
    await assertErrorResponse(await noTokenIssued(() => withAssertion(forged)), 401, CLIENT_AUTH_FAILED);
  }
});

test('tls_client_auth with the wrong certificate, a look-alike from an untrusted CA, and none', async () => {
  const form = { grant_type: 'client_credentials', client_id: tls.clientId, scope: 'accounts' };
  const software = tls.metadata as { org_id: string; software_id: string };
  await assertErrorResponse(await noTokenIssued(() => tokenRequest(form, stranger)), 401, {
    error: 'invalid_client',
    error_description: `the transport certificate belongs to neither the software JWKS (use:tls) nor organisation ${software.org_id} / software ${software.software_id}`,
  });

  // Same subject DN as the registered one, but issued by a CA the trust store does not hold.
  const rogueCa = await createCertificateAuthority({ subject: 'O=Rogue, CN=Rogue CA', validityDays: 1 });
  const lookalike = await issueClientCertificate(rogueCa, { subject: tls.cert.x509.subject.split('\n').join(', '), validityDays: 1 });
  const untrusted = { error: 'invalid_client', error_description: 'a client (transport) certificate issued by a trusted CA is required over mutual TLS' };
  await assertErrorResponse(await noTokenIssued(() => tokenRequest(form, lookalike)), 401, untrusted);

  await assertErrorResponse(await noTokenIssued(() => tokenRequest(form)), 401, untrusted);
  // The genuine certificate still works.
  assert.equal((await tokenRequest(form, tls.cert)).status, 200);
});

test('an expired or a not yet valid certificate of the client, from the trusted CA, is refused saying which (private_key_jwt and tls_client_auth)', async () => {
  const ca = readSandboxCa(ts.server.config.derived.dataDir);
  const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const c of [pkj, tls]) {
    const subject = c.cert.x509.subject.split('\n').join(', ');
    const expired = await issueClientCertificate(ca, { subject, validityDays: 1, now: new Date(Date.now() - 3 * 86_400_000) });
    const early = await issueClientCertificate(ca, { subject, validityDays: 1, now: new Date(Date.now() + 3 * 86_400_000) });
    const form = async (): Promise<Record<string, string>> =>
      c === pkj
        ? { grant_type: 'client_credentials', scope: 'accounts', client_assertion_type: ASSERTION_TYPE, client_assertion: await assertion() }
        : { grant_type: 'client_credentials', scope: 'accounts', client_id: c.clientId };
    await assertErrorResponse(await noTokenIssued(async () => tokenRequest(await form(), expired)), 401, {
      error: 'invalid_client',
      error_description: `the client (transport) certificate expired on ${iso(expired.x509.validToDate)}; present a current one`,
    });
    await assertErrorResponse(await noTokenIssued(async () => tokenRequest(await form(), early)), 401, {
      error: 'invalid_client',
      error_description: `the client (transport) certificate is not valid until ${iso(early.x509.validFromDate)}`,
    });
    assert.equal((await tokenRequest(await form(), c.cert)).status, 200, 'the current certificate still works');
  }
});

test('certificate-bound token at userinfo without a certificate and with another one', async () => {
  const rp = await relyingParty(ts, pkj, client.PrivateKeyJwt(pkj.signingKey));
  client.useCodeIdTokenResponseType(rp);
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithJAR(
    rp,
    {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      nonce,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    },
    pkj.signingKey,
  );
  const callback = await authorizeInBrowser(ts, url, { username: 'psu', password: 'psu' });
  const { access_token: token } = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
  const authorization = `Bearer ${token}`;

  for (const cert of [undefined, stranger]) {
    const res = await ts.fetch('/oauth2/userinfo', { headers: { authorization }, ...(cert ? { cert } : {}) });
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${ts.url}", error="invalid_token", error_description="invalid token provided"`);
    await assertErrorResponse(res, 401, { error: 'invalid_token', error_description: 'invalid token provided' });
  }
  const ok = await ts.fetch('/oauth2/userinfo', { headers: { authorization }, cert: pkj.cert });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { sub: 'psu' });
});

test('unknown client', async () => {
  await assertErrorResponse(
    await noTokenIssued(() => tokenRequest({ grant_type: 'client_credentials', client_id: 'no-such-client' }, stranger)),
    401,
    CLIENT_AUTH_FAILED,
  );
  const foreign = await assertion({ iss: 'no-such-client', sub: 'no-such-client' });
  await assertErrorResponse(
    await noTokenIssued(() => tokenRequest({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: foreign }, pkj.cert)),
    401,
    CLIENT_AUTH_FAILED,
  );
});

test('unsupported grant type', async () => {
  for (const grant of ['password', 'urn:example:no-such-grant']) {
    const res = await noTokenIssued(() => tokenRequest({ grant_type: grant, client_id: tls.clientId, username: 'psu', password: 'psu' }, tls.cert));
    await assertErrorResponse(res, 400, { error: 'unsupported_grant_type', error_description: 'unsupported grant_type requested' });
  }
});

test("introspection and revocation of another client's token", async () => {
  const issued = await tokenRequest({ grant_type: 'client_credentials', client_id: tls.clientId, scope: 'accounts' }, tls.cert);
  const { access_token: token } = (await issued.json()) as { access_token: string };
  const introspect = (authorization: string, cert?: ClientTls) =>
    ts.fetch('/oauth2/introspect', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      body: new URLSearchParams({ token }).toString(),
      ...(cert ? { cert } : {}),
    });
  const gateway = `Basic ${Buffer.from(`${GATEWAY.client_id}:${GATEWAY.client_secret}`).toString('base64')}`;

  // Another TPP learns nothing (RFC 7662 §4: inactive, not an error).
  const otherTpp = await ts.fetch('/oauth2/introspect', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    cert: pkj.cert,
    body: new URLSearchParams({
      token,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await assertion({ aud: `${ts.url}/oauth2/introspect` }),
    }).toString(),
  });
  assert.equal(otherTpp.status, 200);
  assert.deepEqual(await otherTpp.json(), { active: false });

  // The gateway may not revoke a TPP's token, and the token stays active.
  const revoke = await ts.fetch('/oauth2/revoke', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: gateway },
    body: new URLSearchParams({ token }).toString(),
  });
  await assertErrorResponse(revoke, 400, { error: 'invalid_request', error_description: 'client is not authorized to revoke the presented token' });
  const still = await introspect(gateway);
  assert.equal(still.status, 200);
  assert.equal(((await still.json()) as { active: boolean }).active, true);

  await assertErrorResponse(
    await introspect(`Basic ${Buffer.from(`${GATEWAY.client_id}:wrong-secret-0123456789`).toString('base64')}`),
    401,
    CLIENT_AUTH_FAILED,
  );
  const nothing = await ts.fetch('/oauth2/introspect', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: gateway },
    body: 'token=no-such-token',
  });
  assert.deepEqual(await nothing.json(), { active: false });
});

test('unknown routes and methods: 404 JSON', async () => {
  for (const [method, path] of [
    ['GET', '/no/such/path'],
    ['POST', '/api/identity/oauth2/v1.0/nope'],
    ['GET', '/oauth2/tokens'],
    ['GET', '/oauth2/token'],
    ['DELETE', '/oauth2/jwks'],
  ]) {
    await assertErrorResponse(await ts.fetch(path!, { method: method! }), 404, { error: 'not_found', error_description: 'no such endpoint' });
  }
});
