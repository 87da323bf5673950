/**
 * POST /open-banking/{version}/register, one test per rule of docs/dcr.md (media types, software
 * statements, the request JWT, metadata, transport certificate binding). Every rejection asserts
 * the status and the whole error body, and that it changed nothing: no registration or client
 * record, a `rejected` audit event carrying the same reason, and the request's jti still unused —
 * the corrected request with that jti is accepted.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { certificateSubjectDn } from '../../src/crypto/dn.ts';
import { createCertificateAuthority, issueClientCertificate } from '../../src/crypto/pki.ts';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { assertErrorResponse } from '../helpers/assert-error.ts';
import { jsonBody, startDcrEnvironment, TPP_REDIRECTS, type DcrEnvironment, type RegisterOptions } from '../helpers/dcr.ts';

type Claims = Record<string, unknown>;
interface Expected {
  status: number;
  error: string;
  description: string;
}

const SSA_MAX_AGE = 3600;
const now = () => Math.floor(Date.now() / 1000);
const otherRsaKey = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

let env: DcrEnvironment;
/** AISP + PISP. */
let tpp: SandboxTpp;
/** AISP only. */
let aisp: SandboxTpp;

before(async () => {
  env = await startDcrEnvironment({ open_banking: { dcr: { ssa_max_age: SSA_MAX_AGE, software_environments: ['sandbox'] } } });
  tpp = env.aispPisp;
  aisp = await env.addTpp({ name: 'Acme Accounts Only Ltd', roles: ['AISP'] });
});
after(() => env?.close());

const storage = () => env.ts.server.storage;
const clientCount = async () => (await storage().oidc.listIds('Client', 1000)).length;

/** Removes a registration made by a test, so each test starts with none for its software. */
async function forget(clientId: string): Promise<void> {
  await env.ts.server.clients.delete(clientId);
  await storage().registrations.delete(clientId);
}

/** Asserts 201 and returns the body; the registration is removed afterwards. */
async function accepted(res: Response): Promise<Record<string, unknown>> {
  const body = await jsonBody(res, 201);
  assert.equal(typeof body['client_id'], 'string');
  await forget(String(body['client_id']));
  return body;
}

/**
 * Sends a bad request (built around `jti`) and asserts the exact error, that nothing was
 * stored, the audit trail, and — unless `retry` is false — that the corrected request with
 * the same jti is then accepted.
 */
async function rejects(send: (jti: string) => Promise<Response>, expected: Expected, opts: { tpp?: SandboxTpp; retry?: boolean } = {}): Promise<void> {
  const owner = opts.tpp ?? tpp;
  const jti = randomUUID();
  const clientsBefore = await clientCount();
  await assertErrorResponse(await send(jti), expected.status, { error: expected.error, error_description: expected.description });

  assert.deepEqual(await storage().registrations.listBySoftware(owner.softwareId), [], 'no registration stored');
  assert.equal(await clientCount(), clientsBefore, 'no client created');
  const [last] = await storage().audit.list({ limit: 1 });
  assert.equal(last?.event, 'rejected');
  assert.equal(last?.method, 'POST');
  assert.equal(last?.clientId, null);
  assert.equal(last?.reason, `${expected.error}: ${expected.description}`);

  if (opts.retry === false) return;
  const fixed = await accepted(await env.register(owner, await env.validRequestClaims(owner, { jti })));
  assert.deepEqual(await storage().registrations.listBySoftware(owner.softwareId), []);
  assert.equal(fixed['software_id'], owner.softwareId);
}

/** The valid request with `overrides`, signed by `who` (default the AISP+PISP TPP). */
const withClaims =
  (overrides: Claims | (() => Promise<Claims>), opts: RegisterOptions & { who?: SandboxTpp } = {}) =>
  async (jti: string) => {
    const who = opts.who ?? tpp;
    const extra = typeof overrides === 'function' ? await overrides() : overrides;
    return env.register(who, await env.validRequestClaims(who, { jti, ...extra }), opts);
  };

const metadataError = (description: string): Expected => ({ status: 400, error: 'invalid_client_metadata', description });
const redirectError = (description: string): Expected => ({ status: 400, error: 'invalid_redirect_uri', description });
const ssaError = (description: string): Expected => ({ status: 400, error: 'invalid_software_statement', description });
const unapproved = (description: string): Expected => ({ status: 400, error: 'unapproved_software_statement', description });

