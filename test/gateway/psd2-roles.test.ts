/**
 * TPP roles from the certificate (ETSI TS 119 495 PSD2 qcStatement, as eIDAS QWACs and OBWACs carry
 * them): read from the extension, and, when present, what the gateway checks instead of the
 * software statement's roles.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { issueClientCertificate } from '../../src/crypto/pki.ts';
import { psd2Extension, psd2Roles } from '../../src/crypto/psd2-roles.ts';
import { createCertificateAuthority } from '../../src/crypto/pki.ts';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { OB_FILES, publishApi, type ServerFetch } from './support.ts';

test('the PSD2 roles of a certificate are read from its qcStatements; none without the statement', async () => {
  const ca = await createCertificateAuthority({ subject: 'CN=Test QTSP', validityDays: 1 });
  const qwac = await issueClientCertificate(ca, { subject: 'CN=tpp', validityDays: 1, keyType: 'ec', extensions: [psd2Extension(['PISP', 'AISP'])] });
  assert.deepEqual(psd2Roles(qwac.x509), ['AISP', 'PISP']);
  const all = await issueClientCertificate(ca, {
    subject: 'CN=tpp',
    validityDays: 1,
    keyType: 'ec',
    extensions: [psd2Extension(['ASPSP', 'CBPII', 'PISP', 'AISP'])],
  });
  assert.deepEqual(psd2Roles(all.x509), ['AISP', 'ASPSP', 'CBPII', 'PISP']);
  const plain = await issueClientCertificate(ca, { subject: 'CN=tpp', validityDays: 1, keyType: 'ec' });
  assert.equal(psd2Roles(plain.x509), undefined);
});

describe('through the gateway', () => {
  let env: DcrEnvironment;
  let backend: TestBackend;

  before(async () => {
    backend = await startTestBackend();
    env = await startDcrEnvironment();
    const fetchAdmin: ServerFetch = (path, init) => env.ts.fetch(path, init as never);
    await publishApi(fetchAdmin, OB_FILES.accounts, backend.url);
  });
  after(async () => {
    await env?.close();
    await backend?.close();
  });

  test('a certificate granting PISP only is refused the accounts API although the software statement says AISP', async () => {
    const tpp = env.aispPisp;
    const reg = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201);
    const clientId = String(reg['client_id']);
    // The same software (OU = org, CN = software) with a QWAC-style certificate from the directory's issuing CA.
    const qwac = await issueClientCertificate(env.directory.issuingCa, {
      subject: tpp.transport.x509.subject.split('\n').join(', '),
      validityDays: 1,
      extensions: [psd2Extension(['PISP'])],
    });
    const consent = (cert: Parameters<typeof tlsOf>[0], token: string) =>
      env.ts.fetch('/open-banking/v3.1/aisp/account-access-consents', {
        method: 'POST',
        body: '{}',
        cert: tlsOf(cert),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': randomUUID() },
      });
    const withQwac = await env.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts', cert: qwac });
    const refused = await consent(qwac, withQwac);
    const body = (await refused.json()) as Record<string, unknown>;
    assert.equal(refused.status, 403, JSON.stringify(body));
    assert.equal(body['Code'], 'GATEWAY_ROLE_MISSING');
    // With its plain transport certificate (no PSD2 statement) the software statement's roles count.
    const plain = await env.ccToken(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
    assert.equal((await consent(tpp.transport, plain)).status, 200);
  });
});
