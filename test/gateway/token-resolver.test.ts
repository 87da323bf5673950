/**
 * The token resolver (src/gateway/token-resolver.ts), without sockets: which key manager owns a
 * token (token handling rules, the resident one's issuer and opaque tokens, disabled ones owning
 * nothing), what an external key manager's token says through its claim mapping (self-validated
 * JWTs, introspected opaque tokens), and the coded refusal each failed check answers with.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import type { Config } from '../../src/config/schema.ts';
import { KeySetError } from '../../src/crypto/jwks.ts';
import { createTokenResolver, RESIDENT_REFUSALS } from '../../src/gateway/token-resolver.ts';
import type { OutboundFetch } from '../../src/http/outbound.ts';
import type { TokenFailure, TokenRefusal, TokenVerification, TokenVerifier, VerifyOptions } from '../../src/oauth/token-verifier.ts';
import { type KeyManagerRecord, RESIDENT_KEY_MANAGER } from '../../src/storage/catalogue-records.ts';
import { assertRefused, challenge, verifiedToken } from './steps/support.ts';

const ISSUER = 'https://as.bank.example';
const EXT = 'https://idp.example';
const NOW = 2_000_000_000;
const config = { derived: { issuer: ISSUER }, oauth: { clock_tolerance: 5 } } as unknown as Config;

const { privateKey, publicKey } = await generateKeyPair('ES256');
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] };
const stranger = await generateKeyPair('ES256');

function keyManager(over: Partial<KeyManagerRecord>): KeyManagerRecord {
  return {
    name: 'External IdP',
    displayName: 'External IdP',
    type: 'oidc',
    enabled: true,
    issuer: EXT,
    wellKnownEndpoint: `${EXT}/.well-known/openid-configuration`,
    jwksUri: `${EXT}/jwks`,
    introspectionEndpoint: `${EXT}/introspect`,
    tokenEndpoint: `${EXT}/token`,
    revokeEndpoint: null,
    validation: 'jwt',
    introspectionClient: { clientId: 'gateway', clientSecret: 's3cret:x' },
    audience: 'https://api.bank.example',
    tokenHandling: [{ type: 'JWT', value: EXT }],
    claimMapping: { clientId: 'azp', scopes: 'scp', roles: 'tpp_roles' },
    createdAt: 0,
    updatedAt: 0,
    ...over,
  };
}
const resident = keyManager({ name: RESIDENT_KEY_MANAGER, type: 'resident', issuer: ISSUER, tokenHandling: [], jwksUri: null, introspectionEndpoint: null });

const sign = (claims: JWTPayload, opts: { kid?: string; key?: typeof privateKey } = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' }).sign(opts.key ?? privateKey);
const externalClaims = (over: JWTPayload = {}): JWTPayload => ({
  iss: EXT,
  aud: 'https://api.bank.example',
  exp: NOW + 300,
  iat: NOW,
  azp: 'ext-client',
  sub: 'ext-client',
  scp: ['accounts', 'payments'],
  tpp_roles: 'AISP PISP',
  cnf: { 'x5t#S256': 'thumb' },
  jti: 'j1',
  ...over,
});

/** A verifier that answers `answer` and records what it was asked. */
function fakeVerifier(answer: TokenVerification, recheck: TokenRefusal | undefined = undefined) {
  const asked: Array<{ token: string; certificate: unknown; opts: VerifyOptions | undefined }> = [];
  const verifier: TokenVerifier = {
    async verify(token, certificate, opts) {
      asked.push({ token, certificate, opts });
      return answer;
    },
    recheck: async () => recheck,
  };
  return { verifier, asked };
}

/** An introspection endpoint answering `body` (status 200 unless given), recording each request. */
function fakeIntrospection(body: unknown, status = 200) {
  const requests: Array<{ url: string; headers: Record<string, string>; body: string }> = [];
  const fetch = (async (url: string, init: { headers: Record<string, string>; body: string }) => {
    requests.push({ url, headers: init.headers, body: init.body });
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }) as unknown as OutboundFetch;
  return { fetch, requests };
}