describe('media type and body', () => {
  for (const contentType of ['application/jose', 'application/jwt', 'application/jwt; charset=ISO-8859-1']) {
    test(`Content-Type ${contentType} is accepted`, async () => {
      const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp), { contentType }));
      assert.equal(body['software_id'], tpp.softwareId);
    });
  }

  test('Content-Type application/json is rejected', () =>
    rejects(
      withClaims({}, { contentType: 'application/json' }),
      metadataError('Content-Type must be application/jose or application/jwt (a signed JWT), not "application/json"'),
    ));

  test('a missing Content-Type is rejected', () =>
    rejects(withClaims({}, { contentType: null }), metadataError('Content-Type must be application/jose or application/jwt (a signed JWT), not missing')));

  test('a JSON body is not a JWS', () =>
    rejects(
      () => env.register(tpp, {}, { raw: JSON.stringify({ redirect_uris: [TPP_REDIRECTS[0]] }) }),
      metadataError('the registration request is not a compact JWS (three base64url parts separated by dots)'),
    ));

  test('three parts that are not base64url JSON', () =>
    rejects(
      () => env.register(tpp, {}, { raw: 'abc.def.ghi' }),
      metadataError('the registration request could not be decoded: its header and payload must be base64url-encoded JSON objects'),
    ));

  test('an empty body', () => rejects(() => env.register(tpp, {}, { raw: '' }), metadataError('the registration request is missing')));
});

describe('transport certificate', () => {
  const required = { status: 401, error: 'invalid_client', description: 'a client (transport) certificate issued by a trusted CA is required over mutual TLS' };

  test('no client certificate → 401', () => rejects(withClaims({}, { cert: null }), required));

  test('a certificate from an untrusted CA → 401', async () => {
    const rogueCa = await createCertificateAuthority({ subject: 'C=GB, O=Rogue, CN=Rogue Root CA', validityDays: 2 });
    const rogue = await issueClientCertificate(rogueCa, { subject: `C=GB, O=Rogue, OU=${tpp.orgId}, CN=${tpp.softwareId}`, validityDays: 2 });
    await rejects(withClaims({}, { cert: rogue }), required);
    // Expired as well: still untrusted, not "expired" (its presented root anchors nothing).
    const rogueExpired = await issueClientCertificate(rogueCa, {
      subject: `C=GB, O=Rogue, OU=${tpp.orgId}, CN=${tpp.softwareId}`,
      validityDays: 1,
      now: new Date(Date.now() - 3 * 86_400_000),
    });
    await rejects(withClaims({}, { cert: rogueExpired }), required);
  });

  // These once got the trusted-CA text above, as if the CA were unknown.
  test('an expired or a not yet valid certificate of the TPP from the trusted CA → 401 saying which', async () => {
    const subject = tpp.transport.x509.subject.split('\n').join(', ');
    const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const expired = await issueClientCertificate(env.directory.issuingCa, {
      subject,
      validityDays: 1,
      keyType: 'rsa',
      now: new Date(Date.now() - 3 * 86_400_000),
    });
    await rejects(withClaims({}, { cert: expired }), {
      status: 401,
      error: 'invalid_client',
      description: `the client (transport) certificate expired on ${iso(expired.x509.validToDate)}; present a current one`,
    });
    const early = await issueClientCertificate(env.directory.issuingCa, {
      subject,
      validityDays: 1,
      keyType: 'rsa',
      now: new Date(Date.now() + 3 * 86_400_000),
    });
    await rejects(withClaims({}, { cert: early }), {
      status: 401,
      error: 'invalid_client',
      description: `the client (transport) certificate is not valid until ${iso(early.x509.validFromDate)}`,
    });
  });

  test('the transport certificate of another TPP (binding fails)', () =>
    rejects(
      withClaims({}, { cert: env.cbpii.transport }),
      metadataError(`the transport certificate belongs to neither the software JWKS (use:tls) nor organisation ${tpp.orgId} / software ${tpp.softwareId}`),
    ));
});

