/**
 * GET / PUT / DELETE /open-banking/v3.3/register/{ClientId} (docs/dcr.md#management):
 * authorised by a client_credentials access token of that client bound to its transport
 * certificate (JWT and opaque tokens), or by the registration access token when
 * append_registration_attributes_in_response is on. Every failure is a 401 with a Bearer
 * challenge; PUT validates like POST; DELETE revokes the client's tokens.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { importPKCS8 } from 'jose';
import type { SandboxTpp } from '../../src/sandbox/tpp.ts';
import type { ClientCertificate } from '../../src/http/client-cert.ts';
import { x5tS256 } from '../../src/crypto/thumbprint.ts';
import { assertErrorResponse } from '../helpers/assert-error.ts';
import { authorizeInBrowser } from '../helpers/browser.ts';
import { fetchVia } from '../helpers/ob-client.ts';
import { seedConsent } from '../helpers/consents.ts';
import { intentClaims } from '../../src/cli/psu-flow.ts';
import { jsonBody, startDcrEnvironment, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';

const PSU = { username: 'psu', password: 'psu' };
const NOT_VALID = 'the access token is not valid for this registration';

interface Registered {
  clientId: string;
  body: Record<string, unknown>;
  tpp: SandboxTpp;
}

/** The TPP's transport certificate as the server sees a presented one. */
const presented = (tpp: SandboxTpp): ClientCertificate => ({ pem: tpp.transport.x509.toString(), x509: tpp.transport.x509, authorized: true, source: 'tls' });

async function registerClient(env: DcrEnvironment, tpp: SandboxTpp = env.aispPisp, overrides: Record<string, unknown> = {}): Promise<Registered> {
  const body = await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp, overrides)), 201);
  return { clientId: String(body['client_id']), body, tpp };
}

/** 401 invalid_token with the RFC 6750 §3.1 challenge (no error code when no credentials were sent). */
async function assertUnauthorized(res: Response, description: string, credentialsPresent = true): Promise<void> {
  const challenge = credentialsPresent
    ? `Bearer realm="opendcr", error="invalid_token", error_description="${description.replace(/["\\]/g, '')}"`
    : 'Bearer realm="opendcr"';
  assert.equal(res.headers.get('www-authenticate'), challenge);
  await assertErrorResponse(res, 401, { error: 'invalid_token', error_description: description });
}

/**
 * A refresh token for a registered client, from a FAPI authorization (JAR, code id_token, PKCE)
 * through the PSU's browser, with openid-client over the TPP's mutual TLS.
 */
async function refreshTokenFor(env: DcrEnvironment, r: Registered): Promise<string> {
  const key = await importPKCS8(r.tpp.signingKey.key.export({ type: 'pkcs8', format: 'pem' }).toString(), 'PS256');
  const signingKey = { key, kid: r.tpp.signingKey.kid };
  const config = await client.discovery(new URL(env.url), r.clientId, { id_token_signed_response_alg: 'PS256' }, client.PrivateKeyJwt(signingKey), {
    [client.customFetch]: fetchVia(env.ts.mtlsAgent(tlsOf(r.tpp.transport))),
  });
  client.useCodeIdTokenResponseType(config);
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithJAR(
    config,
    {
      redirect_uri: r.tpp.redirectUris[0]!,
      scope: 'openid accounts',
      nonce,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      claims: JSON.stringify(intentClaims(await seedConsent(env.ts.storage, r.clientId))),
    },
    signingKey,
  );
  const callback = await authorizeInBrowser(env.ts, url, PSU);
  const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state });
  assert.ok(tokens.refresh_token, 'a refresh token is issued');
  return tokens.refresh_token;
}

