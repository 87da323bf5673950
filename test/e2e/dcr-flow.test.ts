/**
 * Dynamic client registration end to end, over real HTTPS and mutual TLS, for every OB DCR
 * version path: register → client_credentials token (openid-client; private_key_jwt with the
 * key behind the SSA's software_jwks_endpoint, or tls_client_auth) → GET → PUT → DELETE → 401.
 * Every 201/200/204/401 body is checked against our OpenAPI document for that version.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { createLocalJWKSet, decodeJwt, importPKCS8, jwtVerify, type JSONWebKeySet } from 'jose';
import { dcrOpenApi, type DcrVersion } from '../../src/dcr/openapi.ts';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { createResponseValidator } from '../helpers/openapi.ts';
import { fetchVia } from '../helpers/ob-client.ts';
import { jsonBody, startDcrEnvironment, tlsOf, type DcrEnvironment, type PathVersion } from '../helpers/dcr.ts';

const VERSIONS: readonly PathVersion[] = ['v3.1', 'v3.2', 'v3.3', 'v3.3.0'];
/** Request-JWT claims that must not come back (docs/dcr.md#the-response). */
const NOT_ECHOED = ['iss', 'iat', 'exp', 'aud', 'jti'];

let env: DcrEnvironment;

before(async () => {
  env = await startDcrEnvironment();
});
after(() => env?.close());

const docVersion = (v: PathVersion): DcrVersion => (v === 'v3.3.0' ? 'v3.3' : v);
const x5tS256 = (tpp: SandboxTpp) => createHash('sha256').update(tpp.transport.x509.raw).digest('base64url');

/** Version-shaped request claims: v3.1 sends scope as an array and the DN as tls_client_auth_dn. */
async function requestClaims(version: PathVersion, tpp: SandboxTpp, auth: 'private_key_jwt' | 'tls_client_auth', overrides: Record<string, unknown> = {}) {
  const v31 = version === 'v3.1';
  const scope = overrides['scope'] as string | undefined;
  const claims: Record<string, unknown> = { ...overrides };
  if (v31 && typeof scope === 'string') claims['scope'] = scope.split(' ');
  if (auth === 'tls_client_auth') {
    claims['token_endpoint_auth_method'] = 'tls_client_auth';
    claims['token_endpoint_auth_signing_alg'] = undefined;
    // RFC 4514 order (CN first): the certificate carries the attributes the other way round.
    const dn = `CN=${tpp.softwareId},OU=${tpp.orgId},2.5.4.97=PSDGB-OB-Unknown${tpp.orgId},O=${tpp.name},C=GB`;
    claims[v31 ? 'tls_client_auth_dn' : 'tls_client_auth_subject_dn'] = dn;
  }
  return env.validRequestClaims(tpp, { ...(v31 && scope === undefined ? { scope: ['openid', 'accounts', 'payments'] } : {}), ...claims });
}

/** The response checks every version shares (docs/dcr.md#the-response). */
function checkRegistration(body: Record<string, unknown>, sent: Record<string, unknown>, tpp: SandboxTpp): void {
  assert.equal(typeof body['client_id'], 'string');
  assert.ok(String(body['client_id']).length <= 36, 'client_id is at most 36 characters');
  assert.ok(Number.isSafeInteger(body['client_id_issued_at']), 'client_id_issued_at is an integer');
  assert.equal(body['software_statement'], sent['software_statement']);
  assert.equal(body['software_id'], tpp.softwareId);
  assert.equal(body['jwks_uri'], tpp.ssaClaims.software_jwks_endpoint);
  assert.equal(body['id_token_signed_response_alg'], 'PS256');
  assert.equal(body['request_object_signing_alg'], 'PS256');
  for (const claim of NOT_ECHOED) assert.equal(claim in body, false, `${claim} is not echoed`);
}

async function relyingParty(tpp: SandboxTpp, clientId: string, auth: 'private_key_jwt' | 'tls_client_auth'): Promise<client.Configuration> {
  const clientAuth =
    auth === 'private_key_jwt'
      ? client.PrivateKeyJwt({
          key: await importPKCS8(tpp.signingKey.key.export({ type: 'pkcs8', format: 'pem' }).toString(), 'PS256'),
          kid: tpp.signingKey.kid,
        })
      : client.TlsClientAuth();
  return client.discovery(new URL(env.url), clientId, { id_token_signed_response_alg: 'PS256' }, clientAuth, {
    [client.customFetch]: fetchVia(env.ts.mtlsAgent(tlsOf(tpp.transport))),
  });
}

async function verifyAccessToken(token: string) {
  const res = await env.ts.fetch('/oauth2/jwks');
  assert.equal(res.status, 200);
  const jwks = (await res.json()) as JSONWebKeySet;
  return (await jwtVerify(token, createLocalJWKSet(jwks), { issuer: env.url, typ: 'at+jwt', algorithms: ['PS256'] })).payload;
}