function resolver(opts: {
  keyManagers: KeyManagerRecord[];
  verifier?: TokenVerifier;
  fetch?: OutboundFetch;
  keySet?: (url: string) => ReturnType<typeof createLocalJWKSet>;
}) {
  return createTokenResolver({
    config,
    verifier: opts.verifier ?? fakeVerifier({ valid: false, code: 'TOKEN_UNKNOWN', description: 'not asked' }).verifier,
    keySets: { keySet: (opts.keySet ?? (() => createLocalJWKSet(jwks))) as never },
    fetch: opts.fetch ?? ((async () => assert.fail('no introspection expected')) as unknown as OutboundFetch),
    keyManagers: () => opts.keyManagers,
    now: () => NOW,
  });
}

test('the resident key manager owns its own JWTs and the opaque tokens no one claims; its verifier is asked without the certificate (the token step checks the binding)', async () => {
  const token = verifiedToken();
  const { verifier, asked } = fakeVerifier({ valid: true, token });
  const r = resolver({ keyManagers: [keyManager({ tokenHandling: [{ type: 'REFERENCE', value: 'ext-[a-z]+' }] }), resident], verifier });
  const own = await sign({ iss: ISSUER, client_id: 'c1' });
  assert.equal(await r.resolve(own), token);
  assert.equal(await r.resolve('opaque-token-0123456789'), token);
  assert.deepEqual(asked, [
    { token: own, certificate: undefined, opts: { checkCertificate: false } },
    { token: 'opaque-token-0123456789', certificate: undefined, opts: { checkCertificate: false } },
  ]);
});

test("each reason the resident verifier gives is answered with the gateway's code and the verifier's description", async () => {
  const expected: Record<TokenFailure, string> = {
    TOKEN_UNKNOWN: 'GATEWAY_TOKEN_UNKNOWN',
    TOKEN_EXPIRED: 'GATEWAY_TOKEN_EXPIRED',
    TOKEN_CLAIMS_INVALID: 'GATEWAY_TOKEN_CLAIMS_INVALID',
    TOKEN_REVOKED: 'GATEWAY_TOKEN_REVOKED',
    TOKEN_CERT_MISMATCH: 'GATEWAY_TOKEN_CERT_MISMATCH',
  };
  assert.deepEqual(RESIDENT_REFUSALS, expected);
  for (const [code, gateway] of Object.entries(expected)) {
    const description = `the verifier's reason for ${code}`;
    const { verifier } = fakeVerifier({ valid: false, code: code as TokenFailure, description });
    await assertRefused(() => resolver({ keyManagers: [resident], verifier }).resolve('opaque'), gateway, description, challenge(description));
  }
  const { verifier } = fakeVerifier({ valid: false, code: 'TOKEN_CLAIMS_INVALID', description: 'the access token\'s aud claim is "not" valid\\here' });
  await assertRefused(
    () => resolver({ keyManagers: [resident], verifier }).resolve('opaque'),
    'GATEWAY_TOKEN_CLAIMS_INVALID',
    undefined,
    challenge("the access token's aud claim is not validhere"),
  );
});

test('no enabled key manager owns it: another issuer, a disabled key manager (the resident one too); a JWT that cannot be read is malformed', async () => {
  const noOwner = 'no enabled key manager owns this access token';
  const ext = keyManager({});
  await assertRefused(
    async () => resolver({ keyManagers: [ext, resident] }).resolve(await sign({ iss: 'https://other.example' })),
    'GATEWAY_TOKEN_NO_KEY_MANAGER',
    noOwner,
    challenge(noOwner),
  );
  await assertRefused(
    async () => resolver({ keyManagers: [{ ...ext, enabled: false }, resident] }).resolve(await sign(externalClaims())),
    'GATEWAY_TOKEN_NO_KEY_MANAGER',
    noOwner,
  );
  await assertRefused(() => resolver({ keyManagers: [{ ...resident, enabled: false }] }).resolve('opaque'), 'GATEWAY_TOKEN_NO_KEY_MANAGER', noOwner);
  await assertRefused(
    async () => resolver({ keyManagers: [{ ...resident, enabled: false }] }).resolve(await sign({ iss: ISSUER })),
    'GATEWAY_TOKEN_NO_KEY_MANAGER',
    noOwner,
  );
  await assertRefused(
    () => resolver({ keyManagers: [resident] }).resolve('e30.bm90IGpzb24.c2ln'),
    'GATEWAY_TOKEN_MALFORMED',
    'the access token is not a readable JWT',
  );
});