describe('software statement (SSA)', () => {
  const ssa =
    (overrides: Claims = {}, opts: Parameters<SandboxTpp['mintSsa']>[1] = {}) =>
    async () => ({ software_statement: await tpp.mintSsa(overrides, opts) });

  test('missing', () => rejects(withClaims({ software_statement: undefined }), ssaError('software_statement is missing')));

  test('not a JWS', () =>
    rejects(
      withClaims({ software_statement: 'not a software statement' }),
      ssaError('software_statement is not a compact JWS (three base64url parts separated by dots)'),
    ));

  for (const alg of ['none', 'RS256', 'HS256']) {
    test(`alg ${alg}`, () => rejects(withClaims(ssa({}, { alg })), ssaError(`software_statement must be signed with PS256 or ES256, not ${alg}`)));
  }

  test('an untrusted issuer', () =>
    rejects(withClaims(ssa({ iss: 'Rogue Directory Ltd' })), unapproved('software_statement issuer "Rogue Directory Ltd" is not a trusted directory')));

  test('an unknown software_environment', () =>
    rejects(withClaims(ssa({ software_environment: 'test' })), unapproved('software_statement software_environment must be "sandbox" or "production"')));

  test('an environment this server does not accept (production)', () =>
    rejects(
      withClaims(ssa({ software_environment: 'production' })),
      unapproved('software statements for the production environment are not accepted by this server'),
    ));

  test('signed by another key under the directory kid', () =>
    rejects(withClaims(ssa({}, { signingKey: otherRsaKey() })), ssaError('the signature of the software_statement is invalid')));

  test('a kid the directory does not publish', () =>
    rejects(
      withClaims(ssa({}, { kid: 'unknown-directory-kid' })),
      ssaError(`no key in ${env.host.directoryJwksUrl} matches the kid of the software_statement`),
    ));

  test('no kid in its header', () =>
    rejects(withClaims(ssa({}, { kid: null })), ssaError('the software_statement JWS header must carry the kid of the directory key that signed it')));

  test('iat in the future', () =>
    rejects(
      withClaims(async () => ({ software_statement: await tpp.mintSsa({ iat: now() + 600 }) })),
      ssaError('software_statement iat is in the future'),
    ));

  test('exp passed', () =>
    rejects(
      withClaims(async () => ({ software_statement: await tpp.mintSsa({ iat: now() - 1200, exp: now() - 600 }) })),
      ssaError('software_statement has expired'),
    ));

  test(`older than ssa_max_age (${SSA_MAX_AGE} s)`, () =>
    rejects(
      withClaims(async () => ({ software_statement: await tpp.mintSsa({ iat: now() - SSA_MAX_AGE - 600 }) })),
      ssaError(`software_statement is older than ${SSA_MAX_AGE} seconds; ask the directory for a new one`),
    ));

  test('an SSA within ssa_max_age is accepted', async () => {
    await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { software_statement: await tpp.mintSsa({ iat: now() - SSA_MAX_AGE + 600 }) })));
  });

  for (const [claim, description] of [
    ['software_id', 'software_statement claim software_id is missing'],
    ['org_id', 'software_statement claim org_id is missing'],
    ['software_jwks_endpoint', 'software_statement claim software_jwks_endpoint must be an https URL'],
    ['software_redirect_uris', 'software_statement claim software_redirect_uris must be a non-empty array of URLs'],
    ['software_roles', 'software_statement claim software_roles must be a non-empty array'],
  ] as const) {
    test(`required claim ${claim} missing`, () => rejects(withClaims(ssa({ [claim]: undefined })), ssaError(description)));
  }

  test('the same SSA registers twice: its jti is not single-use (TPPs re-register)', async () => {
    const software_statement = await tpp.mintSsa();
    const first = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { software_statement })));
    const second = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { software_statement })));
    assert.notEqual(first['client_id'], second['client_id']);
  });

  test('an SSA whose own software_redirect_uris are invalid', async () => {
    const bad = await env.addTpp({ name: 'Plain HTTP Ltd', roles: ['AISP'], redirectUris: ['http://plain.example.com/cb'] });
    await rejects(withClaims({}, { who: bad }), redirectError('redirect URI http://plain.example.com/cb must use https'), { tpp: bad, retry: false });
  });

  test('org_status Revoked', () =>
    rejects(withClaims(ssa({ org_status: 'Revoked' })), unapproved('the organisation\'s status in the directory is "Revoked", not Active')));
});

