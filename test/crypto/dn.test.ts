import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { certificateSubjectDn, certificateSubjectRdns, dnEquals, DnParseError, formatDnRfc4514, parseDn } from '../../src/crypto/dn.ts';
import { createCertificateAuthority, issueClientCertificate } from '../../src/crypto/pki.ts';
import type { IssuedCertificate } from '../../src/crypto/pki.ts';

const OB_CERT_ORDER = 'C=GB, O=OpenBanking, 2.5.4.97=PSDGB-OB-Unknown0015800001HQQrZAAX, OU=0015800001HQQrZAAX, CN=2kiXQyo0tedjW2somjSgH7';
const OB_RFC4514 = 'CN=2kiXQyo0tedjW2somjSgH7,OU=0015800001HQQrZAAX,2.5.4.97=PSDGB-OB-Unknown0015800001HQQrZAAX,O=OpenBanking,C=GB';

describe('parseDn', () => {
  it('maps attribute names (any case) and dotted OIDs to OIDs', () => {
    assert.deepEqual(parseDn('cn=a, Ou=b,organizationIdentifier=c,2.5.4.97=d,OID.2.5.4.3=e'), [
      [{ type: '2.5.4.3', value: 'a' }],
      [{ type: '2.5.4.11', value: 'b' }],
      [{ type: '2.5.4.97', value: 'c' }],
      [{ type: '2.5.4.97', value: 'd' }],
      [{ type: '2.5.4.3', value: 'e' }],
    ]);
    assert.deepEqual(
      parseDn('E=a@b,emailAddress=c@d,serialNumber=1,SERIALNUMBER=2,DC=x,UID=u,STREET=s,L=l,ST=st').map((r) => r[0]!.type),
      [
        '1.2.840.113549.1.9.1',
        '1.2.840.113549.1.9.1',
        '2.5.4.5',
        '2.5.4.5',
        '0.9.2342.19200300.100.1.25',
        '0.9.2342.19200300.100.1.1',
        '2.5.4.9',
        '2.5.4.7',
        '2.5.4.8',
      ],
    );
  });

  it('reads RFC 4514 escapes: \\, \\+ \\" \\\\ and hex pairs as UTF-8', () => {
    assert.deepEqual(parseDn('O=Acme\\, Inc.,CN=a\\+b \\"c\\" \\\\d,OU=caf\\C3\\A9\\2C x'), [
      [{ type: '2.5.4.10', value: 'Acme, Inc.' }],
      [{ type: '2.5.4.3', value: 'a+b "c" \\d' }],
      [{ type: '2.5.4.11', value: 'café, x' }],
    ]);
  });

  it('reads multi-valued RDNs', () => {
    assert.deepEqual(parseDn('CN=a+UID=b,O=c'), [
      [
        { type: '2.5.4.3', value: 'a' },
        { type: '0.9.2342.19200300.100.1.1', value: 'b' },
      ],
      [{ type: '2.5.4.10', value: 'c' }],
    ]);
  });

  it('decodes #hexstring values of string types and keeps other BER as binary', () => {
    // 0c 03 "abc" = UTF8String, 13 02 "GB" = PrintableString, 02 01 05 = INTEGER 5
    assert.deepEqual(parseDn('CN=#0C03616263,C=#13024742,2.5.4.99=#020105'), [
      [{ type: '2.5.4.3', value: 'abc', ber: '0c03616263' }],
      [{ type: '2.5.4.6', value: 'GB', ber: '13024742' }],
      [{ type: '2.5.4.99', value: '#020105', ber: '020105', binary: true }],
    ]);
  });

  it('ignores spaces around separators and "=" (OpenSSL "C = GB, O = x")', () => {
    assert.deepEqual(parseDn('  C = GB ,  O = Open Banking  ;CN=x '), [
      [{ type: '2.5.4.6', value: 'GB' }],
      [{ type: '2.5.4.10', value: 'Open Banking' }],
      [{ type: '2.5.4.3', value: 'x' }],
    ]);
  });

  it('keeps escaped leading and trailing spaces', () => {
    assert.deepEqual(parseDn('CN=\\ a\\ '), [[{ type: '2.5.4.3', value: ' a ' }]]);
  });

  it('reads the OpenSSL slash form, where commas are plain characters', () => {
    assert.deepEqual(parseDn('/C=GB/O=Acme, Inc./CN=x+UID=y/'), [
      [{ type: '2.5.4.6', value: 'GB' }],
      [{ type: '2.5.4.10', value: 'Acme, Inc.' }],
      [
        { type: '2.5.4.3', value: 'x' },
        { type: '0.9.2342.19200300.100.1.1', value: 'y' },
      ],
    ]);
    assert.deepEqual(parseDn('/O=a+b/CN=c'), [[{ type: '2.5.4.10', value: 'a+b' }], [{ type: '2.5.4.3', value: 'c' }]]);
  });

  it('reads Node X509Certificate.subject (one RDN per line)', () => {
    assert.deepEqual(parseDn('C=GB\nO=A\\, B + OU=x\\+y\norganizationIdentifier=PSDGB-OB-1\nCN=z'), [
      [{ type: '2.5.4.6', value: 'GB' }],
      [
        { type: '2.5.4.10', value: 'A, B' },
        { type: '2.5.4.11', value: 'x+y' },
      ],
      [{ type: '2.5.4.97', value: 'PSDGB-OB-1' }],
      [{ type: '2.5.4.3', value: 'z' }],
    ]);
  });

  it('accepts RFC 2253 quoted values', () => {
    assert.deepEqual(parseDn('O="Acme, Inc.",CN=x'), [[{ type: '2.5.4.10', value: 'Acme, Inc.' }], [{ type: '2.5.4.3', value: 'x' }]]);
  });

  for (const bad of ['', '   ', 'hello', '=x', 'CN=a,', 'CN=a,,O=b', 'FOO=bar', 'CN=a\\', 'CN=#abc', 'CN=#zz', 'CN="open', 'CN=\\C3', '1.2=x,CN', 'CN=a+']) {
    it(`rejects ${JSON.stringify(bad)} with DnParseError`, () => {
      assert.throws(
        () => parseDn(bad),
        (err: unknown) => err instanceof DnParseError && err.code === 'ERR_DN_PARSE',
      );
    });
  }
});

