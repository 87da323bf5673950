/**
 * The token step (src/gateway/steps/authenticate.ts): the Bearer header, the resolver for a token
 * not seen before and the cache for one that was, the key manager's recheck of a cached token, and
 * the certificate binding, checked here for every token (fresh or cached, resident or external).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerError } from '../../../src/errors/app-error.ts';
import { authenticate, bearerToken } from '../../../src/gateway/steps/authenticate.ts';
import { createTokenCache } from '../../../src/gateway/token-cache.ts';
import type { TokenResolver } from '../../../src/gateway/token-resolver.ts';
import type { VerifiedToken } from '../../../src/oauth/token-verifier.ts';
import type { ClientCertificate } from '../../../src/http/client-cert.ts';
import { api, assertRefused, challenge, fakeCall, fakeRequest, operation, snapshotOf, thumbprintOf, transportCertificate, verifiedToken } from './support.ts';

const tpp = await transportCertificate('tpp');
const other = await transportCertificate('other');
const qwac = await transportCertificate('qwac', ['PISP', 'CBPII']);

/** A resolver that answers `answers` by token and records what it was asked. */
function fakeResolver(answers: Record<string, VerifiedToken | Error>, recheck: TokenResolver['recheck'] = () => undefined) {
  const resolved: string[] = [];
  const rechecked: VerifiedToken[] = [];
  const resolver: TokenResolver = {
    async resolve(raw) {
      resolved.push(raw);
      const a = answers[raw];
      if (a === undefined) throw bearerError('GATEWAY_TOKEN_UNKNOWN', 'not in this test');
      if (a instanceof Error) throw a;
      return a;
    },
    recheck(t) {
      rechecked.push(t);
      return recheck(t);
    },
  };
  return { resolver, resolved, rechecked };
}

function certified(authorization: string | undefined, cert: ClientCertificate = tpp, version = 'v1') {
  return fakeCall({
    req: fakeRequest({ headers: authorization === undefined ? {} : { authorization } }),
    snapshot: snapshotOf([api()], undefined, version),
    match: { api: api(), operation: operation(), rest: '/accounts/a1' },
    cert,
  });
}

test('the Authorization header: none is GATEWAY_TOKEN_MISSING with a bare challenge (RFC 6750 §3.1), another shape GATEWAY_TOKEN_MALFORMED', async () => {
  await assertRefused(() => bearerToken(undefined), 'GATEWAY_TOKEN_MISSING', 'a Bearer access token is required', {
    'www-authenticate': 'Bearer realm="opendcr"',
  });
  for (const header of ['', 'Basic dXNlcjpwYXNz', 'bearer abc', 'Bearer  abc', 'Bearer a b', 'Bearer abc ']) {
    await assertRefused(
      () => bearerToken(header),
      'GATEWAY_TOKEN_MALFORMED',
      'the Authorization header is not Bearer and an access token',
      challenge('the Authorization header is not Bearer and an access token'),
    );
  }
  assert.equal(bearerToken('Bearer abc.DEF-_~+/=='), 'abc.DEF-_~+/==');
});

test('a new token is resolved by its key manager, kept when it is a JWT, and names the caller', async () => {
  const jwt = verifiedToken({ certificateThumbprint: thumbprintOf(tpp), roles: ['AISP'] });
  const opaque = verifiedToken({ format: 'opaque', certificateThumbprint: thumbprintOf(tpp), clientId: 'client-2' });
  const { resolver, resolved, rechecked } = fakeResolver({ jwt, opaque });
  const tokens = createTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
  const call = certified('Bearer jwt');
  const authenticated = await authenticate({ resolver, tokens }, call);
  assert.equal(authenticated, call);
  assert.deepEqual(authenticated.caller, { token: jwt, raw: 'jwt', roles: ['AISP'] });
  assert.equal(call.ctx?.clientId, 'client-1', 'the access log names the client');
  assert.equal(tokens.get('jwt', Date.now(), 'v1'), jwt, "kept under the call's catalogue version");
  await authenticate({ resolver, tokens }, certified('Bearer opaque'));
  assert.equal(tokens.get('opaque', Date.now(), 'v1'), undefined, 'an opaque token is looked up every time');
  assert.deepEqual(resolved, ['jwt', 'opaque']);
  assert.deepEqual(rechecked, []);
});