describe('registration request JWT', () => {
  test('alg none', () => rejects(withClaims({}, { sign: { alg: 'none' } }), metadataError('the registration request must be signed with PS256, not none')));

  test('HS256 keyed with the TPP public key (algorithm confusion)', () =>
    rejects(withClaims({}, { sign: { alg: 'HS256' } }), metadataError('the registration request must be signed with PS256, not HS256')));

  test('RS256', () => rejects(withClaims({}, { sign: { alg: 'RS256' } }), metadataError('the registration request must be signed with PS256, not RS256')));

  test('ES256 while only PS256 is enabled', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    return rejects(withClaims({}, { sign: { alg: 'ES256', key: ec } }), metadataError('the registration request must be signed with PS256, not ES256'));
  });

  test('no kid in the header', () =>
    rejects(
      withClaims({}, { sign: { kid: null } }),
      metadataError("the registration request JWS header must carry the kid of its signing key in the software statement's software_jwks_endpoint"),
    ));

  test('a kid that is not in the software JWKS', () =>
    rejects(
      withClaims({}, { sign: { kid: 'not-in-the-software-jwks' } }),
      metadataError(`no key in ${tpp.ssaClaims.software_jwks_endpoint} matches the kid of the registration request`),
    ));

  test('signed by another key under the TPP kid', () =>
    rejects(withClaims({}, { sign: { key: otherRsaKey() } }), metadataError('the signature of the registration request is invalid')));

  test('a key in the request header (jwk, jku, x5u) is never used', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: tpp.signingKey.kid };
    await rejects(
      withClaims({}, { sign: { key: privateKey, header: { jwk, jku: 'https://attacker.example.com/jwks', x5u: 'https://attacker.example.com/cert.pem' } } }),
      metadataError('the signature of the registration request is invalid'),
    );
  });

  test('iss is not the software_id', () =>
    rejects(withClaims({ iss: env.cbpii.softwareId }), metadataError('iss must equal the software_id of the software statement')));

  test('aud not allowed', () => {
    const base = env.url;
    const allowed = [
      base,
      `${base}/`,
      ...['v3.1', 'v3.2', 'v3.3'].flatMap((v) => [`${base}/open-banking/${v}/register`, `${base}/open-banking/${v}.0/register`]),
    ];
    return rejects(withClaims({ aud: 'https://another-bank.example.com' }), metadataError(`aud must be one of: ${allowed.join(', ')}`));
  });

  test('aud = the registration endpoint is accepted', async () => {
    await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { aud: `${env.url}/open-banking/v3.3/register` })));
  });

  test('iat in the future', () =>
    rejects(
      withClaims(() => Promise.resolve({ iat: now() + 600, exp: now() + 900 })),
      metadataError('iat is in the future'),
    ));

  test('exp passed', () =>
    rejects(
      withClaims(() => Promise.resolve({ iat: now() - 900, exp: now() - 600 })),
      metadataError('the registration request has expired (exp)'),
    ));

  test('exp not after iat', () =>
    rejects(
      withClaims(() => Promise.resolve({ iat: now(), exp: now() })),
      metadataError('exp must be after iat'),
    ));

  test('lifetime above request_max_lifetime (86400 s)', () =>
    rejects(
      withClaims(() => Promise.resolve({ iat: now(), exp: now() + 86401 })),
      metadataError('the registration request may be valid for at most 86400 seconds (exp - iat, exp - nbf and exp - now)'),
    ));

  test('a one-hour lifetime is accepted', async () => {
    const t = now();
    await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { iat: t, exp: t + 3600 })));
  });

  test('jti missing', () => rejects(withClaims({ jti: undefined }), metadataError('jti is missing or invalid')));

  test('jti replayed after a successful registration', async () => {
    const jti = randomUUID();
    const first = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { jti })));
    assert.equal(first['software_id'], tpp.softwareId);
    await rejects(withClaims({ jti }), metadataError('jti has already been used: sign a new registration request'), { retry: false });
  });

  test("software_id other than the SSA's", () =>
    rejects(withClaims({ software_id: env.cbpii.softwareId }), metadataError('software_id must equal the software_id of the software statement')));

  test("software_id equal to the SSA's is accepted", async () => {
    await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { software_id: tpp.softwareId })));
  });

  test('a signing key the directory has revoked', async () => {
    const revoker = await env.addTpp({ name: 'Revoked Key Ltd', roles: ['AISP'] });
    // The software JWKS is cached once a signature has been checked against it (max-age 300),
    // so the revoked key still verifies: the revoked list, fetched afterwards, must catch it.
    await rejects(withClaims({}, { who: revoker, sign: { key: otherRsaKey() } }), metadataError('the signature of the registration request is invalid'), {
      tpp: revoker,
      retry: false,
    });
    revoker.revokeKey(revoker.signingKey.kid);
    await rejects(
      withClaims({ scope: 'openid accounts' }, { who: revoker }),
      unapproved(`the key ${revoker.signingKey.kid} that signed the registration request has been revoked`),
      { tpp: revoker, retry: false },
    );
  });
});

