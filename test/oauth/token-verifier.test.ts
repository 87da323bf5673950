/**
 * The key manager's verifier, for what needs no provider: `recheck`, which asks again about a
 * token a cache kept (its client's revocation mark, the same mark `verify` reads), and the
 * certificate binding rule it shares with the gateway (`boundTo`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from '../../src/config/schema.ts';
import { boundTo, x5tS256 } from '../../src/crypto/thumbprint.ts';
import { createTokenVerifier, type VerifiedToken } from '../../src/oauth/token-verifier.ts';
import { REVOKED_CLIENTS } from '../../src/oauth/revocation.ts';
import { createCertificateAuthority } from '../../src/crypto/pki.ts';
import { RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';
import type { Storage } from '../../src/storage/ports.ts';

const token = (clientId: string): VerifiedToken => ({
  kind: 'access_token',
  format: 'jwt',
  keyManager: RESIDENT_KEY_MANAGER,
  clientId,
  softwareId: undefined,
  orgId: undefined,
  keySetUrl: undefined,
  roles: [],
  consentId: undefined,
  scopes: ['accounts'],
  grant: 'client_credentials',
  subject: clientId,
  certificateThumbprint: undefined,
  issuedAt: 0,
  expiresAt: 0,
  jti: undefined,
  audience: undefined,
  revoke: async () => undefined,
});

test('recheck: a kept token stands while its client has no revocation mark, and is refused TOKEN_REVOKED once it has one', async () => {
  const marks = new Set<string>();
  const asked: string[] = [];
  const verifier = createTokenVerifier({
    config: {} as Config,
    storage: {} as Storage,
    shared: {
      has: async (namespace, id) => {
        asked.push(`${namespace}:${id}`);
        return marks.has(id);
      },
    },
    provider: () => assert.fail('recheck never asks the provider'),
    publicJwks: () => assert.fail('recheck never reads the keys'),
  });
  assert.equal(await verifier.recheck(token('c1')), undefined);
  marks.add('c1');
  assert.deepEqual(await verifier.recheck(token('c1')), {
    valid: false,
    code: 'TOKEN_REVOKED',
    description: 'the client this token was issued to no longer exists',
  });
  assert.equal(await verifier.recheck(token('c2')), undefined, 'only the marked client');
  assert.deepEqual(asked, [`${REVOKED_CLIENTS}:c1`, `${REVOKED_CLIENTS}:c1`, `${REVOKED_CLIENTS}:c2`]);
});

test('boundTo: bound only to the certificate whose x5t#S256 the token carries; an unbound token or no certificate binds nothing', async () => {
  const a = (await createCertificateAuthority({ subject: 'CN=a', validityDays: 1 })).x509;
  const b = (await createCertificateAuthority({ subject: 'CN=b', validityDays: 1 })).x509;
  assert.equal(boundTo(x5tS256(a), a), true);
  assert.equal(boundTo(x5tS256(a), b), false);
  assert.equal(boundTo(undefined, a), false);
  assert.equal(boundTo(x5tS256(a), undefined), false);
});