for (const tokenType of ['jwt', 'opaque'] as const) {
  describe(`with ${tokenType} client_credentials access tokens`, () => {
    let env: DcrEnvironment;
    before(async () => {
      env = await startDcrEnvironment({ oauth: { token_generation: { access_token_type: tokenType } } });
    });
    after(() => env?.close());

    const tokenOf = (r: Registered) => env.ccToken(r.tpp, r.clientId, 'private_key_jwt');

    test("GET with the client's own token returns the registration (no scope needed)", async () => {
      const r = await registerClient(env);
      const token = await tokenOf(r);
      const got = await jsonBody(await env.manage('GET', r.clientId, { token, cert: r.tpp.transport }), 200);
      assert.deepEqual(got, r.body);
      assert.equal(got['software_statement'], r.body['software_statement']);
      // A token with a scope works as well.
      const scoped = await env.ccToken(r.tpp, r.clientId, 'private_key_jwt', { scope: 'accounts' });
      assert.equal((await env.manage('GET', r.clientId, { token: scoped, cert: r.tpp.transport })).status, 200);
    });

    describe('401 with a Bearer challenge', () => {
      let r: Registered;
      let token: string;
      before(async () => {
        r = await registerClient(env);
        token = await tokenOf(r);
      });

      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        test(`${method} without an Authorization header: challenge without an error code`, async () => {
          const body = method === 'PUT' ? await r.tpp.signRequest(await env.validRequestClaims(r.tpp)) : undefined;
          await assertUnauthorized(
            await env.manage(method, r.clientId, { cert: r.tpp.transport, ...(body ? { body } : {}) }),
            'an access token is required: Authorization: Bearer <token>',
            false,
          );
        });
      }

      test('"Bearer " with nothing after it', async () => {
        await assertUnauthorized(
          await env.manage('GET', r.clientId, { authorization: 'Bearer ', cert: r.tpp.transport }),
          'the Authorization header must be "Bearer <token>"',
        );
      });

      test('a Basic header instead of Bearer', async () => {
        await assertUnauthorized(
          await env.manage('GET', r.clientId, { authorization: 'Basic Z2F0ZXdheTpzZWNyZXQ=', cert: r.tpp.transport }),
          'the Authorization header must be "Bearer <token>"',
        );
      });

      for (const garbage of ['garbage-token', 'eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl']) {
        test(`a garbage token (${garbage.includes('.') ? 'JWT-shaped' : 'opaque'})`, async () => {
          await assertUnauthorized(await env.manage('GET', r.clientId, { token: garbage, cert: r.tpp.transport }), NOT_VALID);
        });
      }

      test('the token of another client of the same software (same certificate)', async () => {
        const sibling = await registerClient(env);
        const foreign = await tokenOf(sibling);
        await assertUnauthorized(await env.manage('GET', r.clientId, { token: foreign, cert: r.tpp.transport }), NOT_VALID);
        await assertUnauthorized(await env.manage('DELETE', r.clientId, { token: foreign, cert: r.tpp.transport }), NOT_VALID);
        assert.equal((await env.manage('GET', r.clientId, { token, cert: r.tpp.transport })).status, 200, 'the registration is untouched');
      });

      test("the token of another TPP's client, over that TPP's certificate", async () => {
        const other = await registerClient(env, env.cbpii);
        const foreign = await tokenOf(other);
        await assertUnauthorized(await env.manage('GET', r.clientId, { token: foreign, cert: env.cbpii.transport }), NOT_VALID);
      });

      test("the client's token presented over another (trusted) certificate", async () => {
        await assertUnauthorized(await env.manage('GET', r.clientId, { token, cert: env.cbpii.transport }), NOT_VALID);
      });

      test('an unknown client id: 401, and the presented token is revoked (OB DCR: "immediately revokes the access token")', async () => {
        const own = await registerClient(env);
        const ownToken = await tokenOf(own);
        await assertUnauthorized(await env.manage('GET', randomUUID(), { token: ownToken, cert: own.tpp.transport }), NOT_VALID);
        if (tokenType === 'opaque') {
          assert.deepEqual(await env.introspect(ownToken), { active: false });
          await assertUnauthorized(await env.manage('GET', own.clientId, { token: ownToken, cert: own.tpp.transport }), NOT_VALID);
        } else {
          // A JWT access token is not stored, so there is nothing to revoke; it stays valid for its own client.
          assert.equal((await env.manage('GET', own.clientId, { token: ownToken, cert: own.tpp.transport })).status, 200);
        }
        // The registration itself is untouched.
        assert.equal((await env.manage('GET', own.clientId, { token: await tokenOf(own), cert: own.tpp.transport })).status, 200);
      });

      test('an unknown client id with a token presented over the wrong certificate: nothing is revoked', async () => {
        const own = await registerClient(env);
        const ownToken = await tokenOf(own);
        await assertUnauthorized(await env.manage('GET', randomUUID(), { token: ownToken, cert: env.cbpii.transport }), NOT_VALID);
        assert.equal((await env.manage('GET', own.clientId, { token: ownToken, cert: own.tpp.transport })).status, 200);
      });

      test('no client certificate → 401 invalid_client', async () => {
        await assertErrorResponse(await env.manage('GET', r.clientId, { token }), 401, {
          error: 'invalid_client',
          error_description: 'a client (transport) certificate issued by a trusted CA is required over mutual TLS',
        });
      });

      test("a client removed behind the API's back: 401, and the presented token is revoked", async () => {
        const gone = await registerClient(env);
        const goneToken = await tokenOf(gone);
        // Only the client record goes (as a hand-edited database would), not what was issued to it.
        await env.ts.server.storage.oidc.destroy('Client', gone.clientId);
        if (tokenType === 'opaque') {
          assert.equal((await env.ts.server.storage.oidc.listIds('ClientCredentials', 1000)).includes(goneToken), true, 'the token outlived its client');
        }
        await assertUnauthorized(await env.manage('GET', gone.clientId, { token: goneToken, cert: gone.tpp.transport }), NOT_VALID);
        // Opaque tokens can be revoked; a JWT (oidc-provider does not introspect those) just stays refused.
        if (tokenType === 'opaque') {
          assert.equal((await env.ts.server.storage.oidc.listIds('ClientCredentials', 1000)).includes(goneToken), false, 'the token record is gone');
          assert.deepEqual(await env.introspect(goneToken), { active: false });
        }
        await assertUnauthorized(await env.manage('GET', gone.clientId, { token: goneToken, cert: gone.tpp.transport }), NOT_VALID);
      });
    });

    test('PUT validates like POST: a bad request gets the POST error and changes nothing', async () => {
      const r = await registerClient(env);
      const token = await tokenOf(r);
      const beforePut = await jsonBody(await env.manage('GET', r.clientId, { token, cert: r.tpp.transport }), 200);

      const bad = await r.tpp.signRequest(await env.validRequestClaims(r.tpp, { redirect_uris: ['https://elsewhere.example.com/cb'] }));
      await assertErrorResponse(await env.manage('PUT', r.clientId, { token, cert: r.tpp.transport, body: bad }), 400, {
        error: 'invalid_redirect_uri',
        error_description: "redirect URI https://elsewhere.example.com/cb is not one of the software statement's software_redirect_uris",
      });
      const rs256 = await r.tpp.signRequest(await env.validRequestClaims(r.tpp, { id_token_signed_response_alg: 'RS256', scope: 'openid accounts' }));
      await assertErrorResponse(await env.manage('PUT', r.clientId, { token, cert: r.tpp.transport, body: rs256 }), 400, {
        error: 'invalid_client_metadata',
        error_description: 'id_token_signed_response_alg must be PS256 (FAPI 1.0 Advanced), not "RS256"',
      });
      await assertErrorResponse(await env.manage('PUT', r.clientId, { token, cert: r.tpp.transport, body: bad, contentType: 'application/json' }), 400, {
        error: 'invalid_client_metadata',
        error_description: 'Content-Type must be application/jose or application/jwt (a signed JWT), not "application/json"',
      });
      assert.deepEqual(await jsonBody(await env.manage('GET', r.clientId, { token, cert: r.tpp.transport }), 200), beforePut);
    });

    test("PUT rejects a software statement of another software_id, and a client_id other than the path's", async () => {
      const r = await registerClient(env);
      const token = await tokenOf(r);
      const beforePut = await jsonBody(await env.manage('GET', r.clientId, { token, cert: r.tpp.transport }), 200);
      // Entirely valid for the CBPII software: its SSA, signed with its key.
      const otherSoftware = await env.cbpii.signRequest(await env.validRequestClaims(env.cbpii));
      await assertErrorResponse(await env.manage('PUT', r.clientId, { token, cert: r.tpp.transport, body: otherSoftware }), 400, {
        error: 'invalid_client_metadata',
        error_description: 'the software statement is for a different software_id than this registration',
      });
      const otherId = await r.tpp.signRequest(await env.validRequestClaims(r.tpp, { client_id: randomUUID() }));
      await assertErrorResponse(await env.manage('PUT', r.clientId, { token, cert: r.tpp.transport, body: otherId }), 400, {
        error: 'invalid_client_metadata',
        error_description: 'client_id in the request does not match the registration being updated',
      });
      assert.deepEqual(await jsonBody(await env.manage('GET', r.clientId, { token, cert: r.tpp.transport }), 200), beforePut);
    });

    test('PUT replaces the metadata, keeps client_id and client_id_issued_at, returns 200; tokens keep working', async () => {
      const r = await registerClient(env);
      const token = await tokenOf(r);
      const ssa = await r.tpp.mintSsa();
      const put = await jsonBody(
        await env.manage('PUT', r.clientId, {
          token,
          cert: r.tpp.transport,
          body: await r.tpp.signRequest(
            await env.validRequestClaims(r.tpp, {
              client_id: r.clientId,
              scope: 'openid accounts',
              redirect_uris: [...r.tpp.redirectUris],
              software_statement: ssa,
            }),
          ),
        }),
        200,
      );
      assert.equal(put['client_id'], r.clientId);
      assert.equal(put['client_id_issued_at'], r.body['client_id_issued_at']);
      assert.equal(put['scope'], 'openid accounts');
      assert.deepEqual(put['redirect_uris'], [...r.tpp.redirectUris]);
      assert.equal(put['software_statement'], ssa);
      // The OB specification: an update must not invalidate the tokens already issued.
      assert.deepEqual(await jsonBody(await env.manage('GET', r.clientId, { token, cert: r.tpp.transport }), 200), put);
      const [record] = await env.ts.server.storage.registrations.listBySoftware(r.tpp.softwareId).then((all) => all.filter((x) => x.clientId === r.clientId));
      assert.equal(record?.softwareStatement, ssa);
    });

    test("DELETE → 204, revokes the client's tokens; the old token then gets 401", async () => {
      const r = await registerClient(env);
      const token = await tokenOf(r);
      const refresh = await refreshTokenFor(env, r);
      assert.equal((await env.introspect(refresh, 'refresh_token'))['active'], true);
      // Both formats introspect: opaque ones by lookup, JWTs through the key manager's verifier.
      const live = await env.introspect(token);
      assert.equal(live['active'], true);
      assert.equal(live['client_id'], r.clientId);
      assert.deepEqual(live['cnf'], { 'x5t#S256': x5tS256(r.tpp.transport.x509) });
      const verified = await env.ts.server.keyManager.tokens.verify(token, presented(r.tpp));
      assert.ok(verified.valid);
      assert.equal(verified.token.clientId, r.clientId);
      assert.equal(verified.token.softwareId, r.tpp.softwareId);
      assert.equal(verified.token.orgId, r.tpp.orgId);
      assert.equal(verified.token.grant, 'client_credentials');
      assert.equal(verified.token.format, tokenType);
      assert.equal(verified.token.certificateThumbprint, x5tS256(r.tpp.transport.x509));
      const elsewhere = await env.ts.server.keyManager.tokens.verify(token, presented(env.cbpii));
      assert.deepEqual(elsewhere, { valid: false, code: 'TOKEN_CERT_MISMATCH', description: 'the access token is bound to another client certificate' });

      const res = await env.manage('DELETE', r.clientId, { token, cert: r.tpp.transport });
      assert.equal(res.status, 204);
      assert.equal(await res.text(), '');

      // Refused at once, JWTs included: the client is gone and a revocation mark names it until its
      // last token has expired.
      assert.deepEqual(await env.introspect(token), { active: false });
      const gone = await env.ts.server.keyManager.tokens.verify(token, presented(r.tpp));
      assert.equal(gone.valid, false);
      assert.equal(gone.valid ? undefined : gone.code, tokenType === 'jwt' ? 'TOKEN_REVOKED' : 'TOKEN_UNKNOWN');
      assert.equal(await env.ts.server.shared.has('revoked-client', r.clientId), true, 'the revocation mark (shared by the hosts)');
      assert.deepEqual(await env.introspect(refresh, 'refresh_token'), { active: false });
      const { oidc } = env.ts.server.storage;
      for (const model of ['RefreshToken', 'ClientCredentials', 'AccessToken']) {
        const ids = await oidc.listIds(model, 1000);
        assert.equal(ids.includes(token) || ids.includes(refresh), false, `${model}: nothing of the client left`);
      }
      assert.deepEqual(
        await env.ts.server.storage.registrations.listBySoftware(r.tpp.softwareId).then((all) => all.filter((x) => x.clientId === r.clientId)),
        [],
      );

      for (const method of ['GET', 'DELETE'] as const) {
        await assertUnauthorized(await env.manage(method, r.clientId, { token, cert: r.tpp.transport }), NOT_VALID);
      }
      // The client can no longer get tokens.
      await assertErrorResponse(await env.tokenResponse(r.tpp, r.clientId, 'private_key_jwt'), 401, {
        error: 'invalid_client',
        error_description: 'client authentication failed',
      });
    });

    test('audit: created, rejected, updated and deleted with software_id, org_id and client_id', async () => {
      const r = await registerClient(env);
      const token = await tokenOf(r);
      const bad = await r.tpp.signRequest(await env.validRequestClaims(r.tpp, { grant_types: ['password'] }));
      assert.equal((await env.manage('PUT', r.clientId, { token, cert: r.tpp.transport, body: bad })).status, 400);
      const good = await r.tpp.signRequest(await env.validRequestClaims(r.tpp));
      assert.equal((await env.manage('PUT', r.clientId, { token, cert: r.tpp.transport, body: good })).status, 200);
      assert.equal((await env.manage('DELETE', r.clientId, { token, cert: r.tpp.transport })).status, 204);

      const events = (await env.ts.server.storage.audit.list({ clientId: r.clientId, limit: 10 })).reverse();
      assert.deepEqual(
        events.map((e) => [e.event, e.method]),
        [
          ['created', 'POST'],
          ['rejected', 'PUT'],
          ['updated', 'PUT'],
          ['deleted', 'DELETE'],
        ],
      );
      for (const e of events) {
        assert.equal(e.softwareId, r.tpp.softwareId, e.event);
        assert.equal(e.orgId, r.tpp.orgId, e.event);
        assert.equal(e.clientId, r.clientId, e.event);
        assert.equal(e.version, 'v3.3', e.event);
        assert.equal(typeof e.at, 'number');
      }
      assert.equal(
        events[1]!.reason,
        'invalid_client_metadata: grant type password is not supported; use client_credentials, authorization_code and refresh_token',
      );
      assert.deepEqual(
        events.filter((e) => e.event !== 'rejected').map((e) => e.reason),
        [null, null, null],
      );
    });
  });
}

