import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { ensureSandboxPki } from '../../src/tls/sandbox-pki.ts';
import type { SandboxPki } from '../../src/tls/sandbox-pki.ts';
import { createTruststore } from '../../src/tls/truststore.ts';
import { certificateSubjectDn } from '../../src/crypto/dn.ts';

const DAY = 86_400_000;

describe('ensureSandboxPki', () => {
  let base: string;
  const dirs = (name: string) => ({ dataDir: join(base, name, 'data'), truststoreDir: join(base, name, 'truststore') });
  const read = (name: string, file: string) => readFileSync(join(base, name, 'data', 'pki', file), 'utf8');

  before(() => {
    base = mkdtempSync(join(tmpdir(), 'opendcr-sandbox-pki-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  describe('first and second start', () => {
    let first: SandboxPki;
    let second: SandboxPki;
    before(async () => {
      first = await ensureSandboxPki({ ...dirs('a'), hostname: 'as.sandbox.test' });
      second = await ensureSandboxPki({ ...dirs('a'), hostname: 'as.sandbox.test' });
    });

    it('creates on first start and reuses the same CA and server certificate afterwards', () => {
      assert.equal(first.created, true);
      assert.equal(second.created, false);
      assert.equal(second.caCertPem, first.caCertPem);
      assert.equal(read('a', 'ca.pem'), first.caCertPem);
      assert.equal(second.serverCertPem, first.serverCertPem);
      assert.equal(second.serverKeyPem, first.serverKeyPem);
    });

    it('writes the key files with mode 0600', () => {
      for (const file of ['ca-key.pem', 'server-key.pem']) {
        assert.equal(statSync(join(base, 'a', 'data', 'pki', file)).mode & 0o777, 0o600, file);
      }
      assert.equal(statSync(join(base, 'a', 'data', 'pki')).mode & 0o777, 0o700);
    });

    it('generates the development root CA', () => {
      const ca = new X509Certificate(first.caCertPem);
      assert.equal(ca.ca, true);
      assert.equal(certificateSubjectDn(ca), 'CN=OpenDCR Sandbox Root CA,O=OpenDCR Sandbox');
      assert.equal(ca.checkIssued(ca) && ca.verify(ca.publicKey), true);
      const key = createPrivateKey(read('a', 'ca-key.pem'));
      assert.ok(
        createPublicKey(key)
          .export({ type: 'spki', format: 'der' })
          .equals(ca.publicKey.export({ type: 'spki', format: 'der' })),
      );
    });

    it('issues a server certificate that verifies against the CA and covers every name', () => {
      const ca = new X509Certificate(first.caCertPem);
      const server = new X509Certificate(first.serverCertPem);
      assert.equal(server.checkIssued(ca), true);
      assert.equal(server.verify(ca.publicKey), true);
      assert.equal(server.checkHost('as.sandbox.test'), 'as.sandbox.test');
      assert.equal(server.checkHost('localhost'), 'localhost');
      assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(server.checkIP('::1'), '::1');
      assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
      assert.equal(read('a', 'server.pem'), first.serverCertPem);
      assert.equal(read('a', 'server-key.pem'), first.serverKeyPem);
    });

    it('adds the CA to the trust store once', () => {
      const fingerprints = createTruststore(dirs('a').truststoreDir)
        .list()
        .map((ca) => ca.fingerprint256);
      assert.deepEqual(fingerprints, [new X509Certificate(first.caCertPem).fingerprint256]);
    });
  });

  it('renews only the server certificate for a new hostname, near expiry, or a mismatched key', async () => {
    const first = await ensureSandboxPki({ ...dirs('b'), hostname: 'localhost' });
    const renamed = await ensureSandboxPki({ ...dirs('b'), hostname: '192.0.2.10' });
    assert.equal(renamed.caCertPem, first.caCertPem);
    assert.notEqual(renamed.serverCertPem, first.serverCertPem);
    assert.equal(new X509Certificate(renamed.serverCertPem).checkIP('192.0.2.10'), '192.0.2.10');

    const expiry = new X509Certificate(renamed.serverCertPem).validToDate.getTime();
    const late = await ensureSandboxPki({ ...dirs('b'), hostname: '192.0.2.10', now: new Date(expiry - 3 * DAY) });
    assert.equal(late.created, false);
    assert.equal(late.caCertPem, first.caCertPem);
    assert.notEqual(late.serverCertPem, renamed.serverCertPem);

    writeFileSync(join(base, 'b', 'data', 'pki', 'server-key.pem'), first.serverKeyPem);
    const healed = await ensureSandboxPki({ ...dirs('b'), hostname: '192.0.2.10' });
    assert.notEqual(healed.serverCertPem, late.serverCertPem);
    assert.equal(healed.caCertPem, first.caCertPem);
  });

  it('rewrites a deleted ca.pem from ca-key.pem', async () => {
    const first = await ensureSandboxPki({ ...dirs('c'), hostname: 'localhost' });
    rmSync(join(base, 'c', 'data', 'pki', 'ca.pem'));
    const again = await ensureSandboxPki({ ...dirs('c'), hostname: 'localhost' });
    assert.equal(again.caCertPem, first.caCertPem);
    assert.equal(read('c', 'ca.pem'), first.caCertPem);
  });

  it('agrees on one CA when started concurrently', async () => {
    const results = await Promise.all([1, 2, 3].map(() => ensureSandboxPki({ ...dirs('d'), hostname: 'localhost' })));
    assert.equal(new Set(results.map((r) => r.caCertPem)).size, 1);
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(read('d', 'ca.pem'), results[0]!.caCertPem);
    assert.equal(createTruststore(dirs('d').truststoreDir).list().length, 1);
  });

  it('agrees on one CA across processes started together', async () => {
    const moduleUrl = new URL('../../src/tls/sandbox-pki.ts', import.meta.url).href;
    const { dataDir, truststoreDir } = dirs('e');
    const script = `const { ensureSandboxPki } = await import(${JSON.stringify(moduleUrl)});
      const pki = await ensureSandboxPki({ dataDir: ${JSON.stringify(dataDir)}, truststoreDir: ${JSON.stringify(truststoreDir)}, hostname: 'localhost' });
      process.stdout.write(JSON.stringify({ ca: pki.caCertPem, created: pki.created }));`;
    const run = () =>
      new Promise<{ ca: string; created: boolean }>((resolve, reject) => {
        execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 }, (err, stdout) =>
          err ? reject(err) : resolve(JSON.parse(stdout)),
        );
      });
    const results = await Promise.all([run(), run()]);
    assert.equal(results[0].ca, results[1].ca);
    assert.equal(read('e', 'ca.pem'), results[0].ca);
    assert.equal(results.filter((r) => r.created).length, 1);
  });
});