test("the resolver's refusal is the answer, its code and challenge unchanged", async () => {
  const expired = bearerError('GATEWAY_TOKEN_EXPIRED', 'the access token has expired');
  const { resolver } = fakeResolver({ old: expired });
  const tokens = createTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
  const err = await assertRefused(
    () => authenticate({ resolver, tokens }, certified('Bearer old')),
    'GATEWAY_TOKEN_EXPIRED',
    'the access token has expired',
    challenge('the access token has expired'),
  );
  assert.equal(err, expired);
  assert.equal(tokens.get('old', Date.now(), 'v1'), undefined);
});

test('a cached token is not resolved again, but rechecked; a refusal forgets the client and is the answer', async () => {
  const jwt = verifiedToken({ certificateThumbprint: thumbprintOf(tpp) });
  let revoked = false;
  const { resolver, resolved, rechecked } = fakeResolver({ jwt }, () =>
    Promise.resolve(revoked ? bearerError('GATEWAY_TOKEN_REVOKED', 'the client this token was issued to no longer exists') : undefined),
  );
  const tokens = createTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
  const forgotten: string[] = [];
  const deps = {
    resolver,
    tokens: {
      ...tokens,
      forgetClient: (id: string) => {
        forgotten.push(id);
        tokens.forgetClient(id);
      },
    },
  };
  await authenticate(deps, certified('Bearer jwt'));
  await authenticate(deps, certified('Bearer jwt'));
  assert.deepEqual(resolved, ['jwt'], 'resolved once');
  assert.deepEqual(rechecked, [jwt], 'rechecked when taken from the cache');
  revoked = true;
  await assertRefused(
    () => authenticate(deps, certified('Bearer jwt')),
    'GATEWAY_TOKEN_REVOKED',
    'the client this token was issued to no longer exists',
    challenge('the client this token was issued to no longer exists'),
  );
  assert.deepEqual(forgotten, ['client-1']);
  assert.equal(tokens.get('jwt', Date.now(), 'v1'), undefined);
});

test('a cached token made under another catalogue version is resolved again', async () => {
  const jwt = verifiedToken({ certificateThumbprint: thumbprintOf(tpp) });
  const { resolver, resolved } = fakeResolver({ jwt });
  const tokens = createTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
  await authenticate({ resolver, tokens }, certified('Bearer jwt', tpp, 'v1'));
  await authenticate({ resolver, tokens }, certified('Bearer jwt', tpp, 'v2'));
  assert.deepEqual(resolved, ['jwt', 'jwt']);
});

test('the binding: a token bound to another certificate, or to none, is 401 GATEWAY_TOKEN_CERT_MISMATCH, fresh or cached', async () => {
  const bound = verifiedToken({ certificateThumbprint: thumbprintOf(tpp) });
  const unbound = verifiedToken({ certificateThumbprint: undefined, keyManager: 'External IdP' });
  const { resolver } = fakeResolver({ bound, unbound });
  const tokens = createTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
  const another = 'the access token is bound to another client certificate than the one presented';
  await assertRefused(() => authenticate({ resolver, tokens }, certified('Bearer bound', other)), 'GATEWAY_TOKEN_CERT_MISMATCH', another, challenge(another));
  assert.equal(tokens.get('bound', Date.now(), 'v1'), bound, 'the token verified: kept, its binding checked on every call');
  await assertRefused(() => authenticate({ resolver, tokens }, certified('Bearer bound', other)), 'GATEWAY_TOKEN_CERT_MISMATCH', another, challenge(another));
  assert.equal((await authenticate({ resolver, tokens }, certified('Bearer bound', tpp))).caller.token, bound);
  const none = 'the access token is not bound to a client certificate';
  for (let i = 0; i < 2; i++) {
    await assertRefused(() => authenticate({ resolver, tokens }, certified('Bearer unbound', tpp)), 'GATEWAY_TOKEN_CERT_MISMATCH', none, challenge(none));
  }
});

test("the TPP's roles: its certificate's PSD2 roles when it carries them, else the token's", async () => {
  const token = verifiedToken({ certificateThumbprint: thumbprintOf(qwac), roles: ['AISP'] });
  const { resolver } = fakeResolver({ token });
  const tokens = createTokenCache({ maxEntries: 10, maxAgeMs: 60_000 });
  assert.deepEqual((await authenticate({ resolver, tokens }, certified('Bearer token', qwac))).caller.roles, ['CBPII', 'PISP']);
  const plain = verifiedToken({ certificateThumbprint: thumbprintOf(tpp), roles: ['AISP'] });
  const second = fakeResolver({ plain });
  assert.deepEqual((await authenticate({ resolver: second.resolver, tokens }, certified('Bearer plain', tpp))).caller.roles, ['AISP']);
});