test("an external key manager's self-validated JWT, in the verifier's terms through its claim mapping", async () => {
  const r = resolver({ keyManagers: [resident, keyManager({})] });
  const t = await r.resolve(await sign(externalClaims()));
  assert.deepEqual(
    { ...t, revoke: undefined },
    {
      kind: 'access_token',
      format: 'jwt',
      keyManager: 'External IdP',
      clientId: 'ext-client',
      softwareId: undefined,
      orgId: undefined,
      keySetUrl: undefined,
      roles: ['AISP', 'PISP'],
      consentId: undefined,
      scopes: ['accounts', 'payments'],
      grant: 'client_credentials',
      subject: 'ext-client',
      certificateThumbprint: 'thumb',
      issuedAt: NOW,
      expiresAt: NOW + 300,
      jti: 'j1',
      audience: 'https://api.bank.example',
      revoke: undefined,
    },
  );
  const psu = await r.resolve(await sign(externalClaims({ sub: 'psu-1', openbanking_intent_id: 'intent-1' })));
  assert.deepEqual([psu.grant, psu.subject, psu.consentId], ['psu', 'psu-1', 'intent-1']);
  const noRoles = await resolver({ keyManagers: [keyManager({ claimMapping: { clientId: 'azp', scopes: 'scp', roles: null } })] }).resolve(
    await sign(externalClaims()),
  );
  assert.deepEqual(noRoles.roles, [], 'roles only through the mapping, never guessed');
});

test('token handling: CUSTOM claim=value and REFERENCE patterns pick the owner; the first enabled match wins', async () => {
  const custom = keyManager({ name: 'Custom', tokenHandling: [{ type: 'CUSTOM', value: 'tenant=bank-a' }] });
  const t = await resolver({ keyManagers: [custom] }).resolve(await sign(externalClaims({ tenant: 'bank-a' })));
  assert.equal(t.keyManager, 'Custom');
  await assertRefused(
    async () => resolver({ keyManagers: [custom] }).resolve(await sign(externalClaims({ tenant: 'bank-b' }))),
    'GATEWAY_TOKEN_NO_KEY_MANAGER',
  );
  const reference = keyManager({ name: 'Ref', validation: 'introspection', tokenHandling: [{ type: 'REFERENCE', value: 'ref-[0-9]+' }] });
  const { fetch } = fakeIntrospection({ active: true, azp: 'c9', scp: 'accounts', exp: NOW + 100 });
  assert.equal((await resolver({ keyManagers: [reference, resident], fetch }).resolve('ref-42')).keyManager, 'Ref');
  const { verifier, asked } = fakeVerifier({ valid: true, token: verifiedToken() });
  const other = await resolver({ keyManagers: [reference, resident], fetch, verifier }).resolve('ref-42x');
  assert.equal(other.keyManager, RESIDENT_KEY_MANAGER, 'a pattern matches the whole token: this one is left to the resident key manager');
  assert.equal(asked.length, 1);
});

test('self-validation refusals: expired, a claim not valid here, a signature that does not verify, a kid not in the key set, no client id', async () => {
  const r = resolver({ keyManagers: [keyManager({})] });
  await assertRefused(
    async () => r.resolve(await sign(externalClaims({ exp: NOW - 60 }))),
    'GATEWAY_TOKEN_EXPIRED',
    'the access token has expired',
    challenge('the access token has expired'),
  );
  await assertRefused(
    async () => r.resolve(await sign(externalClaims({ aud: 'https://another.example' }))),
    'GATEWAY_TOKEN_CLAIMS_INVALID',
    "the access token's aud claim is not valid here",
  );
  await assertRefused(
    async () => r.resolve(await sign(externalClaims({ nbf: NOW + 600 }))),
    'GATEWAY_TOKEN_CLAIMS_INVALID',
    "the access token's nbf claim is not valid here",
  );
  const { exp: _exp, ...noExp } = externalClaims();
  await assertRefused(async () => r.resolve(await sign(noExp)), 'GATEWAY_TOKEN_CLAIMS_INVALID', "the access token's exp claim is not valid here");
  await assertRefused(
    async () => r.resolve(await sign(externalClaims(), { key: stranger.privateKey })),
    'GATEWAY_TOKEN_UNKNOWN',
    "the access token's signature does not verify with its key manager's keys",
  );
  const noKid = resolver({
    keyManagers: [keyManager({})],
    keySet: (url) => (async () => Promise.reject(new KeySetError('no_matching_key', url, 'no usable key'))) as never,
  });
  await assertRefused(
    async () => noKid.resolve(await sign(externalClaims(), { kid: 'k9' })),
    'GATEWAY_TOKEN_UNKNOWN',
    "the access token names no key of its key manager's key set",
  );
  await assertRefused(
    async () => r.resolve(await sign(externalClaims({ azp: undefined }))),
    'GATEWAY_TOKEN_CLAIMS_INVALID',
    'the access token has no azp claim',
  );
});

