/**
 * Software statement verification (src/dcr/ssa.ts) without a server: the form of the JWS, its
 * algorithm, the trusted issuer, the environment that picks the directory key set, the signature
 * by the key its kid names, the time claims by a frozen clock, the required claims and the
 * organisation's status, each failure with its exact code and description, in the order the
 * checks run. Keys and tokens are made with jose; the directory key sets are served from memory.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { KeySetError } from '../../src/crypto/jwks.ts';
import { AppError } from '../../src/errors/app-error.ts';
import { validateSoftwareStatement } from '../../src/dcr/ssa.ts';
import { fakeKeySets } from '../helpers/key-sets.ts';

type Claims = Record<string, unknown>;

const base = loadConfig({ env: {} });
const withDcr = (dcr: Partial<Config['open_banking']['dcr']>): Config =>
  ({ ...base, open_banking: { ...base.open_banking, dcr: { ...base.open_banking.dcr, ...dcr } } }) as Config;

const NOW = 1_750_000_000;
const SKEW = base.oauth.clock_tolerance;
const SANDBOX = 'https://directory.example.com/sandbox.jwks';
const PRODUCTION = 'https://directory.example.com/production.jwks';
const ISSUER = 'OpenBanking Ltd';
const trust = { jwksUrl: (env: 'sandbox' | 'production') => (env === 'sandbox' ? SANDBOX : PRODUCTION), issuers: () => [ISSUER] };

interface Key {
  key: CryptoKey;
  jwk: JWK;
}
let directory: Key;
let directoryEc: Key;
let production: Key;
let stranger: Key;

async function newKey(alg: 'PS256' | 'ES256' | 'RS256', kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { key: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

before(async () => {
  directory = await newKey('PS256', 'dir-1');
  directoryEc = await newKey('ES256', 'dir-ec');
  production = await newKey('PS256', 'prod-1');
  stranger = await newKey('PS256', 'dir-1');
});

/** The claims of a valid sandbox SSA issued a minute ago. */
const claims = (overrides: Claims = {}): Claims => {
  const c: Claims = {
    iss: ISSUER,
    iat: NOW - 60,
    jti: 'b9a1d0c2-5d3b-4a5e-9f5e-1c2d3e4f5a6b',
    software_id: 'Qeyb9TC0IzLympA9mKoSQ0',
    org_id: '0015800001HQQrZAAX',
    org_status: 'Active',
    software_environment: 'sandbox',
    software_jwks_endpoint: 'https://keystore.example.com/0015800001HQQrZAAX/Qeyb9TC0IzLympA9mKoSQ0.jwks',
    software_jwks_revoked_endpoint: 'https://keystore.example.com/0015800001HQQrZAAX/revoked/Qeyb9TC0IzLympA9mKoSQ0.jwks',
    software_redirect_uris: ['https://tpp.example.com/cb'],
    software_roles: ['AISP', 'PISP'],
    software_client_name: 'Acme App',
    ...overrides,
  };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
};

/** An SSA signed by `key` (default the sandbox directory's) with the header's alg and kid. */
async function mint(overrides: Claims = {}, opts: { key?: Key; alg?: string; kid?: string | null } = {}): Promise<string> {
  const key = opts.key ?? directory;
  const header: Record<string, unknown> = { alg: opts.alg ?? key.jwk.alg, typ: 'JWT' };
  if (opts.kid !== null) header['kid'] = opts.kid ?? key.jwk.kid;
  return new SignJWT(claims(overrides)).setProtectedHeader(header as { alg: string }).sign(key.key);
}

const directorySets = () => fakeKeySets({ [SANDBOX]: { keys: [directory.jwk, directoryEc.jwk] }, [PRODUCTION]: { keys: [production.jwk] } });

function verify(input: unknown, opts: { config?: Config; keySets?: ReturnType<typeof fakeKeySets>; now?: number } = {}) {
  return validateSoftwareStatement(input, { config: opts.config ?? base, trust, keySets: opts.keySets ?? directorySets(), now: () => opts.now ?? NOW });
}

async function rejects(input: unknown, code: string, error: string, description: string, opts: Parameters<typeof verify>[1] = {}): Promise<void> {
  await assert.rejects(verify(input, opts), (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.deepEqual({ code: err.code, status: err.status, error: err.error, description: err.description }, { code, status: 400, error, description });
    return true;
  });
}
const invalid = (input: unknown, code: string, description: string, opts?: Parameters<typeof verify>[1]) =>
  rejects(input, code, 'invalid_software_statement', description, opts);
const unapproved = (input: unknown, code: string, description: string, opts?: Parameters<typeof verify>[1]) =>
  rejects(input, code, 'unapproved_software_statement', description, opts);

