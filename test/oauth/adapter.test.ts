/** The oidc-provider adapter over in-memory SQLite, with an injected clock. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import Provider from 'oidc-provider';
import { createOidcAdapter, OIDC_MODEL_NAMES } from '../../src/oauth/adapter.ts';
import type { OidcAdapterFactory } from '../../src/oauth/adapter.ts';
import { openStorage } from '../../src/storage/index.ts';

const T0 = 1_800_000_000;

async function setup(t: TestContext): Promise<{ adapter: OidcAdapterFactory; advance: (s: number) => void }> {
  let clock = T0;
  const now = (): number => clock;
  const storage = await openStorage({ url: 'sqlite::memory:', poolSize: 1, busyTimeoutMs: 1000, now });
  t.after(() => storage.close());
  return {
    adapter: createOidcAdapter(storage.oidc, now),
    advance: (s) => {
      clock += s;
    },
  };
}

test('every oidc-provider model round-trips, separately keyed', async (t) => {
  const { adapter } = await setup(t);
  for (const name of OIDC_MODEL_NAMES) {
    await adapter(name).upsert('same-id', { jti: 'same-id', kind: name }, 60);
  }
  for (const name of OIDC_MODEL_NAMES) {
    assert.deepEqual(await adapter(name).find('same-id'), { jti: 'same-id', kind: name }, name);
  }
  assert.equal(await adapter('AccessToken').find('absent'), undefined);
});

test('expiresIn counts from the injected clock; undefined never expires', async (t) => {
  const { adapter, advance } = await setup(t);
  await adapter('AccessToken').upsert('at1', { jti: 'at1' }, 30);
  await adapter('Client').upsert('client1', { client_id: 'client1' });
  advance(29);
  assert.deepEqual(await adapter('AccessToken').find('at1'), { jti: 'at1' });
  advance(1);
  assert.equal(await adapter('AccessToken').find('at1'), undefined);
  advance(10 ** 8);
  assert.deepEqual(await adapter('Client').find('client1'), { client_id: 'client1' });
});

test('consume stamps payload.consumed with the clock', async (t) => {
  const { adapter, advance } = await setup(t);
  const codes = adapter('AuthorizationCode');
  await codes.upsert('code1', { jti: 'code1', grantId: 'g1' }, 60);
  advance(7);
  await codes.consume('code1');
  assert.deepEqual(await codes.find('code1'), { jti: 'code1', grantId: 'g1', consumed: T0 + 7 });
});

test('destroy removes the record', async (t) => {
  const { adapter } = await setup(t);
  await adapter('Interaction').upsert('i1', { jti: 'i1' }, 60);
  await adapter('Interaction').destroy('i1');
  assert.equal(await adapter('Interaction').find('i1'), undefined);
});

test('revokeByGrantId on one model revokes the grant in every model', async (t) => {
  const { adapter } = await setup(t);
  await adapter('AccessToken').upsert('at', { grantId: 'g1' }, 60);
  await adapter('RefreshToken').upsert('rt', { grantId: 'g1' }, 60);
  await adapter('AuthorizationCode').upsert('ac', { grantId: 'g1' }, 60);
  await adapter('AccessToken').upsert('at-other', { grantId: 'g2' }, 60);
  await adapter('RefreshToken').revokeByGrantId('g1');
  assert.equal(await adapter('AccessToken').find('at'), undefined);
  assert.equal(await adapter('RefreshToken').find('rt'), undefined);
  assert.equal(await adapter('AuthorizationCode').find('ac'), undefined);
  assert.deepEqual(await adapter('AccessToken').find('at-other'), { grantId: 'g2' });
});

test('findByUid and findByUserCode, hidden once expired', async (t) => {
  const { adapter, advance } = await setup(t);
  await adapter('Session').upsert('sess', { jti: 'sess', uid: 'u1', accountId: 'psu' }, 60);
  await adapter('DeviceCode').upsert('dc', { jti: 'dc', userCode: 'WDJB-MJHT' }, 30);
  assert.deepEqual(await adapter('Session').findByUid('u1'), { jti: 'sess', uid: 'u1', accountId: 'psu' });
  assert.equal(await adapter('Session').findByUid('u2'), undefined);
  assert.deepEqual(await adapter('DeviceCode').findByUserCode('WDJB-MJHT'), { jti: 'dc', userCode: 'WDJB-MJHT' });
  assert.equal(await adapter('Interaction').findByUid('u1'), undefined, 'lookups stay within the model');
  advance(30);
  assert.equal(await adapter('DeviceCode').findByUserCode('WDJB-MJHT'), undefined);
  assert.ok(await adapter('Session').findByUid('u1'));
  advance(30);
  assert.equal(await adapter('Session').findByUid('u1'), undefined);
});

test('oidc-provider accepts the factory and persists its models through it', async (t) => {
  // oidc-provider checks expiry against the real clock, so this one uses it too.
  const now = (): number => Math.floor(Date.now() / 1000);
  const storage = await openStorage({ url: 'sqlite::memory:', poolSize: 1, busyTimeoutMs: 1000, now });
  t.after(() => storage.close());
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const provider = new Provider('https://op.example.com', {
    adapter: createOidcAdapter(storage.oidc, now),
    jwks: { keys: [privateKey.export({ format: 'jwk' })] },
    features: { devInteractions: { enabled: false } },
    ttl: { Grant: 600 },
  });
  const grant = new provider.Grant({ accountId: 'psu', clientId: 'client1' });
  grant.addOIDCScope('openid');
  const grantId: string = await grant.save();
  const found = await provider.Grant.find(grantId);
  assert.equal(found?.accountId, 'psu');
  assert.deepEqual(await storage.oidc.listIds('Grant', 10), [grantId]);
});
