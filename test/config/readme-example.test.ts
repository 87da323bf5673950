/**
 * The README's production example passes `opendcr config check` as printed: the TOML block after
 * "A production example:", with OPENDCR_ADMIN_PASSWORD set as the README says, and the files it
 * names present (the test makes them under a temporary folder standing in for /etc/opendcr).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';
import { CLI, runNode } from '../cli/run-cli.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** The ```toml block that follows `marker` in the README. */
function tomlAfter(marker: string): string {
  const at = README.indexOf(marker);
  assert.ok(at >= 0, `README has "${marker}"`);
  const block = /```toml\n([\s\S]*?)```/.exec(README.slice(at));
  assert.ok(block, `a toml block after "${marker}"`);
  return block[1]!;
}

test("the README's production example passes opendcr config check", async () => {
  const toml = tomlAfter('A production example:');
  assert.match(README.slice(README.indexOf('A production example:')), /with `OPENDCR_ADMIN_PASSWORD` set in the environment/);
  assert.match(toml, /mode = "production"/);
  const root = mkdtempSync(join(tmpdir(), 'opendcr-readme-'));
  try {
    const etc = join(root, 'etc', 'opendcr');
    const text = toml.replaceAll('/etc/opendcr/', `${etc}/`);
    assert.notEqual(text, toml, 'the example names files under /etc/opendcr');
    const hostname = /^hostname = "([^"]+)"/m.exec(text)?.[1];
    assert.ok(hostname);
    const ca = await createCertificateAuthority({ subject: 'CN=Bank Internal CA', validityDays: 30 });
    const server = await issueServerCertificate(ca, { dnsNames: [hostname], ipAddresses: [], validityDays: 30 });
    const file = (path: string, content: string) => {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, content);
    };
    file(/^cert_file = "([^"]+)"/m.exec(text)![1]!, server.chainPem);
    file(/^key_file = "([^"]+)"/m.exec(text)![1]!, server.keyPem);
    // A trust store folder is optional in production: a cluster's CAs are in the database.
    const truststore = /^dir = "([^"]+)"/m.exec(text)?.[1];
    if (truststore) file(join(truststore, 'tpp-issuing-ca.pem'), ca.certPem);
    const config = join(root, 'opendcr.toml');
    writeFileSync(config, text);

    const r = await runNode(CLI, ['--config', config, 'config', 'check'], { env: { OPENDCR_ADMIN_PASSWORD: 'a-long-production-password' } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `configuration OK (${config}, mode production)\n`);
    assert.equal(r.stderr, '', 'no warnings either');

    // Without the password the README asks for, the same file is refused.
    const bare = await runNode(CLI, ['--config', config, 'config', 'check']);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /key "super_admin\.password": the default password is not allowed in production mode/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
