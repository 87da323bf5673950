/**
 * Transport certificate ↔ software binding (src/dcr/binding.ts) without a server: by subject
 * (legacy OB OU/CN, OBWAC/eIDAS organizationIdentifier or CN), by a use:tls key in the software
 * key set (x5c DER or x5t#S256), under each [open_banking.dcr] transport_certificate_binding mode,
 * and when the software key set cannot be had. The key set is served from memory and records
 * whether it was fetched.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { KeySetError } from '../../src/crypto/jwks.ts';
import { createCertificateAuthority, issueClientCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { x5tS256 } from '../../src/crypto/thumbprint.ts';
import { AppError } from '../../src/errors/app-error.ts';
import { checkTransportBinding, type SoftwareIdentity } from '../../src/dcr/binding.ts';
import { fakeKeySets, type FakeKeySets } from '../helpers/key-sets.ts';

type Mode = Config['open_banking']['dcr']['transport_certificate_binding'];

const base = loadConfig({ env: {} });
const configFor = (mode: Mode): Config =>
  ({ ...base, open_banking: { ...base.open_banking, dcr: { ...base.open_banking.dcr, transport_certificate_binding: mode } } }) as Config;

const JWKS = 'https://keystore.example.com/org-1/software-1.jwks';
const SOFTWARE: SoftwareIdentity = { org_id: 'org-1', software_id: 'software-1', software_jwks_endpoint: JWKS };

let legacy: IssuedCertificate;
let obwac: IssuedCertificate;
let obwacByCn: IssuedCertificate;
let stranger: IssuedCertificate;
let halfMatch: IssuedCertificate;

before(async () => {
  const ca = await createCertificateAuthority({ subject: 'C=GB, O=Test Directory, CN=Test Issuing CA', validityDays: 2 });
  const issue = (subject: string) => issueClientCertificate(ca, { subject, validityDays: 2 });
  legacy = await issue('C=GB, O=OpenBanking, OU=org-1, CN=software-1');
  obwac = await issue('C=GB, O=Acme Ltd, organizationIdentifier=PSDGB-OB-org-1, CN=any-name');
  obwacByCn = await issue('C=GB, O=Acme Ltd, CN=org-1');
  stranger = await issue('C=GB, O=Other Ltd, OU=org-2, CN=software-2');
  // OU names the organisation, CN another software: not the legacy form.
  halfMatch = await issue('C=GB, O=OpenBanking, OU=org-1, CN=software-9');
});

const der = (cert: IssuedCertificate) => cert.x509.raw.toString('base64');
const tlsKey = (fields: Record<string, unknown>) => ({ kty: 'RSA', n: 'AQAB', e: 'AQAB', use: 'tls', kid: 'tls-1', ...fields });

function bind(cert: IssuedCertificate, mode: Mode, keySets: FakeKeySets = fakeKeySets({ [JWKS]: { keys: [] } })) {
  return checkTransportBinding(cert.x509, SOFTWARE, { config: configFor(mode), keySets });
}

async function refused(promise: Promise<void>, code: string, description: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.deepEqual(
      { code: err.code, status: err.status, error: err.error, description: err.description },
      { code, status: 400, error: 'invalid_client_metadata', description },
    );
    return true;
  });
}

const NEITHER = 'the transport certificate belongs to neither the software JWKS (use:tls) nor organisation org-1 / software software-1';
const NOT_LISTED = 'the transport certificate is not listed as a use:tls key in the software JWKS';
const SUBJECT = 'the transport certificate subject does not name organisation org-1 and software software-1';

describe('jwks_or_subject (the default)', () => {
  test('is the default', () => assert.equal(base.open_banking.dcr.transport_certificate_binding, 'jwks_or_subject'));

  for (const [name, cert] of [
    ['legacy OB: OU = org_id and CN = software_id', () => legacy],
    ['OBWAC/eIDAS: organizationIdentifier ends with org_id', () => obwac],
    ['OBWAC: CN = org_id', () => obwacByCn],
  ] as const) {
    test(`a subject that names the software is enough, without fetching the key set: ${name}`, async () => {
      const keySets = fakeKeySets({});
      await bind(cert(), 'jwks_or_subject', keySets);
      assert.deepEqual(keySets.asked, []);
    });
  }

  test('otherwise the certificate must be a use:tls key of the software key set, by x5c', async () => {
    const keySets = fakeKeySets({ [JWKS]: { keys: [tlsKey({ x5c: [der(stranger), der(legacy)] })] } });
    await bind(stranger, 'jwks_or_subject', keySets);
    assert.deepEqual(keySets.asked, [JWKS]);
  });

  test('or by x5t#S256', () => bind(stranger, 'jwks_or_subject', fakeKeySets({ [JWKS]: { keys: [tlsKey({ 'x5t#S256': x5tS256(stranger.x509) })] } })));

  test('neither: refused, naming both ways', () => refused(bind(stranger, 'jwks_or_subject'), 'TRANSPORT_CERT_NOT_BOUND', NEITHER));

  test('OU alone is not the legacy form', () => refused(bind(halfMatch, 'jwks_or_subject'), 'TRANSPORT_CERT_NOT_BOUND', NEITHER));

  test('a key listed for signing (use:sig) or without a use does not bind the certificate', async () => {
    for (const use of ['sig', undefined]) {
      const keySets = fakeKeySets({ [JWKS]: { keys: [tlsKey({ use, x5c: [der(stranger)], 'x5t#S256': x5tS256(stranger.x509) })] } });
      await refused(bind(stranger, 'jwks_or_subject', keySets), 'TRANSPORT_CERT_NOT_BOUND', NEITHER);
    }
  });

  test('a use:tls key only as a later x5c entry (a CA of the chain) does not bind it', () =>
    refused(
      bind(stranger, 'jwks_or_subject', fakeKeySets({ [JWKS]: { keys: [tlsKey({ x5c: [der(legacy), der(stranger)] })] } })),
      'TRANSPORT_CERT_NOT_BOUND',
      NEITHER,
    ));

  test("another certificate's thumbprint does not bind it", () =>
    refused(
      bind(stranger, 'jwks_or_subject', fakeKeySets({ [JWKS]: { keys: [tlsKey({ 'x5t#S256': x5tS256(legacy.x509) })] } })),
      'TRANSPORT_CERT_NOT_BOUND',
      NEITHER,
    ));
});

describe('jwks', () => {
  test('a subject that names the software is not enough', () => refused(bind(legacy, 'jwks'), 'TRANSPORT_CERT_NOT_BOUND', NOT_LISTED));

  test('a use:tls key of the software key set is', () => bind(legacy, 'jwks', fakeKeySets({ [JWKS]: { keys: [tlsKey({ x5c: [der(legacy)] })] } })));
});

describe('subject', () => {
  test('the subject decides and the key set is never fetched', async () => {
    const keySets = fakeKeySets({ [JWKS]: { keys: [tlsKey({ x5c: [der(stranger)] })] } });
    await bind(legacy, 'subject', keySets);
    await bind(obwac, 'subject', keySets);
    await refused(bind(stranger, 'subject', keySets), 'TRANSPORT_CERT_NOT_BOUND', SUBJECT);
    assert.deepEqual(keySets.asked, []);
  });
});

describe('none', () => {
  test('any certificate, and no fetch', async () => {
    const keySets = fakeKeySets({});
    await bind(stranger, 'none', keySets);
    assert.deepEqual(keySets.asked, []);
  });
});

describe('when the software key set cannot be had', () => {
  for (const [name, failure, code, description] of [
    ['unreachable', undefined, 'TRANSPORT_CERT_KEY_SET_UNAVAILABLE', `the key set at ${JWKS} could not be fetched; try again later`],
    [
      'unreachable, with a reason',
      new KeySetError('unreachable', JWKS, 'down', { reason: 'connection refused' }),
      'TRANSPORT_CERT_KEY_SET_UNAVAILABLE',
      `the key set at ${JWKS} could not be fetched (connection refused); try again later`,
    ],
    [
      'not an allowed location',
      new KeySetError('not_allowed', JWKS, 'not allowed'),
      'TRANSPORT_CERT_KEY_SET_NOT_ALLOWED',
      `${JWKS} is not an allowed key set location for the transport certificate check`,
    ],
    ['not a JWKS', new KeySetError('invalid', JWKS, 'invalid'), 'TRANSPORT_CERT_KEY_SET_INVALID', `the key set at ${JWKS} is not a valid JWKS`],
    ['too large', new KeySetError('too_large', JWKS, 'too large'), 'TRANSPORT_CERT_KEY_SET_INVALID', `the key set at ${JWKS} is too large`],
  ] as const) {
    test(`${name}: refused with the reason, in jwks and jwks_or_subject`, async () => {
      const sets: Record<string, Error> = failure ? { [JWKS]: failure } : {};
      for (const mode of ['jwks', 'jwks_or_subject'] as const) await refused(bind(stranger, mode, fakeKeySets(sets)), code, description);
    });
  }

  test('jwks_or_subject does not need it when the subject names the software', () => bind(legacy, 'jwks_or_subject', fakeKeySets({})));
});