describe('dnEquals', () => {
  const equal: Array<[string, string]> = [
    [OB_CERT_ORDER, OB_RFC4514],
    [OB_RFC4514, 'CN=2kiXQyo0tedjW2somjSgH7,OU=0015800001HQQrZAAX,organizationIdentifier=PSDGB-OB-Unknown0015800001HQQrZAAX,O=OpenBanking,C=GB'],
    [OB_RFC4514, '/C=GB/O=OpenBanking/2.5.4.97=PSDGB-OB-Unknown0015800001HQQrZAAX/OU=0015800001HQQrZAAX/CN=2kiXQyo0tedjW2somjSgH7'],
    [OB_RFC4514, 'C=GB\nO=OpenBanking\norganizationIdentifier=PSDGB-OB-Unknown0015800001HQQrZAAX\nOU=0015800001HQQrZAAX\nCN=2kiXQyo0tedjW2somjSgH7'],
    [OB_RFC4514, 'cn=2KIXQYO0TEDJW2SOMJSGH7, ou=0015800001hqqrzaax, 2.5.4.97=psdgb-ob-unknown0015800001hqqrzaax, o=openbanking, c=gb'],
    ['O=Acme\\, Inc.,CN=x', 'CN=x,O=Acme\\2C Inc.'],
    ['O=Acme\\, Inc.,CN=x', 'CN = x , O = "Acme, Inc."'],
    ['CN=Open   Banking  Ltd', 'CN= open banking ltd '],
    ['CN=abc', 'CN=#0c03616263'],
    ['CN=ｆｕｌｌ', 'CN=full'], // NFKC: full-width letters
    ['CN=a+O=b', 'O=b,CN=a'],
    ['E=a@example.com', 'emailAddress=A@Example.com'],
    ['2.5.4.5=123', 'serialNumber=123'],
    ['CN=a,CN=b', 'CN=b,CN=a'],
  ];
  for (const [a, b] of equal) {
    it(`${JSON.stringify(a)} equals ${JSON.stringify(b)}`, () => {
      assert.equal(dnEquals(a, b), true);
      assert.equal(dnEquals(b, a), true);
    });
  }

  const different: Array<[string, string, string]> = [
    ['different value', OB_RFC4514, OB_RFC4514.replace('CN=2kiXQyo0tedjW2somjSgH7', 'CN=2kiXQyo0tedjW2somjSgH8')],
    ['missing attribute', OB_RFC4514, 'CN=2kiXQyo0tedjW2somjSgH7,OU=0015800001HQQrZAAX,O=OpenBanking,C=GB'],
    ['extra attribute', OB_RFC4514, `${OB_RFC4514},L=London`],
    ['same value, other type', 'CN=x', 'O=x'],
    ['duplicate attribute counted', 'CN=a,CN=a', 'CN=a'],
    ['escaped comma is not a separator', 'O=a\\,CN=b', 'O=a,CN=b'],
    ['inner space matters', 'CN=ab', 'CN=a b'],
    ['binary value is not text', '2.5.4.99=#020105', '2.5.4.99=\\#020105'],
    ['unparseable side', 'CN=a', 'nonsense'],
  ];
  for (const [why, a, b] of different) {
    it(`does not match: ${why}`, () => {
      assert.equal(dnEquals(a, b), false);
      assert.equal(dnEquals(b, a), false);
    });
  }
});

