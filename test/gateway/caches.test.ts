/**
 * The gateway's memories are bounded, so that an idle cluster's memory does not grow, and forget
 * what they must: the verified-token cache by size, token expiry, catalogue version and client;
 * the identity JWTs by size and half-life.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import { createTokenCache } from '../../src/gateway/token-cache.ts';
import { createIdentitySigner } from '../../src/gateway/identity.ts';
import { openStorage } from '../../src/storage/index.ts';
import type { VerifiedToken } from '../../src/oauth/token-verifier.ts';
import { RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';

const token = (clientId: string, expiresAt: number): VerifiedToken => ({
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
  certificateThumbprint: 't',
  issuedAt: 0,
  expiresAt,
  jti: undefined,
  audience: undefined,
  revoke: async () => undefined,
});

test("verified tokens: at most maxEntries (oldest out), never past the token's expiry or the bound, only for the same catalogue version, dropped per client", () => {
  const cache = createTokenCache({ maxEntries: 2, maxAgeMs: 60_000 });
  const now = 1_000_000_000_000;
  const exp = now / 1000 + 3600;
  cache.set('a', token('c1', exp), now, 'v1');
  cache.set('b', token('c1', exp), now, 'v1');
  cache.set('c', token('c2', exp), now, 'v1');
  assert.equal(cache.get('a', now, 'v1'), undefined, 'the oldest went');
  assert.equal(cache.get('b', now, 'v1')?.clientId, 'c1');
  assert.equal(cache.get('b', now + 60_000, 'v1'), undefined, 'the bound (60 s)');
  cache.set('d', token('c2', now / 1000 + 5), now, 'v1');
  assert.equal(cache.get('d', now + 4_000, 'v1')?.clientId, 'c2');
  assert.equal(cache.get('d', now + 5_000, 'v1'), undefined, "the token's own expiry");
  cache.set('e', token('c3', exp), now, 'v1');
  assert.equal(cache.get('e', now, 'v2'), undefined, 'another catalogue version (a key manager changed)');
  cache.set('f', token('c3', exp), now, 'v1');
  cache.set('g', token('c4', exp), now, 'v1');
  cache.forgetClient('c3');
  assert.equal(cache.get('f', now, 'v1'), undefined);
  assert.equal(cache.get('g', now, 'v1')?.clientId, 'c4');
  cache.set('expired', token('c5', now / 1000 - 1), now, 'v1');
  assert.equal(cache.get('expired', now, 'v1'), undefined, 'an expired token is never kept');
});

test("identity JWTs: one per token and audience until half their lifetime, then a new one; the key is the database's", async () => {
  const storage = await openStorage({ url: 'sqlite::memory:', poolSize: 1, busyTimeoutMs: 1000 });
  try {
    let t = 2_000_000_000;
    const signer = await createIdentitySigner({ storage, issuer: 'https://gw.example/gateway', lifetime: 60, now: () => t });
    const again = await createIdentitySigner({ storage, issuer: 'https://gw.example/gateway', lifetime: 60, now: () => t });
    assert.deepEqual(again.jwks, signer.jwks, 'a second signer (another worker or host) uses the same key');
    assert.equal((signer.jwks.keys[0] as Record<string, unknown>)['d'], undefined, 'only the public key is published');
    const who = {
      keyManager: 'External IdP',
      clientId: 'c1',
      softwareId: 's1',
      orgId: 'o1',
      roles: ['AISP'],
      scopes: ['accounts'],
      psu: 'psu-1',
      consentId: undefined,
    };
    const first = await signer.sign(who, 'https://backend.example', 'token-1');
    assert.equal(await signer.sign(who, 'https://backend.example', 'token-1'), first, 'reused');
    assert.notEqual(await signer.sign(who, 'https://other.example', 'token-1'), first, 'per audience');
    t += 30;
    const renewed = await signer.sign(who, 'https://backend.example', 'token-1');
    assert.notEqual(renewed, first, 'renewed at half its lifetime');
    const claims = decodeJwt(renewed);
    assert.equal(claims.exp! - claims.iat!, 60);
    assert.deepEqual(
      [claims['key_manager'], claims['client_id'], claims['software_id'], claims['org_id'], claims['roles'], claims['scope'], claims['psu']],
      ['External IdP', 'c1', 's1', 'o1', ['AISP'], 'accounts', 'psu-1'],
      'the application is its key manager and client id together',
    );
  } finally {
    await storage.close();
  }
});
