import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate } from '../../src/crypto/pki.ts';
import type { IssuedCertificate } from '../../src/crypto/pki.ts';
import { DnParseError, certificateSubjectDn } from '../../src/crypto/dn.ts';

const OB_SUBJECT = 'C=GB, O=OpenBanking, 2.5.4.97=PSDGB-OB-Unknown0015800001HQQrZAAX, OU=0015800001HQQrZAAX, CN=2kiXQyo0tedjW2somjSgH7';

const parsed = (cert: IssuedCertificate) => new x509.X509Certificate(cert.certPem);
const countCerts = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
const keyMatches = (cert: IssuedCertificate) =>
  createPublicKey(createPrivateKey(cert.keyPem))
    .export({ type: 'spki', format: 'der' })
    .equals(cert.x509.publicKey.export({ type: 'spki', format: 'der' }));

function skiOf(cert: IssuedCertificate): string {
  return parsed(cert).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
}
function akiOf(cert: IssuedCertificate): string | undefined {
  return parsed(cert).getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId;
}

describe('pki', () => {
  let root: IssuedCertificate;
  let issuing: IssuedCertificate;
  let server: IssuedCertificate;
  let client: IssuedCertificate;

  before(async () => {
    root = await createCertificateAuthority({ subject: 'C=GB, O=Test, CN=Test Root', validityDays: 365 });
    issuing = await createCertificateAuthority({ subject: 'C=GB, O=Test, CN=Test Issuing CA', validityDays: 180, issuer: root, keyType: 'rsa' });
    server = await issueServerCertificate(issuing, { dnsNames: ['as.example.com', 'localhost'], ipAddresses: ['127.0.0.1', '::1'], validityDays: 30 });
    client = await issueClientCertificate(issuing, { subject: OB_SUBJECT, validityDays: 30 });
  });

  describe('createCertificateAuthority', () => {
    it('creates a self-signed EC P-256 root with critical CA basic constraints', () => {
      assert.equal(root.x509.ca, true);
      assert.equal(root.x509.checkIssued(root.x509), true);
      assert.equal(root.x509.verify(root.x509.publicKey), true);
      assert.equal(root.x509.publicKey.asymmetricKeyType, 'ec');
      assert.equal(root.x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      const bc = parsed(root).getExtension(x509.BasicConstraintsExtension)!;
      assert.equal(bc.ca, true);
      assert.equal(bc.critical, true);
    });

    it('sets keyCertSign and cRLSign key usage and key identifiers', () => {
      const ku = parsed(root).getExtension(x509.KeyUsagesExtension)!;
      assert.equal(ku.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
      assert.match(skiOf(root), /^[0-9a-f]{40}$/);
      assert.equal(akiOf(root), skiOf(root));
    });

    it('signs an intermediate with the issuer, whose key identifier it names', () => {
      assert.equal(issuing.x509.ca, true);
      assert.equal(issuing.x509.checkIssued(root.x509), true);
      assert.equal(issuing.x509.verify(root.x509.publicKey), true);
      assert.equal(issuing.x509.issuer, root.x509.subject);
      assert.equal(issuing.x509.publicKey.asymmetricKeyType, 'rsa');
      assert.equal(akiOf(issuing), skiOf(root));
      assert.notEqual(skiOf(issuing), skiOf(root));
    });

    it('leaves the root out of chains', () => {
      assert.equal(root.chainPem, root.certPem);
      assert.equal(issuing.chainPem, issuing.certPem);
      assert.equal(countCerts(server.chainPem), 2);
      assert.equal(server.chainPem, server.certPem + issuing.certPem);
    });

    it('returns PKCS#8 keys that match the certificates', () => {
      for (const cert of [root, issuing, server, client]) {
        assert.match(cert.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
        assert.equal(keyMatches(cert), true);
      }
    });

    it('refuses a leaf certificate as issuer', async () => {
      await assert.rejects(createCertificateAuthority({ subject: 'CN=x', validityDays: 1, issuer: client }), /not a CA/);
    });

    it('does not outlive its issuer', async () => {
      const child = await createCertificateAuthority({ subject: 'CN=Long', validityDays: 3650, issuer: issuing });
      assert.equal(child.x509.validToDate.getTime(), issuing.x509.validToDate.getTime());
    });
  });

  describe('serial numbers', () => {
    it('are random, positive and 16 bytes', () => {
      const serials = [root, issuing, server, client].map((c) => c.x509.serialNumber);
      for (const serial of serials) {
        assert.match(serial, /^[0-9A-F]{32}$/);
        assert.ok(Number.parseInt(serial[0]!, 16) < 8, 'high bit clear');
      }
      assert.equal(new Set(serials).size, serials.length);
    });
  });

  describe('issueServerCertificate', () => {
    it('issues a serverAuth certificate with DNS and IP SANs', () => {
      assert.equal(server.x509.ca, false);
      assert.deepEqual(server.x509.keyUsage, ['1.3.6.1.5.5.7.3.1']);
      assert.equal(server.x509.checkHost('as.example.com'), 'as.example.com');
      assert.equal(server.x509.checkHost('localhost'), 'localhost');
      assert.equal(server.x509.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(server.x509.checkIP('::1'), '::1');
      assert.equal(server.x509.checkHost('other.example.com'), undefined);
      assert.equal(server.x509.checkIssued(issuing.x509), true);
      assert.equal(server.x509.verify(issuing.x509.publicKey), true);
      assert.equal(server.x509.publicKey.asymmetricKeyType, 'ec');
      assert.equal(akiOf(server), skiOf(issuing));
    });

    it('needs at least one valid name', async () => {
      await assert.rejects(issueServerCertificate(root, { dnsNames: [], ipAddresses: [], validityDays: 1 }), TypeError);
      await assert.rejects(issueServerCertificate(root, { dnsNames: [], ipAddresses: ['localhost'], validityDays: 1 }), TypeError);
    });
  });

  describe('issueClientCertificate', () => {
    it('issues an RSA 2048 / SHA-256 clientAuth certificate by default', () => {
      assert.equal(client.x509.ca, false);
      assert.deepEqual(client.x509.keyUsage, ['1.3.6.1.5.5.7.3.2']);
      assert.equal(client.x509.publicKey.asymmetricKeyType, 'rsa');
      assert.equal(client.x509.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
      assert.equal((parsed(client).signatureAlgorithm as unknown as { name: string }).name, 'RSASSA-PKCS1-v1_5');
      assert.equal((parsed(client).signatureAlgorithm as { hash: { name: string } }).hash.name, 'SHA-256');
      assert.equal(client.x509.checkIssued(issuing.x509), true);
      assert.equal(client.x509.verify(issuing.x509.publicKey), true);
      assert.equal(countCerts(client.chainPem), 2);
    });

    it('encodes the OB subject, organizationIdentifier as OID 2.5.4.97, in the order given', () => {
      assert.equal(
        client.x509.subject,
        ['C=GB', 'O=OpenBanking', 'organizationIdentifier=PSDGB-OB-Unknown0015800001HQQrZAAX', 'OU=0015800001HQQrZAAX', 'CN=2kiXQyo0tedjW2somjSgH7'].join('\n'),
      );
      assert.deepEqual(parsed(client).subjectName.getField('2.5.4.97'), ['PSDGB-OB-Unknown0015800001HQQrZAAX']);
      assert.equal(
        certificateSubjectDn(client.x509),
        'CN=2kiXQyo0tedjW2somjSgH7,OU=0015800001HQQrZAAX,2.5.4.97=PSDGB-OB-Unknown0015800001HQQrZAAX,O=OpenBanking,C=GB',
      );
    });

    it('encodes country as PrintableString and non-ASCII values as UTF8String', async () => {
      const cert = await issueClientCertificate(root, { subject: 'C=GB, O=Zürich AG, CN=x', validityDays: 1, keyType: 'ec' });
      const der = Buffer.from(cert.x509.raw);
      assert.ok(der.includes(Buffer.from([0x13, 0x02, 0x47, 0x42])), 'C=GB as PrintableString');
      assert.ok(der.includes(Buffer.concat([Buffer.from([0x0c, 10]), Buffer.from('Zürich AG')])), 'O as UTF8String');
      assert.equal(new X509Certificate(cert.certPem).subject, 'C=GB\nO=Zürich AG\nCN=x');
    });

    it('rejects a subject that is not a DN', async () => {
      await assert.rejects(issueClientCertificate(root, { subject: 'not a dn', validityDays: 1 }), DnParseError);
    });
  });
});