describe('a valid software statement', () => {
  test('returns the SSA as sent (trimmed) and its claims', async () => {
    const ssa = await mint();
    const verified = await verify(`  ${ssa}\n`);
    assert.equal(verified.raw, ssa);
    assert.deepEqual(verified.claims, claims());
  });

  test('ES256 is accepted, and the kid picks the key among several', async () => {
    assert.equal((await verify(await mint({}, { key: directoryEc }))).claims.software_id, 'Qeyb9TC0IzLympA9mKoSQ0');
  });

  test('a production SSA is verified with the production key set', async () => {
    const keySets = directorySets();
    await verify(await mint({ software_environment: 'production' }, { key: production }), { keySets });
    assert.deepEqual(keySets.asked, [PRODUCTION]);
  });
});

describe('form and algorithm', () => {
  test('missing', () => invalid(undefined, 'SSA_MISSING', 'software_statement is missing'));
  test('blank', () => invalid('   ', 'SSA_MISSING', 'software_statement is missing'));
  test('not a string', () => invalid({ iss: ISSUER }, 'SSA_MISSING', 'software_statement is missing'));
  test('not a compact JWS', () => invalid('a.b', 'SSA_NOT_JWS', 'software_statement is not a compact JWS (three base64url parts separated by dots)'));
  test('three parts that are not base64url JSON', () =>
    invalid('abc.def.ghi', 'SSA_UNDECODABLE', 'software_statement could not be decoded: its header and payload must be base64url-encoded JSON objects'));

  test('unsigned (alg none)', async () =>
    invalid(new UnsecuredJWT(claims()).encode(), 'SSA_ALG_NOT_ALLOWED', 'software_statement must be signed with PS256 or ES256, not none'));

  test('RS256', async () => {
    const rsa = await newKey('RS256', 'dir-1');
    await invalid(await mint({}, { key: rsa }), 'SSA_ALG_NOT_ALLOWED', 'software_statement must be signed with PS256 or ES256, not RS256');
  });

  test('HS256', async () => {
    const ssa = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'dir-1' }).sign(new Uint8Array(32));
    await invalid(ssa, 'SSA_ALG_NOT_ALLOWED', 'software_statement must be signed with PS256 or ES256, not HS256');
  });

  test('ES256 when [open_banking.dcr] ssa_signing_algorithms has only PS256', async () =>
    invalid(await mint({}, { key: directoryEc }), 'SSA_ALG_NOT_ALLOWED', 'software_statement must be signed with PS256, not ES256', {
      config: withDcr({ ssa_signing_algorithms: ['PS256'] }),
    }));
});

describe('issuer and environment', () => {
  test('an issuer that is not a trusted directory is refused before any key set is fetched', async () => {
    const keySets = directorySets();
    await unapproved(
      await mint({ iss: 'Rogue Directory Ltd' }, { key: stranger }),
      'SSA_ISSUER_UNTRUSTED',
      'software_statement issuer "Rogue Directory Ltd" is not a trusted directory',
      {
        keySets,
      },
    );
    assert.deepEqual(keySets.asked, []);
  });

  test('no issuer, or one that is not a string', async () => {
    await unapproved(await mint({ iss: undefined }), 'SSA_ISSUER_UNTRUSTED', 'software_statement issuer (missing) is not a trusted directory');
    await unapproved(await mint({ iss: 42 }), 'SSA_ISSUER_UNTRUSTED', 'software_statement issuer (missing) is not a trusted directory');
  });

  test('a long issuer is cut to 100 characters', async () =>
    unapproved(await mint({ iss: 'x'.repeat(300) }), 'SSA_ISSUER_UNTRUSTED', `software_statement issuer "${'x'.repeat(100)}" is not a trusted directory`));

  for (const env of ['test', undefined, 'Sandbox']) {
    test(`software_environment ${JSON.stringify(env)}`, async () =>
      unapproved(
        await mint({ software_environment: env }),
        'SSA_ENVIRONMENT_UNKNOWN',
        'software_statement software_environment must be "sandbox" or "production"',
      ));
  }

  test('an environment this deployment does not accept', async () =>
    unapproved(
      await mint({ software_environment: 'production' }, { key: production }),
      'SSA_ENVIRONMENT_NOT_ACCEPTED',
      'software statements for the production environment are not accepted by this server',
      { config: withDcr({ software_environments: ['sandbox'] }) },
    ));
});