test('discovery advertises the v3.3 registration endpoint and both FAPI client authentication methods', async () => {
  const doc = await jsonBody(await env.ts.fetch('/.well-known/openid-configuration'), 200);
  assert.equal(doc['registration_endpoint'], `${env.url}/open-banking/v3.3/register`);
  for (const method of ['private_key_jwt', 'tls_client_auth']) assert.ok((doc['token_endpoint_auth_methods_supported'] as string[]).includes(method), method);
  assert.equal((doc['request_object_signing_alg_values_supported'] as string[])[0], 'PS256');
});

test('the OpenAPI description is served for each version', async () => {
  for (const v of ['v3.1', 'v3.2', 'v3.3'] as const) {
    const doc = await jsonBody(await env.ts.fetch(`/api-docs/open-banking/${v}/dcr-openapi.json`), 200);
    // The description of this deployment: its algorithms and methods ([open_banking.dcr]).
    const dcr = env.ts.server.config.open_banking.dcr;
    assert.deepEqual(doc, dcrOpenApi(v, env.url, { signingAlgorithms: dcr.signing_algorithms, authMethods: dcr.token_endpoint_auth_methods }), v);
  }
});

for (const version of VERSIONS) {
  describe(`${version}`, () => {
    const validate = createResponseValidator(docVersion(version));

    test('register → private_key_jwt client_credentials → GET → PUT → DELETE → 401', async () => {
      const tpp = env.aispPisp;
      const sent = await requestClaims(version, tpp, 'private_key_jwt');
      const created = await jsonBody(await env.register(tpp, sent, { version }), 201);
      validate(201, created, 'post');
      checkRegistration(created, sent, tpp);
      assert.equal(created['scope'], 'openid accounts payments');
      const clientId = String(created['client_id']);

      // The client is usable at once: the key behind software_jwks_endpoint signs its assertion.
      const rp = await relyingParty(tpp, clientId, 'private_key_jwt');
      const tokens = await client.clientCredentialsGrant(rp);
      const claims = await verifyAccessToken(tokens.access_token);
      assert.equal(claims['client_id'], clientId);
      assert.deepEqual(claims['cnf'], { 'x5t#S256': x5tS256(tpp) });
      const token = tokens.access_token;

      const got = await jsonBody(await env.manage('GET', clientId, { version, token, cert: tpp.transport }), 200);
      validate(200, got, 'get');
      assert.deepEqual(got, created);

      const update = await requestClaims(version, tpp, 'private_key_jwt', { scope: 'openid accounts', redirect_uris: [...tpp.redirectUris] });
      const put = await jsonBody(await env.manage('PUT', clientId, { version, token, cert: tpp.transport, body: await tpp.signRequest(update) }), 200);
      validate(200, put, 'put');
      checkRegistration(put, update, tpp);
      assert.equal(put['client_id'], clientId);
      assert.equal(put['client_id_issued_at'], created['client_id_issued_at']);
      assert.equal(put['scope'], 'openid accounts');
      assert.deepEqual(put['redirect_uris'], [...tpp.redirectUris]);

      const deleted = await env.manage('DELETE', clientId, { version, token, cert: tpp.transport });
      assert.equal(deleted.status, 204);
      validate(204, await deleted.text(), 'delete');

      const gone = await env.manage('GET', clientId, { version, token, cert: tpp.transport });
      assert.match(gone.headers.get('www-authenticate') ?? '', /^Bearer /);
      const error = await jsonBody(gone, 401);
      validate(401, error, 'get');
      assert.deepEqual(error, { error: 'invalid_token', error_description: 'the access token is not valid for this registration' });
      await assert.rejects(client.clientCredentialsGrant(rp), (err: { cause?: unknown }) => {
        assert.deepEqual(err.cause, { error: 'invalid_client', error_description: 'client authentication failed' });
        return true;
      });
    });

    test('register a tls_client_auth client → client_credentials with tls_client_auth', async () => {
      const tpp = env.cbpii;
      const sent = await requestClaims(version, tpp, 'tls_client_auth', version === 'v3.1' ? { scope: 'openid fundsconfirmations' } : {});
      const created = await jsonBody(await env.register(tpp, sent, { version }), 201);
      validate(201, created, 'post');
      checkRegistration(created, sent, tpp);
      assert.equal(created['token_endpoint_auth_method'], 'tls_client_auth');
      assert.equal(created['token_endpoint_auth_signing_alg'], undefined);
      assert.equal(created['scope'], 'openid fundsconfirmations');
      const clientId = String(created['client_id']);

      const tokens = await client.clientCredentialsGrant(await relyingParty(tpp, clientId, 'tls_client_auth'), { scope: 'fundsconfirmations' });
      const claims = await verifyAccessToken(tokens.access_token);
      assert.equal(claims['client_id'], clientId);
      assert.equal(claims['scope'], 'fundsconfirmations');
      assert.deepEqual(claims['cnf'], { 'x5t#S256': x5tS256(tpp) });
      assert.equal(decodeJwt(tokens.access_token).sub, clientId);

      const got = await jsonBody(await env.manage('GET', clientId, { version, token: tokens.access_token, cert: tpp.transport }), 200);
      validate(200, got, 'get');
      assert.deepEqual(got, created);
      assert.equal((await env.manage('DELETE', clientId, { version, token: tokens.access_token, cert: tpp.transport })).status, 204);
    });
  });
}
