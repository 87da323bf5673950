/**
 * Key selection for the registration request JWT: a key is chosen only by the kid the header
 * names, checked against the revoked lists (by kid and by key material), and only then used.
 * The key sets come from an in-memory JwksCache, so every case is about the selection logic.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { loadConfig } from '../../src/config/load.ts';
import { KeySetError, type CachedKeySet, type JwksCache } from '../../src/crypto/jwks.ts';
import { AppError } from '../../src/errors/app-error.ts';
import { decodeRegistrationRequest } from '../../src/dcr/parse-request.ts';
import { validateRequestJwt } from '../../src/dcr/request-jwt.ts';
import type { VerifiedSsa } from '../../src/dcr/ssa.ts';

const SOFTWARE = 'https://keys.example.com/org/software.jwks';
const REVOKED = 'https://keys.example.com/org/revoked/software.jwks';
const AUD = 'https://bank.example.com';
const config = loadConfig({ env: {} });
const now = () => Math.floor(Date.now() / 1000);

async function newKey(kid: string): Promise<{ key: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('PS256');
  return { key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'PS256', use: 'sig' } };
}

/** A JwksCache over fixed key sets; a URL mapped to an Error fails with it. */
function keySets(sets: Record<string, JSONWebKeySet | Error>): JwksCache {
  const get = (url: string) => {
    const set = sets[url];
    if (set === undefined) throw new KeySetError('unreachable', url, `could not fetch the key set at ${url}`);
    if (set instanceof Error) throw set;
    return set;
  };
  return {
    keySet(url) {
      const resolve = async (...args: Parameters<CachedKeySet>) => createLocalJWKSet(get(url))(...args);
      return Object.assign(resolve, { jwks: () => get(url) }) as CachedKeySet;
    },
    fetchKeys: async (url) => get(url),
    clear() {},
    status: () => [],
  };
}

const ssa: VerifiedSsa = {
  raw: 'x.y.z',
  claims: {
    iss: 'OpenBanking Ltd',
    iat: now(),
    software_id: 'software-1',
    org_id: 'org-1',
    software_environment: 'sandbox',
    software_jwks_endpoint: SOFTWARE,
    software_redirect_uris: ['https://tpp.example.com/cb'],
    software_roles: ['AISP'],
    software_jwks_revoked_endpoint: REVOKED,
  },
};

async function request(key: CryptoKey, header: Record<string, unknown>): Promise<ReturnType<typeof decodeRegistrationRequest>> {
  const jwt = await new SignJWT({ software_id: 'software-1' })
    .setProtectedHeader({ alg: 'PS256', ...header })
    .setIssuer('software-1')
    .setAudience(AUD)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(key);
  return decodeRegistrationRequest(jwt);
}

const validate = (req: ReturnType<typeof decodeRegistrationRequest>, sets: JwksCache) =>
  validateRequestJwt(req, ssa, { config, keySets: sets, now, audiences: new Set([AUD]) });

function rejectsWith(error: string, description: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.error, error);
    if (typeof description === 'string') assert.equal(err.description, description);
    else assert.match(err.description, description);
    return true;
  };
}

describe('registration request key selection', () => {
  test('a key named by kid, published and not revoked, verifies', async () => {
    const k = await newKey('k1');
    await validate(await request(k.key, { kid: 'k1' }), keySets({ [SOFTWARE]: { keys: [k.jwk] }, [REVOKED]: { keys: [] } }));
  });

  test('no kid: refused before any key is chosen, even when the key set holds only that key', async () => {
    const k = await newKey('k1');
    await assert.rejects(
      validate(await request(k.key, {}), keySets({ [SOFTWARE]: { keys: [k.jwk] }, [REVOKED]: { keys: [] } })),
      rejectsWith(
        'invalid_client_metadata',
        "the registration request JWS header must carry the kid of its signing key in the software statement's software_jwks_endpoint",
      ),
    );
  });

  test('no kid and a revoked key still in a cached software key set: refused, never accepted', async () => {
    const k = await newKey('k1');
    await assert.rejects(
      validate(await request(k.key, {}), keySets({ [SOFTWARE]: { keys: [k.jwk] }, [REVOKED]: { keys: [k.jwk] } })),
      rejectsWith('invalid_client_metadata', /must carry the kid/),
    );
  });

  test('a revoked kid is unapproved_software_statement even while the software key set still lists it', async () => {
    const k = await newKey('k1');
    await assert.rejects(
      validate(await request(k.key, { kid: 'k1' }), keySets({ [SOFTWARE]: { keys: [k.jwk] }, [REVOKED]: { keys: [k.jwk] } })),
      rejectsWith('unapproved_software_statement', 'the key k1 that signed the registration request has been revoked'),
    );
  });

  test('the revoked key material republished under a new kid is still revoked', async () => {
    const k = await newKey('k1');
    const republished = { ...k.jwk, kid: 'k1-again' };
    await assert.rejects(
      validate(await request(k.key, { kid: 'k1-again' }), keySets({ [SOFTWARE]: { keys: [republished] }, [REVOKED]: { keys: [k.jwk] } })),
      rejectsWith('unapproved_software_statement', 'the key k1-again that signed the registration request has been revoked'),
    );
  });

  test('a revoked list that only names kids is honoured', async () => {
    const k = await newKey('k1');
    await assert.rejects(
      validate(await request(k.key, { kid: 'k1' }), keySets({ [SOFTWARE]: { keys: [k.jwk] }, [REVOKED]: { keys: [{ kid: 'k1' } as JWK] } })),
      rejectsWith('unapproved_software_statement', /has been revoked/),
    );
  });

  test('a revoked list this server may not fetch says so (a configuration problem, not an outage)', async () => {
    const k = await newKey('k1');
    const refused = new KeySetError('not_allowed', REVOKED, `the key set URL ${REVOKED} is not allowed by configuration`);
    await assert.rejects(
      validate(await request(k.key, { kid: 'k1' }), keySets({ [SOFTWARE]: { keys: [k.jwk] }, [REVOKED]: refused })),
      rejectsWith(
        'unapproved_software_statement',
        `the revoked-keys list at ${REVOKED} cannot be checked: this server is not allowed to fetch from that location (its host is not in [oauth] allowed_outbound_hosts, or it redirects); ask the bank to allow it`,
      ),
    );
  });

  test('an unreachable revoked list fails the request (an unchecked key is never used)', async () => {
    const k = await newKey('k1');
    await assert.rejects(
      validate(await request(k.key, { kid: 'k1' }), keySets({ [SOFTWARE]: { keys: [k.jwk] } })),
      rejectsWith('unapproved_software_statement', `the revoked-keys list at ${REVOKED} could not be checked; try again later`),
    );
  });
});
