import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { KeySetError, cacheControlMaxAge, createJwksCache } from '../../src/crypto/jwks.ts';
import type { JwksCacheOptions } from '../../src/crypto/jwks.ts';
import { createOutboundFetch } from '../../src/http/outbound.ts';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';

type Behaviour = 'ok' | 'down' | 'redirect' | 'garbage' | 'not-a-set' | 'big' | 'error';

interface Signer {
  key: CryptoKey;
  kid: string;
  jwk: JWK;
}

async function newSigner(kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair('PS256');
  return { key: privateKey, kid, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'PS256' } };
}

const sign = (s: Signer, kid = s.kid) => new SignJWT({ sub: 'tpp' }).setProtectedHeader({ alg: 'PS256', kid }).setIssuedAt().sign(s.key);

describe('createJwksCache', () => {
  let server: Server;
  let origin: string;
  let fetch: ReturnType<typeof createOutboundFetch>;
  let keyA: Signer;
  let keyB: Signer;
  const published = new Map<string, JWK[]>();
  const behaviour = new Map<string, Behaviour>();
  const cacheControl = new Map<string, string>();
  const hits = new Map<string, number>();
  let clock = Date.UTC(2025, 0, 1);
  const hitsOf = (path: string) => hits.get(path) ?? 0;

  before(async () => {
    [keyA, keyB] = await Promise.all([newSigner('key-a'), newSigner('key-b')]);
    const ca = await createCertificateAuthority({ subject: 'CN=JWKS Test CA', validityDays: 1 });
    const tls = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], validityDays: 1 });
    server = createServer({ cert: tls.chainPem, key: tls.keyPem }, (req, res) => {
      const path = req.url ?? '/';
      hits.set(path, hitsOf(path) + 1);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const cc = cacheControl.get(path);
      if (cc) headers['cache-control'] = cc;
      switch (behaviour.get(path) ?? 'ok') {
        case 'down':
          req.socket.destroy();
          return;
        case 'redirect':
          res.writeHead(302, { location: `${origin}/elsewhere/jwks` }).end();
          return;
        case 'garbage':
          res.writeHead(200, headers).end('<html>not json');
          return;
        case 'not-a-set':
          res.writeHead(200, headers).end('{"keys":{"kty":"RSA"}}');
          return;
        case 'big':
          res.writeHead(200, headers).end(JSON.stringify({ keys: [keyA.jwk], padding: 'x'.repeat(64 * 1024) }));
          return;
        case 'error':
          res.writeHead(503, headers).end('{}');
          return;
        case 'ok':
          res.writeHead(200, headers).end(JSON.stringify({ keys: published.get(path) ?? [keyA.jwk] }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    origin = `https://127.0.0.1:${port}`;
    fetch = createOutboundFetch({ allowedHosts: [`127.0.0.1:${port}`], extraCaPems: [ca.certPem], maxBytes: 16 * 1024, timeoutMs: 2000 });
  });

  after(async () => {
    await fetch.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const newCache = (overrides: Partial<JwksCacheOptions> = {}) =>
    createJwksCache({ fetch, maxAge: 600, staleFor: 86_400, cooldown: 30, timeoutMs: 2000, now: () => clock, ...overrides });

  async function rejectsWith(promise: Promise<unknown>, code: KeySetError['code'], message: string | RegExp) {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof KeySetError, `expected a KeySetError, got ${String(err)}`);
      assert.equal(err.code, code);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    });
  }

  it('verifies a PS256 JWT and serves the second verification from the cache', async () => {
    const cache = newCache();
    const keySet = cache.keySet(`${origin}/basic/jwks`);
    assert.equal(keySet.jwks(), undefined);
    const { payload, protectedHeader } = await jwtVerify(await sign(keyA), keySet, { algorithms: ['PS256'] });
    assert.equal(payload.sub, 'tpp');
    assert.equal(protectedHeader.kid, 'key-a');
    await jwtVerify(await sign(keyA), keySet, { algorithms: ['PS256'] });
    assert.equal(hitsOf('/basic/jwks'), 1);
    assert.deepEqual(
      keySet.jwks()?.keys.map((k) => k.kid),
      ['key-a'],
    );
    assert.equal(cache.keySet(`${origin}/basic/jwks`), cache.keySet(`${origin}/basic/jwks`), 'one resolver per URL');
  });

  it("keeps keys for the response's Cache-Control max-age, then refreshes", async () => {
    const path = '/max-age/jwks';
    cacheControl.set(path, 'public, max-age=60');
    const keySet = newCache({ maxAge: 600 }).keySet(`${origin}${path}`);
    const start = clock;
    await jwtVerify(await sign(keyA), keySet);
    clock = start + 59_000;
    await jwtVerify(await sign(keyA), keySet);
    assert.equal(hitsOf(path), 1);
    clock = start + 61_000;
    await jwtVerify(await sign(keyA), keySet);
    assert.equal(hitsOf(path), 2);
  });

  it('uses maxAge without Cache-Control, and refetches every time for no-store', async () => {
    const plain = '/default-age/jwks';
    const noStore = '/no-store/jwks';
    cacheControl.set(noStore, 'no-store');
    const cache = newCache({ maxAge: 120 });
    const start = clock;
    await jwtVerify(await sign(keyA), cache.keySet(`${origin}${plain}`));
    await jwtVerify(await sign(keyA), cache.keySet(`${origin}${noStore}`));
    clock = start + 100_000;
    await jwtVerify(await sign(keyA), cache.keySet(`${origin}${plain}`));
    await jwtVerify(await sign(keyA), cache.keySet(`${origin}${noStore}`));
    assert.deepEqual([hitsOf(plain), hitsOf(noStore)], [1, 2]);
    clock = start + 121_000;
    await jwtVerify(await sign(keyA), cache.keySet(`${origin}${plain}`));
    assert.equal(hitsOf(plain), 2);
  });

  it('refetches once for an unknown kid, then waits for the cooldown', async () => {
    const path = '/rotation/jwks';
    // jose times the cooldown with the real clock; a short one keeps the test quick.
    const keySet = newCache({ cooldown: 1 }).keySet(`${origin}${path}`);
    await jwtVerify(await sign(keyA), keySet);
    published.set(path, [keyA.jwk, keyB.jwk]);
    await rejectsWith(jwtVerify(await sign(keyB), keySet), 'no_matching_key', `no usable key for kid "key-b" in the key set at ${origin}${path}`);
    assert.equal(hitsOf(path), 1, 'no refetch inside the cooldown that follows a fetch');
    await sleep(1100);
    await jwtVerify(await sign(keyB), keySet);
    assert.equal(hitsOf(path), 2, 'one refetch for the rotated key');
    await rejectsWith(jwtVerify(await sign(keyB, 'key-c'), keySet), 'no_matching_key', /kid "key-c"/);
    assert.equal(hitsOf(path), 2, 'an unknown kid right after a refetch does not refetch again');
  });

  it('keeps verifying with cached keys while the host is down, until staleFor', async () => {
    const path = '/down/jwks';
    const keySet = newCache({ maxAge: 60, staleFor: 3600, cooldown: 30 }).keySet(`${origin}${path}`);
    const start = clock;
    await jwtVerify(await sign(keyA), keySet);
    behaviour.set(path, 'down');
    clock = start + 61_000;
    await jwtVerify(await sign(keyA), keySet);
    assert.equal(hitsOf(path), 2, 'tried to refresh');
    clock = start + 70_000;
    await jwtVerify(await sign(keyA), keySet);
    assert.equal(hitsOf(path), 2, 'a failed refresh is not retried within the cooldown');
    clock = start + 92_000;
    await jwtVerify(await sign(keyA), keySet);
    assert.equal(hitsOf(path), 3, 'retried after the cooldown');
    clock = start + 3_601_000;
    await rejectsWith(jwtVerify(await sign(keyA), keySet), 'unreachable', `could not fetch the key set at ${origin}${path} (connection closed by the host)`);
    behaviour.set(path, 'ok');
    await jwtVerify(await sign(keyA), keySet);
  });

  it('fetchKeys returns the cached key set', async () => {
    const path = '/fetch-keys/jwks';
    const cache = newCache();
    assert.deepEqual(
      (await cache.fetchKeys(`${origin}${path}`)).keys.map((k) => k.kid),
      ['key-a'],
    );
    await cache.fetchKeys(`${origin}${path}`);
    assert.equal(hitsOf(path), 1);
    cache.clear();
    await cache.fetchKeys(`${origin}${path}`);
    assert.equal(hitsOf(path), 2, 'clear() forgets the cached set');
  });

  it('refuses a host that is not on the allow-list', async () => {
    const url = `${origin.replace('127.0.0.1', 'localhost')}/not-allowed/jwks?x=1`;
    await rejectsWith(
      jwtVerify(await sign(keyA), newCache().keySet(url)),
      'not_allowed',
      `the key set URL ${origin.replace('127.0.0.1', 'localhost')}/not-allowed/jwks is not allowed by configuration`,
    );
    assert.equal(hitsOf('/not-allowed/jwks?x=1'), 0);
  });

  it('does not follow a redirect', async () => {
    behaviour.set('/redirect/jwks', 'redirect');
    await rejectsWith(
      newCache().fetchKeys(`${origin}/redirect/jwks`),
      'not_allowed',
      `the key set at ${origin}/redirect/jwks answered with a redirect, which is not followed`,
    );
    assert.equal(hitsOf('/elsewhere/jwks'), 0);
  });

  it('refuses an oversized key set', async () => {
    behaviour.set('/big/jwks', 'big');
    await rejectsWith(
      jwtVerify(await sign(keyA), newCache().keySet(`${origin}/big/jwks`)),
      'too_large',
      `the key set at ${origin}/big/jwks is larger than the size limit`,
    );
  });

  it('refuses a body that is not a JSON Web Key Set', async () => {
    behaviour.set('/garbage/jwks', 'garbage');
    behaviour.set('/not-a-set/jwks', 'not-a-set');
    for (const path of ['/garbage/jwks', '/not-a-set/jwks']) {
      await rejectsWith(
        jwtVerify(await sign(keyA), newCache().keySet(`${origin}${path}`)),
        'invalid',
        `the key set at ${origin}${path} is not a valid JSON Web Key Set`,
      );
    }
  });

  it('reports an HTTP error status as unreachable', async () => {
    behaviour.set('/error/jwks', 'error');
    await rejectsWith(newCache().fetchKeys(`${origin}/error/jwks`), 'unreachable', `could not fetch the key set at ${origin}/error/jwks (HTTP 503)`);
  });

  it('rejects a URL that does not parse', () => {
    assert.throws(
      () => newCache().keySet('not a url'),
      (err: unknown) => err instanceof KeySetError && err.code === 'not_allowed',
    );
  });

  it('rejects bad options up front', () => {
    assert.throws(() => newCache({ staleFor: -1 }), /staleFor must be a non-negative number/);
    assert.throws(() => newCache({ timeoutMs: 0 }), /timeoutMs must be a positive integer/);
  });
});

describe('cacheControlMaxAge', () => {
  it('reads max-age in milliseconds and treats no-store / no-cache as zero', () => {
    assert.equal(cacheControlMaxAge(null), undefined);
    assert.equal(cacheControlMaxAge('public'), undefined);
    assert.equal(cacheControlMaxAge('public, max-age=300'), 300_000);
    assert.equal(cacheControlMaxAge('Max-Age="5"'), 5_000);
    assert.equal(cacheControlMaxAge('max-age=abc'), undefined);
    assert.equal(cacheControlMaxAge('max-age=300, no-cache'), 0);
    assert.equal(cacheControlMaxAge('no-store'), 0);
  });
});