test('a key set that cannot be fetched: 503 GATEWAY_KEY_MANAGER_UNAVAILABLE, not a refused token', async () => {
  const down = resolver({
    keyManagers: [keyManager({})],
    keySet: (url) => (async () => Promise.reject(new KeySetError('unreachable', url, 'could not fetch'))) as never,
  });
  const err = await assertRefused(
    async () => down.resolve(await sign(externalClaims())),
    'GATEWAY_KEY_MANAGER_UNAVAILABLE',
    'the key set of key manager External IdP could not be fetched',
  );
  assert.equal(err.status, 503);
});

test("introspected opaque tokens: the gateway's credentials, the answer by its claim mapping and cached; inactive, unmapped, unreachable", async () => {
  const km = keyManager({ validation: 'introspection', tokenHandling: [{ type: 'REFERENCE', value: '[A-Za-z0-9]{20}' }] });
  const active = fakeIntrospection({ active: true, azp: 'ext-client', scp: 'accounts', sub: 'ext-client', exp: NOW + 100, cnf: { 'x5t#S256': 'thumb' } });
  const r = resolver({ keyManagers: [km], fetch: active.fetch });
  const token = 'A'.repeat(20);
  const t = await r.resolve(token);
  assert.deepEqual([t.format, t.keyManager, t.clientId, t.scopes, t.certificateThumbprint], ['opaque', 'External IdP', 'ext-client', ['accounts'], 'thumb']);
  await r.resolve(token);
  assert.equal(active.requests.length, 1, 'the answer is cached');
  assert.equal(active.requests[0]!.url, `${EXT}/introspect`);
  assert.equal(active.requests[0]!.headers['authorization'], `Basic ${Buffer.from('gateway:s3cret%3Ax').toString('base64')}`);
  assert.equal(active.requests[0]!.body, `token=${token}&token_type_hint=access_token`);

  const inactive = resolver({ keyManagers: [km], fetch: fakeIntrospection({ active: false }).fetch });
  await assertRefused(
    () => inactive.resolve(token),
    'GATEWAY_TOKEN_INACTIVE',
    'the key manager says the access token is not active',
    challenge('the key manager says the access token is not active'),
  );
  const lapsed = resolver({ keyManagers: [km], fetch: fakeIntrospection({ active: true, azp: 'c', exp: NOW }).fetch });
  await assertRefused(() => lapsed.resolve(token), 'GATEWAY_TOKEN_INACTIVE', undefined, undefined);
  const unmapped = resolver({ keyManagers: [km], fetch: fakeIntrospection({ active: true, client_id: 'c' }).fetch });
  await assertRefused(() => unmapped.resolve(token), 'GATEWAY_TOKEN_CLAIMS_INVALID', 'the introspection answer has no azp claim');
  const failing = resolver({ keyManagers: [km], fetch: fakeIntrospection({}, 500).fetch });
  const err = await assertRefused(() => failing.resolve(token), 'GATEWAY_KEY_MANAGER_UNAVAILABLE', 'key manager External IdP could not introspect the token');
  assert.equal(err.status, 503);
});

test("recheck: a resident token asks the verifier and answers its refusal as the gateway's; an external one has nothing to ask", async () => {
  const revoked: TokenRefusal = { valid: false, code: 'TOKEN_REVOKED', description: 'the client this token was issued to no longer exists' };
  const standing = resolver({ keyManagers: [resident], verifier: fakeVerifier({ valid: true, token: verifiedToken() }).verifier });
  assert.equal(await standing.recheck(verifiedToken()), undefined);
  const gone = resolver({ keyManagers: [resident], verifier: fakeVerifier({ valid: true, token: verifiedToken() }, revoked).verifier });
  const refusal = await gone.recheck(verifiedToken());
  assert.equal(refusal?.code, 'GATEWAY_TOKEN_REVOKED');
  assert.deepEqual(refusal?.headers, challenge('the client this token was issued to no longer exists'));
  assert.equal(gone.recheck(verifiedToken({ keyManager: 'External IdP' })), undefined, 'no promise: nothing to wait for');
});
