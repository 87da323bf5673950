/**
 * What an independent DCR conformance client found: client_secret_basic
 * registrations when a deployment enables them, discovery and DCR agreeing on algorithms, the
 * expected subject DN in a tls_client_auth mismatch, and JSON integer types at DCR and the token
 * endpoint (with an empty scope= accepted).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { certificateSubjectDn } from '../../src/crypto/dn.ts';
import { issueClientCertificate } from '../../src/crypto/pki.ts';
import { jsonBody, startDcrEnvironment, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';

const INTEGER_TIMES = ['client_id_issued_at', 'client_secret_expires_at', 'iat', 'exp'];

/** Every *_issued_at / *_expires_at in a DCR body is a JSON integer (RFC 7591 §3.2.1). */
function assertIntegerTimes(body: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(body)) {
    if (/_(issued_at|expires_at)$/.test(k) || INTEGER_TIMES.includes(k)) assert.ok(Number.isInteger(v), `${k} is a JSON integer, got ${JSON.stringify(v)}`);
  }
}

async function discovery(env: DcrEnvironment): Promise<Record<string, unknown>> {
  return jsonBody(await env.ts.fetch('/.well-known/openid-configuration'), 200);
}

const ALG_LISTS = [
  'token_endpoint_auth_signing_alg_values_supported',
  'request_object_signing_alg_values_supported',
  'id_token_signing_alg_values_supported',
  'authorization_signing_alg_values_supported',
];

/**
 * Each advertised algorithm list holds exactly `algs`; request objects list PS256 first
 * (docs/dcr.md#discovery).
 */
function assertAlgorithms(d: Record<string, unknown>, algs: string[]): void {
  for (const list of ALG_LISTS) assert.deepEqual([...(d[list] as string[])].sort(), [...algs].sort(), list);
  // Lists only present with features this server does not enable must agree too when they are there.
  for (const list of ['userinfo_signing_alg_values_supported', 'introspection_signing_alg_values_supported']) {
    if (d[list] !== undefined) assert.deepEqual([...(d[list] as string[])].sort(), [...algs].sort(), list);
  }
  assert.equal((d['request_object_signing_alg_values_supported'] as string[])[0], 'PS256');
}

describe('with the defaults (PS256, private_key_jwt and tls_client_auth)', () => {
  let env: DcrEnvironment;
  before(async () => {
    env = await startDcrEnvironment();
  });
  after(() => env?.close());

  test('discovery advertises exactly what DCR accepts: PS256 everywhere, no secret method', async () => {
    const d = await discovery(env);
    assertAlgorithms(d, ['PS256']);
    assert.deepEqual(d['token_endpoint_auth_methods_supported'], ['private_key_jwt', 'tls_client_auth']);
    const doc = await jsonBody(await env.ts.fetch('/api-docs/open-banking/v3.3/dcr-openapi.json'), 200);
    const schemas = (doc['components'] as { schemas: Record<string, { enum?: string[] }> }).schemas;
    assert.deepEqual(schemas['SigningAlgorithm']!.enum, ['PS256'], 'the served OpenAPI description agrees');
    assert.deepEqual(schemas['TokenEndpointAuthMethod']!.enum, ['private_key_jwt', 'tls_client_auth']);
    const es256 = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp, { id_token_signed_response_alg: 'ES256' })), 400);
    assert.deepEqual(es256, {
      error: 'invalid_client_metadata',
      error_description: 'id_token_signed_response_alg must be PS256 (FAPI 1.0 Advanced), not "ES256"',
    });
    const secret = await jsonBody(
      await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp, { token_endpoint_auth_method: 'client_secret_basic' })),
      400,
    );
    assert.deepEqual(secret, {
      error: 'invalid_client_metadata',
      error_description: 'token_endpoint_auth_method must be one of: private_key_jwt, tls_client_auth',
    });
  });

  test('integer times in 201 and GET; integer expires_in; an empty scope= at the token endpoint is no scope', async () => {
    const tpp = env.aispPisp;
    const created = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201);
    assertIntegerTimes(created);
    const clientId = String(created['client_id']);
    const token = await jsonBody(await env.tokenResponse(tpp, clientId, 'private_key_jwt', { scope: '' }), 200);
    assert.ok(Number.isInteger(token['expires_in']), `expires_in is an integer: ${JSON.stringify(token['expires_in'])}`);
    assert.equal(token['token_type'], 'Bearer');
    assert.equal(token['scope'], undefined, 'no scope asked, none granted');
    // Whitespace only is no scope too (some TPP libraries join an empty list with a space).
    const blank = await jsonBody(await env.tokenResponse(tpp, clientId, 'private_key_jwt', { scope: ' ' }), 200);
    assert.equal(blank['scope'], undefined);
    const got = await jsonBody(await env.manage('GET', clientId, { token: String(token['access_token']), cert: tpp.transport }), 200);
    assertIntegerTimes(got);
    const withScope = await jsonBody(await env.tokenResponse(tpp, clientId, 'private_key_jwt', { scope: 'accounts' }), 200);
    assert.ok(Number.isInteger(withScope['expires_in']));
    assert.equal(withScope['scope'], 'accounts');
  });

  test('a tls_client_auth_subject_dn mismatch names the DN expected, organizationIdentifier as a dotted OID', async () => {
    const tpp = env.aispPisp;
    // An OBWAC-style certificate: the organisation in organizationIdentifier (2.5.4.97).
    const cert = await issueClientCertificate(env.directory.issuingCa, {
      subject: `C=GB, O=Acme Accounts and Payments Ltd, organizationIdentifier=PSDGB-OB-${tpp.orgId}, CN=${tpp.softwareId}`,
      validityDays: 1,
    });
    const expected = `CN=${tpp.softwareId},2.5.4.97=PSDGB-OB-${tpp.orgId},O=Acme Accounts and Payments Ltd,C=GB`;
    assert.equal(certificateSubjectDn(cert.x509), expected);
    // What TPP tooling that drops organizationIdentifier registers.
    const claims = await env.validRequestClaims(tpp, {
      token_endpoint_auth_method: 'tls_client_auth',
      token_endpoint_auth_signing_alg: undefined,
      tls_client_auth_subject_dn: `CN=${tpp.softwareId},O=Acme Accounts and Payments Ltd,C=GB`,
    });
    const res = await env.register(tpp, claims, { cert });
    assert.deepEqual(await jsonBody(res, 400), {
      error: 'invalid_client_metadata',
      error_description: `tls_client_auth_subject_dn does not match the subject of the transport certificate presented; expected "${expected}"`,
    });
    // Registered as told, it works end to end.
    const ok = await jsonBody(await env.register(tpp, { ...claims, tls_client_auth_subject_dn: expected }, { cert }), 201);
    const token = await jsonBody(await env.tokenResponse(tpp, String(ok['client_id']), 'tls_client_auth', { cert }), 200);
    assert.equal(typeof token['access_token'], 'string');
  });
});

