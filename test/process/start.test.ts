/**
 * `npm start` as a bank engineer runs it: no configuration file at all, a fresh folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startChildServer, httpsGet } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';

test('with no config: sandbox server on HTTPS, generated PKI and keys reused on the next start, clean SIGTERM', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'opendcr-start-'));
  try {
    const port = await freePort();
    const first = await startChildServer({ cwd, port });
    const ca = readFileSync(join(cwd, 'data', 'pki', 'ca.pem'), 'utf8');
    assert.equal(statSync(join(cwd, 'data', 'pki', 'server-key.pem')).mode & 0o777, 0o600);
    assert.ok(existsSync(join(cwd, 'data', 'opendcr.db')));

    // The server certificate verifies against the generated CA for "localhost".
    const disco = await httpsGet(port, '/.well-known/openid-configuration', ca);
    assert.equal(disco.status, 200);
    const doc = JSON.parse(disco.body) as Record<string, unknown>;
    assert.equal(doc['issuer'], `https://localhost:${port}`);
    assert.ok((doc['token_endpoint_auth_methods_supported'] as string[]).includes('tls_client_auth'));
    assert.ok((doc['token_endpoint_auth_methods_supported'] as string[]).includes('private_key_jwt'));
    assert.ok((doc['id_token_signing_alg_values_supported'] as string[]).includes('PS256'));
    assert.equal((doc['request_object_signing_alg_values_supported'] as string[])[0], 'PS256');
    const jwks1 = JSON.parse((await httpsGet(port, '/oauth2/jwks', ca)).body) as { keys: Array<{ kid: string; d?: string }> };
    assert.ok(jwks1.keys.length >= 2);
    assert.ok(
      jwks1.keys.every((k) => k.d === undefined),
      'no private key material is published',
    );

    assert.equal(await first.stop(), 0, first.output());
    assert.match(first.output(), /"msg":"stopped"/);

    const second = await startChildServer({ cwd, port });
    try {
      assert.equal(readFileSync(join(cwd, 'data', 'pki', 'ca.pem'), 'utf8'), ca, 'the CA is reused, not regenerated');
      const jwks2 = JSON.parse((await httpsGet(port, '/oauth2/jwks', ca)).body) as { keys: Array<{ kid: string }> };
      assert.deepEqual(jwks2.keys.map((k) => k.kid).sort(), jwks1.keys.map((k) => k.kid).sort(), 'signing keys are reused');
      assert.doesNotMatch(second.output(), /generated a development CA/);
    } finally {
      assert.equal(await second.stop(), 0);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('logs are JSON lines and carry no secrets', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'opendcr-start-'));
  try {
    const port = await freePort();
    const s = await startChildServer({ cwd, port, env: { OPENDCR_ADMIN_PASSWORD: 'super-secret-admin-pw' } });
    await httpsGet(port, '/api/identity/oauth2/v1.0/scopes');
    await s.stop();
    const lines = s.output().trim().split('\n').filter(Boolean);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    assert.doesNotMatch(s.output(), /super-secret-admin-pw/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('opendcr keys rotate (another process) reaches a running server without a restart', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'opendcr-start-'));
  try {
    const port = await freePort();
    const s = await startChildServer({ cwd, port, args: [], env: {} });
    try {
      const before = JSON.parse((await httpsGet(port, '/oauth2/jwks')).body) as { keys: Array<{ kid: string }> };
      const r = spawnSync(process.execPath, [new URL('../../src/cli/index.ts', import.meta.url).pathname, 'keys', 'rotate', '--json'], {
        cwd,
        encoding: 'utf8',
        env: { ...process.env, OPENDCR_CONFIG: '', OPENDCR_PORT: String(port) },
      });
      assert.equal(r.status, 0, r.stderr);
      const { active } = JSON.parse(r.stdout) as { active: string[] };
      assert.equal(active.length, 2);
      // Workers check every [oauth.key_rotation] check_interval (10 s by default); poll within a bound.
      let after: { keys: Array<{ kid: string; key_ops?: string[] }> } = { keys: [] };
      for (let i = 0; i < 150; i++) {
        after = JSON.parse((await httpsGet(port, '/oauth2/jwks')).body) as typeof after;
        if (active.every((kid) => after.keys.some((k) => k.kid === kid))) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      for (const kid of active)
        assert.ok(
          after.keys.some((k) => k.kid === kid),
          'new keys published',
        );
      for (const { kid } of before.keys)
        assert.ok(
          after.keys.some((k) => k.kid === kid),
          'old keys still published',
        );
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