describe('signature', () => {
  test('no kid, or an empty one', async () => {
    const description = 'the software_statement JWS header must carry the kid of the directory key that signed it';
    await invalid(await mint({}, { kid: null }), 'SSA_KID_MISSING', description);
    await invalid(await mint({}, { kid: '' }), 'SSA_KID_MISSING', description);
  });

  test('another key under the directory kid', async () =>
    invalid(await mint({}, { key: stranger }), 'SSA_SIGNATURE_INVALID', 'the signature of the software_statement is invalid'));

  test('a kid the directory does not publish', async () =>
    invalid(await mint({}, { kid: 'dir-unknown' }), 'SSA_KEY_NOT_FOUND', `no key in ${SANDBOX} matches the kid of the software_statement`));

  test("the sandbox directory's key does not sign production statements", async () =>
    invalid(await mint({ software_environment: 'production' }), 'SSA_KEY_NOT_FOUND', `no key in ${PRODUCTION} matches the kid of the software_statement`));

  test('a changed payload', async () => {
    const [h, , sig] = (await mint()).split('.');
    const payload = Buffer.from(JSON.stringify(claims({ software_roles: ['AISP', 'PISP', 'CBPII'] }))).toString('base64url');
    await invalid(`${h}.${payload}.${sig}`, 'SSA_SIGNATURE_INVALID', 'the signature of the software_statement is invalid');
  });

  test('the directory key set cannot be fetched', async () =>
    invalid(await mint(), 'SSA_KEY_SET_UNAVAILABLE', `the key set at ${SANDBOX} could not be fetched; try again later`, { keySets: fakeKeySets({}) }));

  test('the directory key set is at a location this server may not fetch from', async () =>
    invalid(await mint(), 'SSA_KEY_SET_NOT_ALLOWED', `${SANDBOX} is not an allowed key set location for the software_statement`, {
      keySets: fakeKeySets({ [SANDBOX]: new KeySetError('not_allowed', SANDBOX, 'not allowed') }),
    }));

  test('the directory key set is not a JWKS', async () =>
    invalid(await mint(), 'SSA_KEY_SET_INVALID', `the key set at ${SANDBOX} is not a valid JWKS`, {
      keySets: fakeKeySets({ [SANDBOX]: new KeySetError('invalid', SANDBOX, 'invalid') }),
    }));
});

describe('time, by the clock given', () => {
  const timeError = (claim: string) => `software_statement claim ${claim} must be a time (seconds since 1970, up to the year 9999)`;
  const iatError = 'software_statement iat is missing or not a time (seconds since 1970, up to the year 9999)';

  test('iat missing or not a time', async () => {
    for (const iat of [undefined, '1750000000', -1, 253_402_300_800]) await invalid(await mint({ iat }), 'SSA_IAT_INVALID', iatError);
  });

  test('nbf or exp not a time', async () => {
    await invalid(await mint({ nbf: 'soon' }), 'SSA_CLAIM_INVALID', timeError('nbf'));
    await invalid(await mint({ exp: 'later' }), 'SSA_CLAIM_INVALID', timeError('exp'));
  });

  test('iat in the future beyond the clock skew; within it is accepted', async () => {
    await invalid(await mint({ iat: NOW + SKEW + 1 }), 'SSA_IAT_FUTURE', 'software_statement iat is in the future');
    await verify(await mint({ iat: NOW + SKEW }));
  });

  test('nbf in the future', async () =>
    invalid(await mint({ nbf: NOW + SKEW + 60 }), 'SSA_NOT_YET_VALID', 'software_statement nbf is in the future: it is not valid yet'));

  test('expired beyond the clock skew; within it is accepted', async () => {
    await invalid(await mint({ exp: NOW - SKEW - 1 }), 'SSA_EXPIRED', 'software_statement has expired');
    await verify(await mint({ exp: NOW - SKEW }));
  });

  test('exp not after iat or nbf', async () => {
    await invalid(await mint({ iat: NOW, exp: NOW }), 'SSA_CLAIM_INVALID', 'software_statement exp must be after iat');
    await invalid(await mint({ nbf: NOW + 1, exp: NOW + 1 }), 'SSA_CLAIM_INVALID', 'software_statement exp must be after nbf');
  });

  test('no exp is fine (directory SSAs carry none), however old, unless ssa_max_age is set', async () => {
    const old = await mint({ iat: NOW - 5 * 365 * 86_400 });
    await verify(old);
    await invalid(old, 'SSA_TOO_OLD', 'software_statement is older than 3600 seconds; ask the directory for a new one', {
      config: withDcr({ ssa_max_age: 3600 }),
    });
    await verify(await mint({ iat: NOW - 3600 }), { config: withDcr({ ssa_max_age: 3600 }) });
    await invalid(await mint({ iat: NOW - 3601 }), 'SSA_TOO_OLD', 'software_statement is older than 3600 seconds; ask the directory for a new one', {
      config: withDcr({ ssa_max_age: 3600 }),
    });
  });

  test('the time checks use the clock given, not the system clock', async () => {
    const ssa = await mint({ iat: NOW - 60, exp: NOW + 600 });
    await verify(ssa, { now: NOW });
    await invalid(ssa, 'SSA_EXPIRED', 'software_statement has expired', { now: NOW + 3600 });
    await invalid(ssa, 'SSA_IAT_FUTURE', 'software_statement iat is in the future', { now: NOW - 3600 });
  });

  test('a bad time is reported only for a statement whose signature holds', async () =>
    invalid(await mint({ iat: NOW + 3600 }, { key: stranger }), 'SSA_SIGNATURE_INVALID', 'the signature of the software_statement is invalid'));
});