describe('with client_secret_basic and ES256 enabled', () => {
  let env: DcrEnvironment;
  before(async () => {
    env = await startDcrEnvironment({
      open_banking: {
        dcr: { token_endpoint_auth_methods: ['private_key_jwt', 'tls_client_auth', 'client_secret_basic'], signing_algorithms: ['PS256', 'ES256'] },
      },
    });
  });
  after(() => env?.close());

  const basic = (clientId: string, secret: string) =>
    `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const secretToken = (clientId: string, secret: string, cert = env.aispPisp.transport) =>
    env.ts.fetch('/oauth2/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
      body: 'grant_type=client_credentials&scope=accounts',
      cert: tlsOf(cert),
    });

  test('discovery and DCR agree: both algorithms, and the secret method', async () => {
    const d = await discovery(env);
    assertAlgorithms(d, ['PS256', 'ES256']);
    assert.deepEqual(d['token_endpoint_auth_methods_supported'], ['private_key_jwt', 'tls_client_auth', 'client_secret_basic']);
    const tpp = env.aispPisp;
    const body = await jsonBody(
      await env.register(
        tpp,
        await env.validRequestClaims(tpp, {
          token_endpoint_auth_signing_alg: 'ES256',
          id_token_signed_response_alg: 'ES256',
          request_object_signing_alg: 'ES256',
        }),
      ),
      201,
    );
    assert.equal(body['id_token_signed_response_alg'], 'ES256');
  });

  test('a client_secret_basic registration gets a secret of at most 36 characters that works, survives PUT, and is not stored', async () => {
    const tpp = env.aispPisp;
    const claims = async () => env.validRequestClaims(tpp, { token_endpoint_auth_method: 'client_secret_basic', token_endpoint_auth_signing_alg: undefined });
    const created = await jsonBody(await env.register(tpp, await claims()), 201);
    const clientId = String(created['client_id']);
    const secret = created['client_secret'];
    assert.equal(typeof secret, 'string');
    assert.ok((secret as string).length >= 32 && (secret as string).length <= 36, `36 characters at most: ${String(secret)}`);
    assert.equal(created['client_secret_expires_at'], 0);
    assert.equal(created['token_endpoint_auth_method'], 'client_secret_basic');
    assertIntegerTimes(created);

    // The secret authenticates, over the TPP's own certificate only.
    const token = await jsonBody(await secretToken(clientId, secret as string), 200);
    assert.equal((await jsonBody(await secretToken(clientId, `${String(secret).slice(0, -1)}x`), 401))['error'], 'invalid_client');
    const otherOrg = await secretToken(clientId, secret as string, env.cbpii.transport);
    assert.equal((await jsonBody(otherOrg, 401))['error'], 'invalid_client');

    const got = await jsonBody(await env.manage('GET', clientId, { token: String(token['access_token']), cert: tpp.transport }), 200);
    assert.equal(got['client_secret'], secret);
    assert.equal(got['client_secret_expires_at'], 0);
    const put = await jsonBody(
      await env.manage('PUT', clientId, { token: String(token['access_token']), cert: tpp.transport, body: await tpp.signRequest(await claims()) }),
      200,
    );
    assert.equal(put['client_secret'], secret, 'kept across PUT');
    assert.equal((await secretToken(clientId, secret as string)).status, 200);

    const stored = await env.ts.storage.oidc.find('Client', clientId);
    assert.ok(stored);
    assert.equal(JSON.stringify(stored.payload).includes(String(secret)), false, 'the secret is not in the stored client');
    assert.equal(stored.payload['client_secret'], undefined);
  });

  test('a private_key_jwt registration carries no secret', async () => {
    const tpp = env.cbpii;
    const created = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201);
    assert.equal(created['client_secret'], undefined);
    assert.equal(created['client_secret_expires_at'], undefined);
  });
});
