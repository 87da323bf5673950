/**
 * For DCR: every time claim (iat, nbf, exp) of the registration request JWT and
 * of the software statement inside it, with the whole table of test/helpers/time-claims.ts, at
 * POST /register and PUT /register/{ClientId} of every version (v3.1, v3.2, v3.3 and the seed's
 * v3.3.0), on the embedded database and on PostgreSQL (the request's jti is recorded in the
 * database, which keeps whole seconds). Each case gets RFC 7591's 400 (invalid_client_metadata for
 * the request, invalid_software_statement for the SSA), never a 5xx; a valid one is accepted and
 * its replay refused (the request jti is single-use); a refused one is refused again.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startDcrEnvironment, jsonBody, type DcrEnvironment, type PathVersion } from '../helpers/dcr.ts';
import { stateBackends } from '../helpers/state-backends.ts';
import { TIME_CASES, rawJson, signRawJwt, type JwtKind, type TimeClaim } from '../helpers/time-claims.ts';

const VERSIONS: readonly PathVersion[] = ['v3.1', 'v3.2', 'v3.3', 'v3.3.0'];
const CLAIMS: readonly TimeClaim[] = ['iat', 'nbf', 'exp'];
const JTI_REPLAYED = { error: 'invalid_client_metadata', error_description: 'jti has already been used: sign a new registration request' };

interface Target {
  readonly name: string;
  readonly kind: JwtKind;
  /** The `error` of a refusal. */
  readonly error: string;
  readonly required: readonly TimeClaim[];
  /** The registration request body with `overrides` (raw JSON) applied to this target's claims. */
  body(overrides: Record<string, string | undefined>, t: number): Promise<string>;
}

const now = () => Math.floor(Date.now() / 1000);

// What failed was the stored jti (embedded SQLite or PostgreSQL); the Redis shared state holds no
// DCR state.
for (const backend of stateBackends().filter((b) => b.name !== 'redis')) {
  describe(`on the ${backend.name} database`, () => {
    let env: DcrEnvironment;
    let clientId: string;
    let token: string;
    let directoryKey: KeyObject;

    before(async () => {
      env = await startDcrEnvironment(await backend.open());
      directoryKey = createPrivateKey(env.directory.signingCertificate.keyPem);
      const tpp = env.aispPisp;
      clientId = String((await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201))['client_id']);
      token = await env.ccToken(tpp, clientId, 'private_key_jwt');
    });
    after(async () => {
      await env?.close();
      await backend.close();
    });

    const tpp = () => env.aispPisp;
    const signRequest = (claims: Record<string, unknown>, overrides: Record<string, string | undefined>) =>
      signRawJwt(rawJson(claims, overrides), { alg: 'PS256', typ: 'JWT', kid: tpp().signingKey.kid }, tpp().signingKey.key);

    const targets: readonly Target[] = [
      {
        name: 'registration request',
        kind: 'bounded',
        error: 'invalid_client_metadata',
        required: ['iat', 'exp'],
        body: async (overrides, t) =>
          signRequest({ ...(await env.validRequestClaims(tpp())), iss: tpp().softwareId, jti: randomUUID(), iat: t, exp: t + 300 }, overrides),
      },
      {
        name: 'software statement',
        kind: 'unbounded',
        error: 'invalid_software_statement',
        required: ['iat'],
        body: async (overrides, t) => {
          const ssa = await signRawJwt(
            rawJson({ ...tpp().ssaClaims, iat: t, jti: randomUUID() }, overrides),
            { alg: 'PS256', typ: 'JWT', kid: env.directory.kid },
            directoryKey,
          );
          return signRequest(
            { ...(await env.validRequestClaims(tpp(), { software_statement: ssa })), iss: tpp().softwareId, jti: randomUUID(), iat: t, exp: t + 300 },
            {},
          );
        },
      },
    ];

    for (const version of VERSIONS) {
      for (const method of ['POST', 'PUT'] as const) {
        const send = (body: string) =>
          method === 'POST' ? env.register(tpp(), {}, { version, raw: body }) : env.manage('PUT', clientId, { version, token, cert: tpp().transport, body });
        const acceptedStatus = method === 'POST' ? 201 : 200;

        for (const target of targets) {
          for (const claim of CLAIMS) {
            test(`${method} ${version}: every ${target.name} ${claim} value`, async () => {
              for (const c of TIME_CASES) {
                const t = now();
                const overrides = c.claims(t, claim);
                const body = await target.body(overrides, t);
                const accepted = c.accepted?.({ kind: target.kind, claim, required: target.required.includes(claim) }) ?? false;
                const label = `${method} ${version} ${target.name} ${claim} ${c.name}`;
                for (const attempt of ['first', 'replay'] as const) {
                  const res = await send(body);
                  const text = await res.text();
                  assert.ok(res.status < 500, `${label} (${attempt}): never a 5xx: ${res.status} ${text.slice(0, 300)}`);
                  if (accepted && attempt === 'first') {
                    assert.equal(res.status, acceptedStatus, `${label} is accepted: ${text.slice(0, 300)}`);
                    continue;
                  }
                  assert.equal(res.status, 400, `${label} (${attempt}) is refused: ${text.slice(0, 300)}`);
                  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
                  const answer = JSON.parse(text) as Record<string, unknown>;
                  if (accepted) {
                    // The replay of an accepted request: its jti is used up.
                    assert.deepEqual(answer, JTI_REPLAYED, `${label} (replay)`);
                    continue;
                  }
                  assert.deepEqual(Object.keys(answer).sort(), ['error', 'error_description'], label);
                  assert.equal(answer['error'], target.error, `${label} (${attempt}): ${text.slice(0, 300)}`);
                  for (const raw of Object.values(overrides)) {
                    if (raw !== undefined && raw.length >= 4)
                      assert.ok(!String(answer['error_description']).includes(raw), `${label}: the value is not echoed`);
                  }
                }
              }
            });
          }
        }
      }
    }
  });
}