describe('redirect_uris', () => {
  test('not a subset of the SSA software_redirect_uris', () =>
    rejects(
      withClaims({ redirect_uris: [TPP_REDIRECTS[0], 'https://elsewhere.example.com/cb'] }),
      redirectError("redirect URI https://elsewhere.example.com/cb is not one of the software statement's software_redirect_uris"),
    ));

  test('http', () =>
    rejects(withClaims({ redirect_uris: ['http://tpp.example.com/cb'] }), redirectError('redirect URI http://tpp.example.com/cb must use https')));

  for (const uri of ['https://localhost/cb', 'https://127.0.0.1/cb']) {
    test(`loopback ${uri}`, () => rejects(withClaims({ redirect_uris: [uri] }), redirectError(`redirect URI ${uri} must not point at localhost`)));
  }

  test('a fragment', () =>
    rejects(
      withClaims({ redirect_uris: ['https://tpp.example.com/cb#frag'] }),
      redirectError('redirect URI https://tpp.example.com/cb#frag must not contain a fragment'),
    ));

  test('longer than 256 characters', () =>
    rejects(withClaims({ redirect_uris: [`https://tpp.example.com/${'a'.repeat(240)}`] }), redirectError('a redirect URI may be at most 256 characters')));

  test('omitted: the whole SSA list is registered', async () => {
    const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { redirect_uris: undefined })));
    assert.deepEqual(body['redirect_uris'], [...TPP_REDIRECTS]);
  });
});

describe('token endpoint authentication', () => {
  test('token_endpoint_auth_method missing', () =>
    rejects(withClaims({ token_endpoint_auth_method: undefined }), metadataError('token_endpoint_auth_method is required')));

  for (const method of ['client_secret_basic', 'self_signed_tls_client_auth', 'magic_link']) {
    test(`token_endpoint_auth_method ${method} (not offered or unknown)`, () =>
      rejects(
        withClaims({ token_endpoint_auth_method: method }),
        metadataError('token_endpoint_auth_method must be one of: private_key_jwt, tls_client_auth'),
      ));
  }

  test('token_endpoint_auth_signing_alg missing for private_key_jwt', () =>
    rejects(withClaims({ token_endpoint_auth_signing_alg: undefined }), metadataError('token_endpoint_auth_signing_alg is required')));

  test('token_endpoint_auth_signing_alg RS256', () =>
    rejects(
      withClaims({ token_endpoint_auth_signing_alg: 'RS256' }),
      metadataError('token_endpoint_auth_signing_alg must be PS256 (FAPI 1.0 Advanced), not "RS256"'),
    ));

  const tls = { token_endpoint_auth_method: 'tls_client_auth', token_endpoint_auth_signing_alg: undefined };

  test('tls_client_auth without tls_client_auth_subject_dn', () =>
    rejects(withClaims(tls), metadataError('tls_client_auth_subject_dn is required for tls_client_auth')));

  test('tls_client_auth_subject_dn not matching the presented certificate', () =>
    rejects(
      withClaims({ ...tls, tls_client_auth_subject_dn: `CN=${env.cbpii.softwareId},OU=${env.cbpii.orgId},O=Acme Funds Confirmation Ltd,C=GB` }),
      metadataError(
        `tls_client_auth_subject_dn does not match the subject of the transport certificate presented; expected "${certificateSubjectDn(tpp.transport.x509)}"`,
      ),
    ));

  test('tls_client_auth_subject_dn with the attributes in another order is accepted', async () => {
    const dn = `OU=${tpp.orgId}, C=GB, CN=${tpp.softwareId}, organizationIdentifier=PSDGB-OB-Unknown${tpp.orgId}, O=Acme Accounts and Payments Ltd`;
    const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { ...tls, tls_client_auth_subject_dn: dn })));
    assert.equal(body['token_endpoint_auth_method'], 'tls_client_auth');
    assert.equal(body['tls_client_auth_subject_dn'], dn);
    assert.equal(body['token_endpoint_auth_signing_alg'], undefined);
  });
});

