/**
 * Single DCR steps (src/dcr/steps.ts) on their own, with the collaborators they do not use
 * left out: the transport certificate is judged by the clock the service is given, and an update
 * must be for the registration's own software and client id.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { createCertificateAuthority, issueClientCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { AppError } from '../../src/errors/app-error.ts';
import type { ClientCertificate } from '../../src/http/client-cert.ts';
import { createDcrSteps, type Operation } from '../../src/dcr/steps.ts';
import type { VerifiedSsa } from '../../src/dcr/ssa.ts';
import { versionFromPath } from '../../src/dcr/versions/index.ts';
import { fakeKeySets } from '../helpers/key-sets.ts';

const config = loadConfig({ env: {} });
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

let transport: IssuedCertificate;
before(async () => {
  const ca = await createCertificateAuthority({ subject: 'C=GB, O=Test Directory, CN=Test Issuing CA', validityDays: 30 });
  transport = await issueClientCertificate(ca, { subject: 'C=GB, O=Acme Ltd, OU=org-1, CN=software-1', validityDays: 2 });
});

/** The steps with a clock at `now` (epoch seconds) and nothing else they could reach. */
const stepsAt = (now: number) =>
  createDcrSteps({
    config,
    logger: {} as never,
    storage: {} as never,
    keyManager: {} as never,
    clients: {} as never,
    keySets: fakeKeySets({}),
    trust: { jwksUrl: () => 'https://directory.example.com/jwks', issuers: () => [] },
    now: () => now,
    announce: async () => {},
  });

const operation = (extra: Partial<Operation> = {}): Operation => ({
  req: {
    version: versionFromPath('v3.3')!,
    certificate: { pem: transport.certPem, x509: transport.x509, authorized: true, source: 'tls' } as ClientCertificate,
  },
  method: 'PUT',
  who: {},
  ...extra,
});

function refused(run: () => void, status: number, code: string, description: string): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.deepEqual({ status: err.status, code: err.code, description: err.description }, { status, code, description });
    return true;
  });
}

describe('requireCertificate', () => {
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

  test('a certificate valid by the service clock is taken', () => {
    const op = operation();
    stepsAt(seconds(transport.x509.validFromDate) + 60).requireCertificate(op);
    assert.equal(op.cert, op.req.certificate);
  });

  test('expired by the service clock, whatever the system clock says', () => {
    const { validToDate } = transport.x509;
    refused(
      () => stepsAt(seconds(validToDate) + 1).requireCertificate(operation()),
      401,
      'CLIENT_CERT_EXPIRED',
      `the client (transport) certificate expired on ${iso(validToDate)}; present a current one`,
    );
  });

  test('not yet valid by the service clock', () => {
    const { validFromDate } = transport.x509;
    refused(
      () => stepsAt(seconds(validFromDate) - 1).requireCertificate(operation()),
      401,
      'CLIENT_CERT_EXPIRED',
      `the client (transport) certificate is not valid until ${iso(validFromDate)}`,
    );
  });

  test('none', () =>
    refused(
      () => stepsAt(seconds(new Date())).requireCertificate(operation({ req: { ...operation().req, certificate: undefined } })),
      401,
      'CLIENT_CERT_REQUIRED',
      'a client (transport) certificate issued by a trusted CA is required over mutual TLS',
    ));
});

describe('checkSameSoftware', () => {
  const ssa = { raw: 'a.b.c', claims: { software_id: 'software-1' } } as unknown as VerifiedSsa;
  const existing = { client_id: 'client-1', software_id: 'software-1' };
  const request = (claims: Record<string, unknown>) => ({ raw: 'a.b.c', header: {}, claims });
  const steps = stepsAt(0);

  test('the same software, with or without the same client_id in the body, passes', () => {
    steps.checkSameSoftware(operation({ existing, ssa, request: request({}) }));
    steps.checkSameSoftware(operation({ existing, ssa, request: request({ client_id: 'client-1' }) }));
  });

  test('a software statement for another software', () =>
    refused(
      () => steps.checkSameSoftware(operation({ existing: { ...existing, software_id: 'software-2' }, ssa, request: request({}) })),
      400,
      'UPDATE_SOFTWARE_MISMATCH',
      'the software statement is for a different software_id than this registration',
    ));

  test('another client_id in the body', () =>
    refused(
      () => steps.checkSameSoftware(operation({ existing, ssa, request: request({ client_id: 'client-2' }) })),
      400,
      'UPDATE_CLIENT_ID_MISMATCH',
      'client_id in the request does not match the registration being updated',
    ));
});
