import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { X509Certificate, createHash } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { certificateSubjectDn } from '../../src/crypto/dn.ts';
import { createSandboxDirectory, loadSandboxDirectory } from '../../src/sandbox/directory.ts';
import type { SandboxDirectory } from '../../src/sandbox/directory.ts';

describe('sandbox directory', () => {
  let directory: SandboxDirectory;

  before(async () => {
    directory = await createSandboxDirectory();
  });

  it('has a root CA and an issuing CA signed by it', () => {
    const { rootCa, issuingCa } = directory;
    assert.equal(certificateSubjectDn(rootCa.x509), 'CN=OpenDCR Sandbox Directory Root CA,O=OpenDCR Sandbox,C=GB');
    assert.equal(rootCa.x509.ca, true);
    assert.equal(issuingCa.x509.ca, true);
    assert.equal(issuingCa.x509.checkIssued(rootCa.x509), true);
    assert.equal(issuingCa.x509.verify(rootCa.x509.publicKey), true);
    assert.equal(directory.issuer, 'OpenDCR Sandbox Directory');
  });

  it('publishes its PS256 signing key with kid = x5t of the signing certificate', () => {
    const [jwk, ...rest] = directory.jwks.keys;
    assert.equal(rest.length, 0);
    const der = directory.signingCertificate.x509.raw;
    const x5t = createHash('sha1').update(der).digest('base64url');
    assert.equal(directory.kid, x5t);
    assert.deepEqual(
      { kty: jwk!.kty, use: jwk!.use, alg: jwk!.alg, kid: jwk!.kid, x5t: jwk!.x5t, d: jwk!.d },
      { kty: 'RSA', use: 'sig', alg: 'PS256', kid: x5t, x5t, d: undefined },
    );
    assert.equal(jwk!['x5t#S256'], createHash('sha256').update(der).digest('base64url'));
    assert.deepEqual(jwk!.x5c, [der.toString('base64'), directory.issuingCa.x509.raw.toString('base64')]);
    assert.equal(new X509Certificate(Buffer.from(jwk!.x5c![0]!, 'base64')).checkIssued(directory.issuingCa.x509), true);
    assert.equal(directory.signingCertificate.x509.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('signs JWTs that verify against its JWKS', async () => {
    const jws = await directory.sign({ iss: directory.issuer, iat: 1 });
    assert.deepEqual(decodeProtectedHeader(jws), { alg: 'PS256', typ: 'JWT', kid: directory.kid });
    const { payload } = await jwtVerify(jws, createLocalJWKSet(directory.jwks), { algorithms: ['PS256'] });
    assert.equal(payload.iss, directory.issuer);
  });

  it('round-trips through JSON', async () => {
    const reloaded = loadSandboxDirectory(JSON.parse(JSON.stringify(directory)));
    assert.equal(reloaded.issuer, directory.issuer);
    assert.equal(reloaded.kid, directory.kid);
    assert.deepEqual(reloaded.jwks, directory.jwks);
    assert.equal(reloaded.rootCa.certPem, directory.rootCa.certPem);
    assert.equal(reloaded.issuingCa.keyPem, directory.issuingCa.keyPem);
    const jws = await reloaded.sign({ iss: reloaded.issuer });
    await jwtVerify(jws, createLocalJWKSet(directory.jwks));
    assert.match(JSON.stringify(directory), /BEGIN PRIVATE KEY/);
  });

  it('refuses what is not a serialised directory', () => {
    assert.throws(() => loadSandboxDirectory({}), /not a serialised sandbox directory/);
    assert.throws(() => loadSandboxDirectory({ version: 1, issuer: 'x', rootCa: {} }), /rootCa must have certPem/);
  });

  it('takes its issuer name from options', async () => {
    const other = await createSandboxDirectory({ name: 'Acme, Test Directory' });
    assert.equal(other.issuer, 'Acme, Test Directory');
    assert.equal(certificateSubjectDn(other.rootCa.x509), 'CN=Acme\\, Test Directory Root CA,O=OpenDCR Sandbox,C=GB');
  });
});