describe('grant_types and response_types', () => {
  test('grant_types missing', () => rejects(withClaims({ grant_types: undefined }), metadataError('grant_types must be a non-empty array')));

  for (const grant of ['password', 'urn:openid:params:grant-type:ciba']) {
    test(`grant type ${grant}`, () =>
      rejects(
        withClaims({ grant_types: ['client_credentials', grant] }),
        metadataError(`grant type ${grant} is not supported; use client_credentials, authorization_code and refresh_token`),
      ));
  }

  test('refresh_token without authorization_code', () =>
    rejects(
      withClaims({ grant_types: ['client_credentials', 'refresh_token'], response_types: undefined }),
      metadataError('the refresh_token grant requires the authorization_code grant'),
    ));

  for (const type of ['token', 'id_token']) {
    test(`response type ${type}`, () =>
      rejects(
        withClaims({ response_types: [type] }),
        metadataError(`response type "${type}" is not supported; FAPI allows "code id_token" and "code" (with JARM)`),
      ));
  }

  for (const type of ['code id_token', 'id_token code']) {
    test(`response type "${type}" is accepted as "code id_token"`, async () => {
      const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { response_types: [type] })));
      assert.deepEqual(body['response_types'], ['code id_token']);
    });
  }

  test('response_types omitted with authorization_code: "code id_token"', async () => {
    const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { response_types: undefined })));
    assert.deepEqual(body['response_types'], ['code id_token']);
  });

  test('response_types without the authorization_code grant', () =>
    rejects(
      withClaims({ grant_types: ['client_credentials'], response_types: ['code id_token'] }),
      metadataError('response_types require the authorization_code grant'),
    ));

  test('client_credentials only, no response_types, is accepted', async () => {
    const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { grant_types: ['client_credentials'], response_types: undefined })));
    assert.deepEqual(body['grant_types'], ['client_credentials']);
    assert.deepEqual(body['response_types'], []);
  });

  test('backchannel_* claims without CIBA', () =>
    rejects(
      withClaims({ backchannel_token_delivery_mode: 'poll' }),
      metadataError('backchannel_token_delivery_mode is only used with the CIBA grant, which this server does not offer'),
    ));
});

describe('scope', () => {
  test('a scope beyond the SSA roles (payments for an AISP-only TPP)', () =>
    rejects(
      withClaims({ scope: 'openid accounts payments' }, { who: aisp }),
      metadataError('scope payments needs the PISP role, which the software statement does not grant'),
      { tpp: aisp },
    ));

  test('scope tokens in any order', async () => {
    const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { scope: 'payments accounts openid' })));
    assert.equal(body['scope'], 'payments accounts openid');
  });

  test('an unknown scope', () =>
    rejects(withClaims({ scope: 'openid accounts transfers' }), metadataError('scope transfers is not offered to Open Banking clients')));

  test('omitted: derived from the roles', async () => {
    const both = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { scope: undefined })));
    assert.equal(both['scope'], 'openid accounts payments');
    const cbpii = await accepted(await env.register(env.cbpii, await env.validRequestClaims(env.cbpii, { scope: undefined })));
    assert.equal(cbpii['scope'], 'openid fundsconfirmations');
  });

  test('the v3.1 array form is accepted on v3.1', async () => {
    const body = await accepted(await env.register(tpp, await env.validRequestClaims(tpp, { scope: ['openid', 'accounts'] }), { version: 'v3.1' }));
    assert.equal(body['scope'], 'openid accounts');
  });
});

