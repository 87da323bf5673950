/**
 * Every time claim (iat, nbf, exp) of every JWT the key manager accepts, tried
 * with the whole table of test/helpers/time-claims.ts: private_key_jwt client assertions at the
 * token, PAR, introspection and revocation endpoints; signed request objects at the authorization
 * endpoint and at PAR; jwt-bearer grant assertions. Each case gets the endpoint's spec-shaped
 * answer (never a 5xx), a valid one is accepted, and the same JWT sent again gets a 4xx (a
 * one-time JWT) or the same answer (request objects, which are not one-time). The reported
 * case was an assertion with iat a day ahead (accepted), or ten years ahead (500 server_error,
 * its replay record past what the shared state keeps).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { newSigningKey, registerObClient, REDIRECT_URI, type ObClient } from '../helpers/ob-client.ts';
import { stateBackends } from '../helpers/state-backends.ts';
import { seedConsent } from '../helpers/consents.ts';
import { intentClaims } from '../../src/cli/psu-flow.ts';
import { TIME_CASES, rawJson, signRawJwt, type TimeClaim, type TimeCase } from '../helpers/time-claims.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.bank.example.com';
const CLIENT_AUTH_FAILED = { error: 'invalid_client', error_description: 'client authentication failed' };
const GRANT_INVALID = { error: 'invalid_grant', error_description: 'grant request is invalid' };
const CLAIMS: readonly TimeClaim[] = ['iat', 'nbf', 'exp'];

let ts: TestServer;
let tpp: ObClient;
let consentId: string;
let idp: Awaited<ReturnType<typeof newSigningKey>>;

const now = () => Math.floor(Date.now() / 1000);
const header = () => ({ alg: 'PS256', kid: tpp.signingKey.kid });

/** A client assertion for `tpp`; `overrides` are raw JSON text. */
function clientAssertion(overrides: Record<string, string | undefined> = {}, t = now()): Promise<string> {
  return signRawJwt(
    rawJson({ iss: tpp.clientId, sub: tpp.clientId, aud: ts.url, jti: randomUUID(), iat: t, exp: t + 60 }, overrides),
    header(),
    tpp.signingKey.key,
  );
}

/** A FAPI request object (code id_token, PKCE) for `tpp`. */
function requestObject(overrides: Record<string, string | undefined> = {}, t = now()): Promise<string> {
  return signRawJwt(
    rawJson(
      {
        iss: tpp.clientId,
        aud: ts.url,
        client_id: tpp.clientId,
        response_type: 'code id_token',
        redirect_uri: REDIRECT_URI,
        scope: 'openid accounts',
        state: randomUUID(),
        nonce: randomUUID(),
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
        // The consent it is for: a valid request goes on to the PSU's sign-in.
        claims: intentClaims(consentId),
        jti: randomUUID(),
        iat: t,
        nbf: t,
        exp: t + 300,
      },
      overrides,
    ),
    { ...header(), typ: 'oauth-authz-req+jwt' },
    tpp.signingKey.key,
  );
}

/** A jwt-bearer grant assertion from the trusted issuer. */
function bearerAssertion(overrides: Record<string, string | undefined> = {}, t = now()): Promise<string> {
  return signRawJwt(
    rawJson({ iss: IDP, sub: 'psu', aud: `${ts.url}/oauth2/token`, jti: randomUUID(), iat: t, exp: t + 300 }, overrides),
    { alg: 'PS256', kid: idp.kid },
    idp.key,
  );
}

const post = (path: string, form: Record<string, string>) =>
  ts.fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
    cert: tpp.cert,
  });
const withAssertion = (form: Record<string, string>, assertion: string) => ({ ...form, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });

