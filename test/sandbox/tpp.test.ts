import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { certificateSubjectRdns } from '../../src/crypto/dn.ts';
import { createSandboxDirectory } from '../../src/sandbox/directory.ts';
import type { SandboxDirectory } from '../../src/sandbox/directory.ts';
import { createSandboxTpp, loadSandboxTpp, reissueSandboxTpp } from '../../src/sandbox/tpp.ts';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import { SSA_CLAIMS } from './claims.ts';

const BASE = 'https://127.0.0.1:9443';

describe('sandbox TPP', () => {
  let directory: SandboxDirectory;
  let tpp: SandboxTpp;

  before(async () => {
    directory = await createSandboxDirectory();
    tpp = await createSandboxTpp(directory, {
      name: 'Acme Payments Ltd',
      roles: ['AISP', 'PISP'],
      redirectUris: ['https://tpp.example.com/cb'],
      jwksBaseUrl: `${BASE}/`,
    });
  });

  it('gets OB-shaped organisation and software ids', async () => {
    assert.match(tpp.orgId, /^0015800001[0-9A-Za-z]{5}[A-Z0-5]{3}$/);
    assert.match(tpp.softwareId, /^[0-9A-Za-z]{22}$/);
    const fixed = await createSandboxTpp(directory, {
      name: 'Fixed',
      roles: ['CBPII'],
      redirectUris: ['https://f.example/cb'],
      jwksBaseUrl: BASE,
      orgId: '0015800001HQQrZAAX',
      softwareId: 'abc123',
    });
    assert.deepEqual([fixed.orgId, fixed.softwareId], ['0015800001HQQrZAAX', 'abc123']);
    await assert.rejects(
      createSandboxTpp(directory, { name: 'Bad', roles: ['AISP'], redirectUris: ['https://b.example/cb'], jwksBaseUrl: BASE, orgId: '../x' }),
      /orgId must be/,
    );
  });

  it('has a transport certificate from the issuing CA with the OB subject', () => {
    const cert = tpp.transport.x509;
    assert.equal(cert.checkIssued(directory.issuingCa.x509), true);
    assert.equal(cert.verify(directory.issuingCa.x509.publicKey), true);
    assert.equal(cert.publicKey.asymmetricKeyType, 'rsa');
    assert.deepEqual(
      certificateSubjectRdns(cert).map((rdn) => rdn.map((a) => [a.type, a.value])),
      [
        [['2.5.4.6', 'GB']],
        [['2.5.4.10', 'Acme Payments Ltd']],
        [['2.5.4.97', `PSDGB-OB-Unknown${tpp.orgId}`]],
        [['2.5.4.11', tpp.orgId]],
        [['2.5.4.3', tpp.softwareId]],
      ],
    );
    assert.equal(tpp.transport.chainPem, tpp.transport.certPem + directory.issuingCa.certPem);
  });

  it('publishes the signing key (use sig) and the transport certificate (use tls)', () => {
    const [sig, tls, ...rest] = tpp.softwareJwks.keys;
    assert.equal(rest.length, 0);
    assert.deepEqual({ use: sig!.use, alg: sig!.alg, kid: sig!.kid, d: sig!.d }, { use: 'sig', alg: 'PS256', kid: tpp.signingKey.kid, d: undefined });
    assert.equal(tls!.use, 'tls');
    assert.equal(typeof tls!.kid, 'string');
    assert.deepEqual(tls!.x5c, [tpp.transport.x509.raw.toString('base64'), directory.issuingCa.x509.raw.toString('base64')]);
    assert.equal(tls!['x5t#S256'], createHash('sha256').update(tpp.transport.x509.raw).digest('base64url'));
    assert.equal(tls!.n, tpp.transport.x509.publicKey.export({ format: 'jwk' }).n);
    assert.deepEqual(tpp.revokedJwks, { keys: [] });
  });

  it('mints an SSA signed by the directory with every standard claim', async () => {
    const ssa = await tpp.mintSsa();
    assert.deepEqual(decodeProtectedHeader(ssa), { alg: 'PS256', typ: 'JWT', kid: directory.kid });
    const { payload } = await jwtVerify(ssa, createLocalJWKSet(directory.jwks), { algorithms: ['PS256'], issuer: 'OpenDCR Sandbox Directory' });
    assert.deepEqual(Object.keys(payload).sort(), [...SSA_CLAIMS].sort());
    assert.equal(payload['software_jwks_endpoint'], `${BASE}/${tpp.orgId}/${tpp.softwareId}.jwks`);
    assert.equal(payload['software_jwks_revoked_endpoint'], `${BASE}/${tpp.orgId}/revoked/${tpp.softwareId}.jwks`);
    assert.equal(payload['org_jwks_endpoint'], `${BASE}/${tpp.orgId}/${tpp.orgId}.jwks`);
    assert.deepEqual(payload['software_roles'], ['AISP', 'PISP']);
    assert.deepEqual(payload['software_redirect_uris'], ['https://tpp.example.com/cb']);
    assert.equal(payload['software_environment'], 'sandbox');
    assert.equal(payload['org_status'], 'Active');
    assert.equal(payload['software_id'], tpp.softwareId);
    assert.equal(payload['org_id'], tpp.orgId);
    assert.equal(typeof payload.iat, 'number');
    assert.notEqual(decodeJwt(await tpp.mintSsa()).jti, payload.jti);
  });

  it('applies SSA overrides: replace, remove with undefined, add', async () => {
    const ssa = await tpp.mintSsa({ org_status: 'Revoked', software_roles: undefined, extra: 1 });
    const claims = decodeJwt(ssa);
    assert.equal(claims['org_status'], 'Revoked');
    assert.equal('software_roles' in claims, false);
    assert.equal(claims['extra'], 1);
  });

  it('mints bad SSA variants on request', async () => {
    const jwks = createLocalJWKSet(directory.jwks);
    const unsigned = await tpp.mintSsa({}, { alg: 'none' });
    assert.equal(unsigned.split('.')[2], '');
    assert.equal(decodeProtectedHeader(unsigned).alg, 'none');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await assert.rejects(jwtVerify(await tpp.mintSsa({}, { signingKey: other }), jwks), errors.JWSSignatureVerificationFailed);
    await assert.rejects(jwtVerify(await tpp.mintSsa({}, { kid: 'unknown' }), jwks), errors.JWKSNoMatchingKey);
    assert.equal('kid' in decodeProtectedHeader(await tpp.mintSsa({}, { kid: null })), false);
  });

  it('signs registration requests with its key, and bad variants on request', async () => {
    const jwks = createLocalJWKSet(tpp.softwareJwks);
    const request = await tpp.signRequest({ aud: 'https://as.example', software_statement: 'x' });
    assert.deepEqual(decodeProtectedHeader(request), { alg: 'PS256', typ: 'JWT', kid: tpp.signingKey.kid });
    const { payload } = await jwtVerify(request, jwks, { algorithms: ['PS256'], issuer: tpp.softwareId, audience: 'https://as.example' });
    assert.equal(payload.exp! - payload.iat!, 300);
    assert.equal(typeof payload.jti, 'string');
    assert.equal('iss' in decodeJwt(await tpp.signRequest({ iss: undefined })), false);

    // PKCS#1 v1.5 with the right key: valid RS256, refused where only PS256 is allowed.
    const rs256 = await tpp.signRequest({}, { alg: 'RS256' });
    await jwtVerify(rs256, createPublicKey(tpp.signingKey.key), { algorithms: ['RS256'] });
    await assert.rejects(jwtVerify(rs256, jwks, { algorithms: ['PS256'] }), errors.JOSEAlgNotAllowed);
    // HS256 keyed with the TPP's public key PEM (algorithm confusion).
    const hs256 = await tpp.signRequest({}, { alg: 'HS256' });
    const pem = createPublicKey(tpp.signingKey.key).export({ type: 'spki', format: 'pem' }).toString();
    await jwtVerify(hs256, new TextEncoder().encode(pem), { algorithms: ['HS256'] });
    await assert.rejects(jwtVerify(hs256, jwks), errors.JOSENotSupported);
    await assert.rejects(jwtVerify(await tpp.signRequest({}, { alg: 'none' }), jwks, { algorithms: ['PS256'] }), errors.JOSEAlgNotAllowed);
    await assert.rejects(jwtVerify(await tpp.signRequest({}, { kid: 'wrong' }), jwks), errors.JWKSNoMatchingKey);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await assert.rejects(jwtVerify(await tpp.signRequest({}, { key: other }), jwks), errors.JWSSignatureVerificationFailed);
    assert.equal(decodeProtectedHeader(await tpp.signRequest({}, { header: { typ: undefined, x5u: 'https://x' } })).typ, undefined);
  });

  it('moves a revoked key to the revoked JWKS', async () => {
    const t = await createSandboxTpp(directory, { name: 'Revoker', roles: ['AISP'], redirectUris: ['https://r.example/cb'], jwksBaseUrl: BASE });
    t.revokeKey(t.signingKey.kid);
    assert.deepEqual(
      t.softwareJwks.keys.map((k) => k.use),
      ['tls'],
    );
    assert.deepEqual(
      t.revokedJwks.keys.map((k) => k.kid),
      [t.signingKey.kid],
    );
    assert.throws(() => t.revokeKey('nope'), /no key with kid "nope"/);
  });

  it('round-trips through JSON and still signs verifiable requests', async () => {
    const t = await createSandboxTpp(directory, {
      name: 'Roundtrip',
      roles: ['PISP'],
      redirectUris: ['https://rt.example/cb'],
      jwksBaseUrl: BASE,
      environment: 'production',
    });
    t.revokeKey(t.softwareJwks.keys[1]!.kid!);
    const reloaded = loadSandboxTpp(directory, JSON.parse(JSON.stringify(t)));
    assert.deepEqual(reloaded.toJSON(), t.toJSON());
    assert.deepEqual(reloaded.ssaClaims, t.ssaClaims);
    assert.equal(reloaded.ssaClaims.software_mode, 'Live');
    assert.equal(reloaded.transport.x509.fingerprint256, t.transport.x509.fingerprint256);
    await jwtVerify(await reloaded.signRequest({}), createLocalJWKSet(t.softwareJwks), { algorithms: ['PS256'] });
    await jwtVerify(await reloaded.mintSsa(), createLocalJWKSet(directory.jwks), { algorithms: ['PS256'] });
    assert.throws(() => loadSandboxTpp(directory, { version: 2 }), /not a serialised sandbox TPP/);
  });

  it('reissues at another key set base: same ids and keys; with newKeys a new signing key and certificate, revoked keys kept', async () => {
    const original = await createSandboxTpp(directory, { name: 'Mover', roles: ['AISP'], redirectUris: ['https://m.example/cb'], jwksBaseUrl: BASE });
    const moved = await reissueSandboxTpp(directory, original, { jwksBaseUrl: 'https://localhost:7443/sandbox' });
    assert.equal(moved.ssaClaims.software_jwks_endpoint, `https://localhost:7443/sandbox/${original.orgId}/${original.softwareId}.jwks`);
    assert.deepEqual(
      [moved.orgId, moved.softwareId, moved.signingKey.kid, moved.transport.certPem],
      [original.orgId, original.softwareId, original.signingKey.kid, original.transport.certPem],
    );

    original.revokeKey(original.signingKey.kid);
    const renewed = await reissueSandboxTpp(directory, original, { newKeys: true });
    assert.equal(renewed.jwksBaseUrl, BASE, 'the base stays unless given');
    assert.deepEqual(
      [renewed.orgId, renewed.softwareId, renewed.transport.x509.subject],
      [original.orgId, original.softwareId, original.transport.x509.subject],
    );
    assert.notEqual(renewed.signingKey.kid, original.signingKey.kid);
    assert.notEqual(renewed.transport.x509.fingerprint256, original.transport.x509.fingerprint256);
    assert.deepEqual(
      renewed.revokedJwks.keys.map((k) => k.kid),
      [original.signingKey.kid],
    );
    assert.deepEqual(
      renewed.softwareJwks.keys.map((k) => k.use),
      ['sig', 'tls'],
    );
    const claims = decodeJwt(await renewed.signRequest({ aud: 'x' }));
    assert.equal(claims.iss, original.softwareId);
  });
});