describe('application type and signing algorithms', () => {
  test('application_type missing', () => rejects(withClaims({ application_type: undefined }), metadataError('application_type must be one of: web, mobile')));

  test('application_type native (a v3.4 value) on v3.3', () =>
    rejects(withClaims({ application_type: 'native' }), metadataError('application_type must be one of: web, mobile')));

  test('id_token_signed_response_alg RS256', () =>
    rejects(
      withClaims({ id_token_signed_response_alg: 'RS256' }),
      metadataError('id_token_signed_response_alg must be PS256 (FAPI 1.0 Advanced), not "RS256"'),
    ));

  test('id_token_signed_response_alg missing', () =>
    rejects(withClaims({ id_token_signed_response_alg: undefined }), metadataError('id_token_signed_response_alg is required')));

  test('request_object_signing_alg none', () =>
    rejects(withClaims({ request_object_signing_alg: 'none' }), metadataError('request_object_signing_alg must be PS256 (FAPI 1.0 Advanced), not "none"')));

  test('request_object_signing_alg missing', () =>
    rejects(withClaims({ request_object_signing_alg: undefined }), metadataError('request_object_signing_alg is required')));
});

describe('routing', () => {
  test('GET /register → 405 JSON with Allow: POST', async () => {
    const res = await env.ts.fetch('/open-banking/v3.3/register', { cert: { certPem: tpp.transport.chainPem, keyPem: tpp.transport.keyPem } });
    assert.equal(res.headers.get('allow'), 'POST');
    await assertErrorResponse(res, 405, { error: 'invalid_request', error_description: 'method GET is not allowed here; use POST' });
  });

  test('an unknown version /open-banking/v9.9/register → 404 JSON', async () => {
    const res = await env.ts.fetch('/open-banking/v9.9/register', {
      method: 'POST',
      headers: { 'content-type': 'application/jose' },
      body: await tpp.signRequest(await env.validRequestClaims(tpp)),
      cert: { certPem: tpp.transport.chainPem, keyPem: tpp.transport.keyPem },
    });
    await assertErrorResponse(res, 404, { error: 'not_found', error_description: 'unknown DCR API version v9.9; use v3.1, v3.2 or v3.3' });
    assert.deepEqual(await storage().registrations.listBySoftware(tpp.softwareId), []);
  });
});

describe('single_registration_per_software = true', () => {
  let single: DcrEnvironment;
  before(async () => {
    single = await startDcrEnvironment({ open_banking: { dcr: { single_registration_per_software: true } } });
  });
  after(() => single?.close());

  test('a second POST for the same software is rejected; after DELETE the same request is accepted', async () => {
    const t = single.aispPisp;
    const first = await jsonBody(await single.register(t, await single.validRequestClaims(t)), 201);
    const clientId = String(first['client_id']);

    const second = await single.validRequestClaims(t, { jti: randomUUID() });
    const clientsBefore = (await single.ts.server.storage.oidc.listIds('Client', 1000)).length;
    await assertErrorResponse(await single.register(t, second), 400, {
      error: 'invalid_client_metadata',
      error_description: 'this software already has an active registration; update it with PUT or delete it first',
    });
    assert.deepEqual(
      (await single.ts.server.storage.registrations.listBySoftware(t.softwareId)).map((r) => r.clientId),
      [clientId],
    );
    assert.equal((await single.ts.server.storage.oidc.listIds('Client', 1000)).length, clientsBefore);
    const [last] = await single.ts.server.storage.audit.list({ limit: 1 });
    assert.equal(last?.event, 'rejected');
    assert.equal(last?.softwareId, t.softwareId);

    // Another software is not affected.
    const other = await jsonBody(
      await single.register(single.cbpii, await single.validRequestClaims(single.cbpii, { scope: 'openid fundsconfirmations' })),
      201,
    );
    assert.equal(other['software_id'], single.cbpii.softwareId);

    const token = await single.ccToken(t, clientId, 'private_key_jwt');
    assert.equal((await single.manage('DELETE', clientId, { token, cert: t.transport })).status, 204);
    // The rejected request did not use up its jti.
    const again = await jsonBody(await single.register(t, second), 201);
    assert.notEqual(again['client_id'], clientId);
  });
});