describe('with registration access tokens (append_registration_attributes_in_response = true)', () => {
  let env: DcrEnvironment;
  before(async () => {
    env = await startDcrEnvironment({ open_banking: { dcr: { append_registration_attributes_in_response: true } } });
  });
  after(() => env?.close());

  test('201 carries registration_access_token and registration_client_uri; GET, PUT and DELETE accept the token', async () => {
    const r = await registerClient(env);
    const rat = r.body['registration_access_token'];
    assert.equal(typeof rat, 'string');
    assert.equal(r.body['registration_client_uri'], `${env.url}/open-banking/v3.3/register/${r.clientId}`);
    const cert = r.tpp.transport;

    const got = await jsonBody(await env.manage('GET', r.clientId, { token: String(rat), cert }), 200);
    assert.equal(got['registration_client_uri'], r.body['registration_client_uri']);
    assert.equal(got['registration_access_token'], undefined, 'GET does not issue a new token');
    assert.equal(got['client_id'], r.clientId);

    const put = await jsonBody(
      await env.manage('PUT', r.clientId, {
        token: String(rat),
        cert,
        body: await r.tpp.signRequest(await env.validRequestClaims(r.tpp, { scope: 'openid payments' })),
      }),
      200,
    );
    assert.equal(put['scope'], 'openid payments');
    assert.equal(put['client_id_issued_at'], r.body['client_id_issued_at']);
    assert.equal(typeof put['registration_access_token'], 'string');

    // A client_credentials token works too.
    const cc = await env.ccToken(r.tpp, r.clientId, 'private_key_jwt');
    assert.equal((await env.manage('GET', r.clientId, { token: cc, cert })).status, 200);

    // Another client's registration access token does not.
    const other = await registerClient(env);
    await assertUnauthorized(await env.manage('GET', r.clientId, { token: String(other.body['registration_access_token']), cert }), NOT_VALID);

    // Presented for an unknown client id, a registration access token is revoked (OB DCR).
    const probe = String(other.body['registration_access_token']);
    await assertUnauthorized(await env.manage('GET', randomUUID(), { token: probe, cert: other.tpp.transport }), NOT_VALID);
    await assertUnauthorized(await env.manage('GET', other.clientId, { token: probe, cert: other.tpp.transport }), NOT_VALID);

    const deleted = await env.manage('DELETE', r.clientId, { token: String(rat), cert });
    assert.equal(deleted.status, 204);
    await assertUnauthorized(await env.manage('GET', r.clientId, { token: String(rat), cert }), NOT_VALID);
    await assertUnauthorized(await env.manage('GET', r.clientId, { token: String(put['registration_access_token']), cert }), NOT_VALID);
  });
});
