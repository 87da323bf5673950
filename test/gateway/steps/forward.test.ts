/**
 * The forward step (src/gateway/steps/forward.ts): the backend request it builds (URL, path from
 * the route, the allowed headers, the identity JWT, X-Forwarded-*), when it streams and when it
 * reads the body first (JSON nesting, x-jws-signature, idempotency), with a fake proxy.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Config } from '../../../src/config/schema.ts';
import type { CallerIdentity } from '../../../src/gateway/identity.ts';
import type { ForwardTarget } from '../../../src/gateway/proxy.ts';
import type { RequestBody } from '../../../src/gateway/steps/call.ts';
import { type ForwardDeps, forward, gatewaySetHeaders, target } from '../../../src/gateway/steps/forward.ts';
import type { ApiRecord, OperationDef } from '../../../src/storage/catalogue-records.ts';
import type { VerifiedToken } from '../../../src/oauth/token-verifier.ts';
import { api, assertRefused, fakeCall, fakeRequest, operation, subscriptionRecord, transportCertificate, verifiedToken } from './support.ts';

const cert = await transportCertificate('tpp');

function fakeDeps(over: Partial<ForwardDeps> = {}) {
  const forwarded: Array<{ to: ForwardTarget; body: Buffer | undefined }> = [];
  const signed: Array<{ who: CallerIdentity; audience: string; cacheKey: string }> = [];
  const keySetsAsked: string[] = [];
  const deps: ForwardDeps = {
    proxy: {
      forward: async (_req, res, to, body) => {
        forwarded.push({ to, body });
        res.end();
      },
      exchange: async () => assert.fail('not an idempotent operation'),
    },
    consents: {
      serve: async () => assert.fail('the API serves no consents here'),
      consume: async () => assert.fail('no payment order here'),
      reserveVrpPayment: async () => assert.fail('no VRP payment here'),
      releaseVrpPayment: async () => assert.fail('no VRP payment here'),
    },
    events: { poll: async () => assert.fail('the API serves no events here') },
    identity: {
      sign: async (who, audience, cacheKey) => {
        signed.push({ who, audience, cacheKey });
        return 'identity-jwt';
      },
    },
    keySets: {
      keySet: (url) => {
        keySetsAsked.push(url);
        return (async () => assert.fail('no key is fetched in these tests')) as never;
      },
    },
    allowedBackend: (url) => url.hostname === 'bank.example',
    identityHeader: 'x-opendcr-identity',
    gatewaySet: new Set(['x-opendcr-identity', 'x-fapi-interaction-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-client-cert']),
    publicHost: 'api.bank.example',
    maxRequestBody: 1024,
    jwsTrustAnchor: 'openbanking.org.uk',
    clockTolerance: 5,
    now: () => 2_000_000_000,
    idempotency: {
      store: {
        claimIdempotency: async () => assert.fail('not an idempotent operation'),
        completeIdempotency: async () => undefined,
        releaseIdempotency: async () => undefined,
        abandonIdempotency: async () => undefined,
      },
      logger: { warn: () => undefined, error: () => undefined },
      now: () => 2_000_000_000,
      leaseSeconds: 70,
      window: 86400,
    },
    ...over,
  };
  return { deps, forwarded, signed, keySetsAsked };
}

function checked(opts: {
  op?: OperationDef;
  api?: Partial<ApiRecord>;
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  kind?: RequestBody;
  token?: VerifiedToken;
  query?: string;
}) {
  const op = opts.op ?? operation({ path: '/accounts/{AccountId}' });
  const call = fakeCall({
    req: fakeRequest({ method: opts.method ?? 'GET', headers: opts.headers ?? {}, ...(opts.body ? { body: opts.body } : {}) }),
    match: { api: api({ operations: [op], ...opts.api }), operation: op, rest: '/accounts/a1' },
    cert,
    caller: { token: opts.token ?? verifiedToken({ grant: 'psu', subject: 'psu-1', consentId: 'c-9' }), raw: 'raw-token', roles: ['AISP'] },
    subscription: subscriptionRecord(),
    body: opts.kind ?? 'none',
  });
  call.query = opts.query ?? '';
  return call;
}

test('the backend request: its base path and the routed path and query, the allowed headers, who is calling instead of the token', async () => {
  const { deps, signed } = fakeDeps();
  const call = checked({
    query: '?fromDate=2024-01-01',
    headers: {
      authorization: 'Bearer raw-token',
      accept: 'application/json',
      'x-fapi-auth-date': 'Sun, 10 Sep 2017 19:43:31 UTC',
      'x-fapi-interaction-id': 'the-client-s-own',
      'x-opendcr-identity': 'forged',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-for': '198.51.100.7',
      cookie: 'a=b',
    },
  });
  const to = await target(deps, call);
  assert.deepEqual(to, {
    origin: 'https://bank.example',
    path: '/aisp/accounts/a1?fromDate=2024-01-01',
    headers: {
      accept: 'application/json',
      'x-fapi-auth-date': 'Sun, 10 Sep 2017 19:43:31 UTC',
      'x-opendcr-identity': 'identity-jwt',
      'x-fapi-interaction-id': '93bac548-d2de-4546-b106-880a5018460d',
      'x-forwarded-for': '198.51.100.7, 192.0.2.10',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'api.bank.example',
    },
  });
  assert.deepEqual(signed, [
    {
      who: {
        keyManager: 'Resident Key Manager',
        clientId: 'client-1',
        softwareId: 'software-1',
        orgId: 'org-1',
        roles: ['AISP'],
        scopes: ['accounts'],
        psu: 'psu-1',
        consentId: 'c-9',
        // The consent step held no consent (this API's consents are elsewhere): no snapshot.
        consent: undefined,
      },
      audience: 'https://bank.example',
      cacheKey: 'raw-token',
    },
  ]);
});

test('a backend at a host no longer allowed: 502 GATEWAY_BACKEND_UNREACHABLE, nothing signed or sent', async () => {
  const { deps, signed, forwarded } = fakeDeps({ allowedBackend: () => false });
  await assertRefused(() => forward(deps, checked({})), 'GATEWAY_BACKEND_UNREACHABLE', 'the API backend is not at an allowed host');
  assert.deepEqual([signed.length, forwarded.length], [0, 0]);
});

test('without a body to check, the request streams through; a JSON body is read whole and its nesting bounded', async () => {
  const streamed = fakeDeps();
  await forward(streamed.deps, checked({}));
  assert.equal(streamed.forwarded.length, 1);
  assert.equal(streamed.forwarded[0]!.body, undefined, 'streamed: no body read');

  const post = operation({ method: 'POST', path: '/account-access-consents', body: { types: ['application/json'] } });
  const read = fakeDeps();
  const body = Buffer.from('{"Data":{"Permissions":["ReadAccountsBasic"]}}');
  await forward(read.deps, checked({ op: post, method: 'POST', body, kind: 'json', headers: { 'content-length': String(body.length) } }));
  assert.deepEqual(read.forwarded[0]!.body, body);

  const deep = Buffer.from(`${'['.repeat(33)}${']'.repeat(33)}`);
  const refused = fakeDeps();
  await assertRefused(
    () => forward(refused.deps, checked({ op: post, method: 'POST', body: deep, kind: 'json' })),
    'GATEWAY_JSON_TOO_DEEP',
    'the JSON body nests more than 32 levels deep',
  );
  assert.equal(refused.forwarded.length, 0);

  const large = fakeDeps();
  await assertRefused(() => forward(large.deps, checked({ op: post, method: 'POST', body: Buffer.alloc(2048, 'a'), kind: 'json' })), 'GATEWAY_BODY_TOO_LARGE');
  assert.equal(large.forwarded.length, 0);
});

test("x-jws-signature, when the API checks it: the software's key set is the one used; none to use, or no header, refuses", async () => {
  const signedOp = operation({ method: 'POST', path: '/domestic-payment-consents', jwsSignature: true, body: { types: ['application/json'] } });
  const body = Buffer.from('{}');
  const noSoftware = fakeDeps();
  await assertRefused(
    () =>
      forward(
        noSoftware.deps,
        checked({ op: signedOp, api: { verifyJwsSignature: true }, method: 'POST', body, kind: 'json', token: verifiedToken({ keySetUrl: undefined }) }),
      ),
    'GATEWAY_SIGNATURE_INVALID',
    'the application has no software key set to check x-jws-signature against',
  );
  const missing = fakeDeps();
  await assertRefused(
    () => forward(missing.deps, checked({ op: signedOp, api: { verifyJwsSignature: true }, method: 'POST', body, kind: 'json' })),
    'GATEWAY_SIGNATURE_MISSING',
  );
  assert.deepEqual(missing.keySetsAsked, ['https://keystore.example/org-1/software-1.jwks']);
  assert.equal(missing.forwarded.length, 0);
  const unchecked = fakeDeps();
  await forward(unchecked.deps, checked({ op: signedOp, api: { verifyJwsSignature: false }, method: 'POST', body, kind: 'json' }));
  assert.equal(unchecked.forwarded.length, 1, "not checked unless the API's verifyJwsSignature is on");
});

test('an operation that declares x-idempotency-key goes through the at-most-once exchange, never the stream', async () => {
  const op = operation({ method: 'POST', path: '/domestic-payments', idempotency: true, body: { types: ['application/json'] } });
  const claims: unknown[] = [];
  const { deps, forwarded } = fakeDeps();
  const idempotent: ForwardDeps = {
    ...deps,
    idempotency: {
      ...deps.idempotency,
      store: {
        ...deps.idempotency.store,
        claimIdempotency: async (...args: unknown[]) => {
          claims.push(args);
          return { fingerprint: 'another', response: null, expiresAt: 0, leaseUntil: 0 };
        },
      },
    },
  };
  await assertRefused(
    () => forward(idempotent, checked({ op, method: 'POST', body: Buffer.from('{}'), kind: 'json', headers: { 'x-idempotency-key': 'k1' } })),
    'GATEWAY_IDEMPOTENCY_MISMATCH',
  );
  assert.equal(claims.length, 1);
  assert.equal(forwarded.length, 0);
});

test('the headers the gateway sets itself, whatever a client sends under their names: its identity header, the interaction id, X-Forwarded-*, the certificate header', () => {
  const config = (identity: string, certHeader: string | undefined) =>
    ({ gateway: { identity_header: identity }, apimgt: { mutual_ssl: { client_certificate_header: certHeader } } }) as unknown as Config;
  assert.deepEqual(
    [...gatewaySetHeaders(config('X-Bank-Identity', 'X-SSL-Client-Cert'))],
    ['x-bank-identity', 'x-fapi-interaction-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-ssl-client-cert'],
  );
  assert.deepEqual(
    [...gatewaySetHeaders(config('x-opendcr-identity', undefined))],
    ['x-opendcr-identity', 'x-fapi-interaction-id', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host'],
  );
});
