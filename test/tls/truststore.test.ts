import { describe, it, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createCertificateAuthority, issueClientCertificate } from '../../src/crypto/pki.ts';
import type { IssuedCertificate } from '../../src/crypto/pki.ts';
import { createTruststore, TruststoreError } from '../../src/tls/truststore.ts';
import type { Truststore } from '../../src/tls/truststore.ts';

const isCode = (code: string) => (err: unknown) => err instanceof TruststoreError && err.code === code;

describe('truststore', () => {
  let base: string;
  let dir: string;
  let store: Truststore;
  let invalid: string[];
  let rootA: IssuedCertificate;
  let rootB: IssuedCertificate;
  let leaf: IssuedCertificate;
  let expired: IssuedCertificate;

  before(async () => {
    base = mkdtempSync(join(tmpdir(), 'opendcr-truststore-'));
    rootA = await createCertificateAuthority({ subject: 'O=Test, CN=Root A', validityDays: 30 });
    rootB = await createCertificateAuthority({ subject: 'O=Test, CN=Root B', validityDays: 30 });
    leaf = await issueClientCertificate(rootA, { subject: 'O=Test, CN=leaf', validityDays: 30, keyType: 'ec' });
    expired = await createCertificateAuthority({ subject: 'CN=Old', validityDays: 10, now: new Date(Date.now() - 400 * 86_400_000) });
  });
  after(() => rmSync(base, { recursive: true, force: true }));
  beforeEach(() => {
    dir = mkdtempSync(join(base, 'store-'));
    rmSync(dir, { recursive: true });
    invalid = [];
    store = createTruststore(join(dir, 'nested'), { onInvalidFile: (file) => invalid.push(file), debounceMs: 20 });
  });

  it('creates the folder with mode 0700', () => {
    assert.equal(statSync(store.dir).mode & 0o777, 0o700);
    assert.deepEqual(store.list(), []);
  });

  it('adds a CA from PEM text, named by fingerprint', () => {
    const ca = store.add(rootA.certPem);
    const fingerprint = rootA.x509.fingerprint256;
    assert.equal(ca.name, `${fingerprint.replaceAll(':', '').toLowerCase()}.pem`);
    assert.equal(ca.fingerprint256, fingerprint);
    assert.equal(ca.subject, 'O=Test, CN=Root A');
    assert.equal(ca.issuer, 'O=Test, CN=Root A');
    assert.deepEqual(ca.notAfter, rootA.x509.validToDate);
    assert.deepEqual(
      store.list().map((c) => c.fingerprint256),
      [fingerprint],
    );
    assert.deepEqual(readdirSync(store.dir), [ca.name], 'no temp files left behind');
  });

  it('adds a CA from a PEM or DER file with a sanitised name', () => {
    const pemFile = join(base, 'root-b.pem');
    writeFileSync(pemFile, rootB.certPem);
    assert.equal(store.add(pemFile, '../My Root B!').name, 'My_Root_B_.pem');
    const derFile = join(base, 'root-a.der');
    writeFileSync(derFile, rootA.x509.raw);
    assert.equal(store.add(derFile, 'root-a.crt').name, 'root-a.pem');
    assert.deepEqual(
      store.list().map((c) => c.name),
      ['My_Root_B_.pem', 'root-a.pem'],
    );
  });

  it('treats a second add of the same certificate as a no-op', () => {
    const first = store.add(rootA.certPem, 'a');
    const second = store.add(rootA.certPem, 'other-name');
    assert.equal(second.name, first.name);
    assert.equal(store.list().length, 1);
  });

  it('refuses to overwrite a name holding another certificate', () => {
    store.add(rootA.certPem, 'ca');
    assert.throws(() => store.add(rootB.certPem, 'ca'), isCode('ERR_TRUSTSTORE_NAME_TAKEN'));
  });

  it('rejects a leaf certificate with a clear error', () => {
    assert.throws(
      () => store.add(leaf.certPem),
      (err: unknown) => isCode('ERR_TRUSTSTORE_NOT_A_CA')(err) && /not a CA certificate/.test((err as Error).message) && /CN=leaf/.test((err as Error).message),
    );
    assert.deepEqual(store.list(), []);
  });

  it('rejects an expired CA', () => {
    assert.throws(() => store.add(expired.certPem), isCode('ERR_TRUSTSTORE_EXPIRED'));
  });

  it('rejects garbage and missing files', () => {
    assert.throws(() => store.add('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----'), isCode('ERR_TRUSTSTORE_NOT_A_CERTIFICATE'));
    const junk = join(base, 'junk.bin');
    writeFileSync(junk, 'definitely not a certificate');
    assert.throws(() => store.add(junk), isCode('ERR_TRUSTSTORE_NOT_A_CERTIFICATE'));
    assert.throws(
      () => store.add(join(base, 'missing.pem')),
      (err: unknown) => isCode('ERR_TRUSTSTORE_FILE_NOT_FOUND')(err) && /no such file/.test((err as Error).message),
    );
    assert.throws(() => store.add(rootA.certPem + rootB.certPem), /add them one at a time/);
  });

  it('removes by file name, name without extension, or fingerprint', () => {
    store.add(rootA.certPem, 'a');
    store.add(rootB.certPem, 'b');
    assert.equal(store.remove('a'), true);
    assert.equal(store.remove(rootB.x509.fingerprint256.replaceAll(':', '').toLowerCase()), true);
    assert.equal(store.remove('a.pem'), false);
    assert.deepEqual(store.list(), []);
    store.add(rootA.certPem, 'a');
    assert.equal(store.remove(rootA.x509.fingerprint256), true);
  });

  it('loads valid CA PEMs and reports files it skips', () => {
    store.add(rootA.certPem, 'a');
    writeFileSync(join(store.dir, 'garbage.pem'), 'hello');
    writeFileSync(join(store.dir, 'leaf.pem'), leaf.certPem);
    writeFileSync(join(store.dir, 'bundle.crt'), rootB.certPem + leaf.certPem);
    writeFileSync(join(store.dir, 'notes.txt'), 'ignored: not a certificate file name');
    const pems = store.loadCaPems();
    assert.deepEqual(pems.map((p) => new X509Certificate(p).fingerprint256).sort(), [rootA.x509.fingerprint256, rootB.x509.fingerprint256].sort());
    assert.deepEqual(invalid.sort(), ['bundle.crt', 'garbage.pem', 'leaf.pem']);
  });

  it('refuses to remove one CA out of a bundle file', () => {
    writeFileSync(join(store.dir, 'bundle.pem'), rootA.certPem + rootB.certPem);
    assert.throws(() => store.remove(rootA.x509.fingerprint256), isCode('ERR_TRUSTSTORE_BUNDLE'));
    assert.ok(existsSync(join(store.dir, 'bundle.pem')));
  });

  it('watch reports the new CA list after an add and a remove', async () => {
    const changes: string[][] = [];
    let notify: () => void = () => {};
    const watcher = store.watch((pems) => {
      changes.push(pems);
      notify();
    });
    const next = () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no change event within 5 s')), 5000);
        notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    try {
      let changed = next();
      store.add(rootA.certPem);
      await changed;
      assert.deepEqual(
        changes.at(-1)!.map((p) => new X509Certificate(p).fingerprint256),
        [rootA.x509.fingerprint256],
      );
      changed = next();
      store.remove(rootA.x509.fingerprint256);
      await changed;
      assert.deepEqual(changes.at(-1), []);
    } finally {
      watcher.close();
    }
  });
});
