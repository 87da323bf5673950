/** The certificate step (src/gateway/steps/certificate.ts): a trusted transport certificate within its validity, or 401. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { certificate } from '../../../src/gateway/steps/certificate.ts';
import { createCertificateAuthority, issueClientCertificate } from '../../../src/crypto/pki.ts';
import { api, assertRefused, fakeCall, operation, transportCertificate } from './support.ts';

const routed = () => fakeCall({ match: { api: api(), operation: operation(), rest: '/accounts/a1' } });

test('a trusted certificate is added to the call', async () => {
  const cert = await transportCertificate('tpp');
  const call = routed();
  const seen: unknown[] = [];
  const certified = certificate(
    {
      clientCert: (req) => {
        seen.push(req);
        return cert;
      },
    },
    call,
  );
  assert.equal(certified.cert, cert);
  assert.deepEqual(seen, [call.req], "the request's own certificate");
});

test('none, or one the trust store does not vouch for: 401 CLIENT_CERT_REQUIRED', async () => {
  const untrusted = { ...(await transportCertificate('stranger')), authorized: false };
  for (const cert of [undefined, untrusted]) {
    const call = routed();
    await assertRefused(() => certificate({ clientCert: () => cert }, call), 'CLIENT_CERT_REQUIRED');
    assert.equal(call.cert, undefined);
  }
});

test('outside its validity: 401 CLIENT_CERT_EXPIRED, saying which', async () => {
  const ca = await createCertificateAuthority({ subject: 'CN=Old CA', validityDays: 30, now: new Date(Date.now() - 20 * 86_400_000) });
  const old = await issueClientCertificate(ca, { subject: 'CN=old', validityDays: 1, now: new Date(Date.now() - 10 * 86_400_000) });
  const cert = { pem: old.certPem, x509: old.x509, authorized: false, outsideValidity: true, source: 'tls' as const };
  await assertRefused(() => certificate({ clientCert: () => cert }, routed()), 'CLIENT_CERT_EXPIRED', /^the client \(transport\) certificate expired on /);
});