describe('claims', () => {
  for (const [claim, value, code, description] of [
    ['software_id', undefined, 'SSA_CLAIM_MISSING', 'software_statement claim software_id is missing'],
    ['software_id', '', 'SSA_CLAIM_MISSING', 'software_statement claim software_id is missing'],
    ['software_id', 7, 'SSA_CLAIM_MISSING', 'software_statement claim software_id is missing'],
    ['org_id', undefined, 'SSA_CLAIM_MISSING', 'software_statement claim org_id is missing'],
    ['software_jwks_endpoint', undefined, 'SSA_CLAIM_INVALID', 'software_statement claim software_jwks_endpoint must be an https URL'],
    [
      'software_jwks_endpoint',
      'http://keystore.example.com/x.jwks',
      'SSA_CLAIM_INVALID',
      'software_statement claim software_jwks_endpoint must be an https URL',
    ],
    ['software_jwks_endpoint', 'keystore.example.com/x.jwks', 'SSA_CLAIM_INVALID', 'software_statement claim software_jwks_endpoint must be an https URL'],
    ['software_redirect_uris', undefined, 'SSA_CLAIM_INVALID', 'software_statement claim software_redirect_uris must be a non-empty array of URLs'],
    ['software_redirect_uris', [], 'SSA_CLAIM_INVALID', 'software_statement claim software_redirect_uris must be a non-empty array of URLs'],
    [
      'software_redirect_uris',
      'https://tpp.example.com/cb',
      'SSA_CLAIM_INVALID',
      'software_statement claim software_redirect_uris must be a non-empty array of URLs',
    ],
    [
      'software_redirect_uris',
      ['https://tpp.example.com/cb', ''],
      'SSA_CLAIM_INVALID',
      'software_statement claim software_redirect_uris must be a non-empty array of URLs',
    ],
    ['software_roles', undefined, 'SSA_CLAIM_INVALID', 'software_statement claim software_roles must be a non-empty array'],
    ['software_roles', [], 'SSA_CLAIM_INVALID', 'software_statement claim software_roles must be a non-empty array'],
    ['software_roles', 'AISP', 'SSA_CLAIM_INVALID', 'software_statement claim software_roles must be a non-empty array'],
    [
      'software_jwks_revoked_endpoint',
      'http://keystore.example.com/revoked.jwks',
      'SSA_CLAIM_INVALID',
      'software_statement claim software_jwks_revoked_endpoint must be an https URL',
    ],
    ['org_jwks_revoked_endpoint', 42, 'SSA_CLAIM_INVALID', 'software_statement claim org_jwks_revoked_endpoint must be an https URL'],
  ] as const) {
    test(`${claim} = ${JSON.stringify(value) ?? 'missing'}`, async () => invalid(await mint({ [claim]: value }), code, description));
  }

  test('the revoked-keys endpoints are optional', async () => {
    await verify(await mint({ software_jwks_revoked_endpoint: undefined, org_jwks_revoked_endpoint: undefined }));
  });

  test('claims are checked in order: software_id before org_id before the key set URL', async () =>
    invalid(
      await mint({ software_id: undefined, org_id: undefined, software_jwks_endpoint: undefined }),
      'SSA_CLAIM_MISSING',
      'software_statement claim software_id is missing',
    ));
});

describe("the organisation's status", () => {
  for (const status of ['Revoked', 'Withdrawn', 'active']) {
    test(`org_status ${status}`, async () =>
      unapproved(await mint({ org_status: status }), 'SSA_ORG_NOT_ACTIVE', `the organisation's status in the directory is "${status}", not Active`));
  }

  test('no org_status is accepted', async () => {
    await verify(await mint({ org_status: undefined }));
  });
});

test('the SSA jti is not single-use: the same statement verifies twice', async () => {
  const ssa = await mint();
  const keySets = directorySets();
  await verify(ssa, { keySets });
  await verify(ssa, { keySets });
});