describe('formatDnRfc4514', () => {
  it('escapes special characters and uses OIDs for types outside RFC 4514 §3', () => {
    const rdns = parseDn('CN=\\#a\\,b\\+c\\"d\\;e<f>\\\\g\\ ,organizationIdentifier=PSDGB,E=x@y,CN=a+UID=b');
    assert.equal(formatDnRfc4514(rdns), 'CN=\\#a\\,b\\+c\\"d\\;e\\<f\\>\\\\g\\ ,2.5.4.97=PSDGB,1.2.840.113549.1.9.1=x@y,CN=a+UID=b');
  });

  it('round-trips through parseDn', () => {
    for (const dn of [OB_RFC4514, 'O=Acme\\, Inc.,CN=\\ x', 'CN=é\\+', '2.5.4.99=#020105']) {
      assert.deepEqual(parseDn(formatDnRfc4514(parseDn(dn))), parseDn(dn));
    }
  });
});

describe('certificateSubjectDn', () => {
  let ca: IssuedCertificate;
  let client: IssuedCertificate;
  before(async () => {
    ca = await createCertificateAuthority({ subject: 'C=GB, O=OpenBanking, CN=OpenBanking Issuing CA', validityDays: 30 });
    client = await issueClientCertificate(ca, { subject: OB_CERT_ORDER, validityDays: 30, keyType: 'ec' });
  });

  it('gives the OB transport certificate subject in RFC 4514 order with 2.5.4.97', () => {
    assert.equal(certificateSubjectDn(client.x509), OB_RFC4514);
    assert.equal(dnEquals(certificateSubjectDn(client.x509), OB_CERT_ORDER), true);
    assert.equal(dnEquals(client.x509.subject, OB_RFC4514), true);
  });

  it('returns the RDNs in certificate order', () => {
    assert.deepEqual(
      certificateSubjectRdns(client.x509).map((rdn) => rdn[0]!.type),
      ['2.5.4.6', '2.5.4.10', '2.5.4.97', '2.5.4.11', '2.5.4.3'],
    );
  });

  it('keeps escaped characters, multi-valued RDNs and UTF-8', async () => {
    const cert = await issueClientCertificate(ca, { subject: 'C=GB, O=A\\, B+OU=x\\+y, CN=café "q"', validityDays: 1, keyType: 'ec' });
    assert.equal(certificateSubjectDn(cert.x509), 'CN=café \\"q\\",O=A\\, B+OU=x\\+y,C=GB');
    assert.equal(dnEquals(cert.x509.subject, certificateSubjectDn(cert.x509)), true);
  });
});