/** An answer: status and JSON body (or the Location of a redirect). */
async function answer(res: Response): Promise<{ status: number; body: unknown }> {
  const text = await res.text();
  assert.ok(res.status < 500, `never a 5xx: ${res.status} ${text}`);
  assert.doesNotMatch(text, /\bat .+:\d+:\d+|node_modules|RangeError|\/src\//, 'no stack trace, path or internal error in the body');
  if (res.status >= 300 && res.status < 400) return { status: res.status, body: res.headers.get('location') };
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

interface Endpoint {
  readonly name: string;
  /** Sends the JWT (the same text twice for the replay). */
  send(jwt: string): Promise<Response>;
  /** The refusal, exactly. */
  readonly refused: { status: number; body?: unknown; check?: (a: { status: number; body: unknown }) => void };
  readonly acceptedStatus: number;
  /** What else an accepted answer shows. */
  readonly acceptedCheck?: (a: { status: number; body: unknown }) => void;
  /** A one-time JWT: the replay of an accepted one is refused. */
  readonly oneTime: boolean;
}

const tokenForm = { grant_type: 'client_credentials', scope: 'accounts' };

const assertionEndpoints: readonly Endpoint[] = [
  {
    name: 'token',
    send: (a) => post('/oauth2/token', withAssertion(tokenForm, a)),
    refused: { status: 401, body: CLIENT_AUTH_FAILED },
    acceptedStatus: 200,
    oneTime: true,
  },
  {
    name: 'PAR',
    send: async (a) => post('/oauth2/par', withAssertion({ client_id: tpp.clientId, request: await requestObject() }, a)),
    refused: { status: 401, body: CLIENT_AUTH_FAILED },
    acceptedStatus: 201,
    oneTime: true,
  },
  {
    name: 'introspection',
    send: (a) => post('/oauth2/introspect', withAssertion({ token: 'no-such-token' }, a)),
    refused: { status: 401, body: CLIENT_AUTH_FAILED },
    acceptedStatus: 200,
    oneTime: true,
  },
  {
    name: 'revocation',
    send: (a) => post('/oauth2/revoke', withAssertion({ token: 'no-such-token' }, a)),
    refused: { status: 401, body: CLIENT_AUTH_FAILED },
    acceptedStatus: 200,
    oneTime: true,
  },
];

/** The authorization endpoint redirects a refused request object to the client with invalid_request_object. */
const redirectedError = (a: { status: number; body: unknown }) => {
  assert.equal(a.status, 303);
  const location = new URL(String(a.body));
  assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URI);
  const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
  assert.equal(params.get('error'), 'invalid_request_object', String(a.body));
};

const requestObjectEndpoints: readonly Endpoint[] = [
  {
    name: 'authorization',
    send: (ro) =>
      ts.fetch(`/oauth2/authorize?${new URLSearchParams({ client_id: tpp.clientId, response_type: 'code id_token', scope: 'openid', request: ro })}`, {
        cert: tpp.cert,
      }),
    refused: { status: 303, check: redirectedError },
    acceptedStatus: 303,
    // On to the PSU's sign-in: the request (and the consent it names) passed every check.
    acceptedCheck: (a) => assert.match(new URL(String(a.body), ts.url).pathname, /^\/oauth2\/interaction\/[^/]+$/, String(a.body)),
    oneTime: false,
  },
  {
    name: 'PAR',
    send: async (ro) => post('/oauth2/par', withAssertion({ client_id: tpp.clientId, request: ro }, await clientAssertion())),
    refused: { status: 400, check: (a) => assert.equal((a.body as { error: string }).error, 'invalid_request_object') },
    acceptedStatus: 201,
    oneTime: false,
  },
];

const bearerEndpoint: Endpoint = {
  name: 'token (jwt-bearer grant)',
  send: async (a) => post('/oauth2/token', withAssertion({ grant_type: JWT_BEARER, assertion: a, scope: 'accounts' }, await clientAssertion())),
  refused: { status: 400, body: GRANT_INVALID },
  acceptedStatus: 200,
  oneTime: true,
};

/** Sends the JWT of `c` twice and checks both answers. */
async function runCase(
  endpoint: Endpoint,
  c: TimeCase,
  claim: TimeClaim,
  required: boolean,
  mint: (overrides: Record<string, string | undefined>, t: number) => Promise<string>,
): Promise<void> {
  const t = now();
  const jwt = await mint(c.claims(t, claim), t);
  const accepted = c.accepted?.({ kind: 'bounded', claim, required }) ?? false;
  const label = `${endpoint.name}: ${claim} ${c.name}`;
  const first = await answer(await endpoint.send(jwt));
  const expectOutcome = (a: { status: number; body: unknown }, accept: boolean, which: string) => {
    if (accept) {
      assert.equal(a.status, endpoint.acceptedStatus, `${label} (${which}) is accepted: ${JSON.stringify(a.body)}`);
      if (endpoint.refused.check && a.status === endpoint.refused.status) assert.throws(() => endpoint.refused.check!(a), `${label} (${which}) is accepted`);
      endpoint.acceptedCheck?.(a);
    } else {
      assert.equal(a.status, endpoint.refused.status, `${label} (${which}) is refused: ${JSON.stringify(a.body)}`);
      if (endpoint.refused.body !== undefined) assert.deepEqual(a.body, endpoint.refused.body, `${label} (${which})`);
      endpoint.refused.check?.(a);
    }
  };
  expectOutcome(first, accepted, 'first');
  const replay = await answer(await endpoint.send(jwt));
  expectOutcome(replay, accepted && !endpoint.oneTime, 'replay');
}

// One-time ids are recorded where the server keeps them: each backend stores times its own way.
for (const backend of stateBackends()) {
  describe(`on the ${backend.name} shared state`, () => {
    before(async () => {
      idp = await newSigningKey('idp-1');
      ts = await startTestServer({
        ...(await backend.open()),
        oauth: {
          token_generation: { access_token_type: 'opaque' },
          grant_type: { jwt_bearer: { trusted_issuers: [{ issuer: IDP, jwks: { keys: [idp.publicJwk] } }] } },
        },
      });
      tpp = await registerObClient(ts, 'private_key_jwt', { grant_types: ['client_credentials', 'authorization_code', 'refresh_token', JWT_BEARER] });
      consentId = await seedConsent(ts.storage, tpp.clientId);
    });
    after(async () => {
      await ts?.close();
      await backend.close();
    });

    describe('client assertions (private_key_jwt)', () => {
      for (const endpoint of assertionEndpoints) {
        for (const claim of CLAIMS) {
          test(`${endpoint.name}: every ${claim} value`, async () => {
            for (const c of TIME_CASES) await runCase(endpoint, c, claim, claim === 'exp', clientAssertion);
          });
        }
      }

      test('the reported assertions: iat a day (accepted before) or ten years (500 before) ahead, exp 30 minutes after it; and their replays', async () => {
        for (const ahead of [86400, 10 * 365 * 86400]) {
          const t = now();
          const jwt = await clientAssertion({ iat: String(t + ahead), exp: String(t + ahead + 1800) }, t);
          for (const attempt of ['first', 'replay']) {
            const res = await post('/oauth2/token', withAssertion(tokenForm, jwt));
            assert.deepEqual(await answer(res), { status: 401, body: CLIENT_AUTH_FAILED }, `${ahead} s ahead, ${attempt}`);
          }
        }
      });

      test('a valid assertion is accepted once: its lifetime counts from now, and the replay is refused', async () => {
        const t = now();
        const jwt = await clientAssertion({ iat: String(t), exp: String(t + 1800) }, t);
        assert.equal((await answer(await post('/oauth2/token', withAssertion(tokenForm, jwt)))).status, 200);
        assert.deepEqual(await answer(await post('/oauth2/token', withAssertion(tokenForm, jwt))), { status: 401, body: CLIENT_AUTH_FAILED });
        // Without iat, exp more than client_assertion_max_lifetime (1800 s) plus the skew from now is too long.
        const long = await clientAssertion({ iat: undefined, exp: String(t + 1800 + 60) }, t);
        assert.deepEqual(await answer(await post('/oauth2/token', withAssertion(tokenForm, long))), { status: 401, body: CLIENT_AUTH_FAILED });
      });
    });

    describe('signed request objects', () => {
      for (const endpoint of requestObjectEndpoints) {
        for (const claim of CLAIMS) {
          // FAPI 1.0 Advanced §5.2.2-13: exp and nbf are required.
          test(`${endpoint.name}: every ${claim} value`, async () => {
            for (const c of TIME_CASES) await runCase(endpoint, c, claim, claim !== 'iat', requestObject);
          });
        }
      }
    });

    describe('jwt-bearer grant assertions', () => {
      for (const claim of CLAIMS) {
        test(`every ${claim} value`, async () => {
          for (const c of TIME_CASES) await runCase(bearerEndpoint, c, claim, claim !== 'nbf', bearerAssertion);
        });
      }
    });
  });
}
