/**
 * The gateway's runtime path end to end: real HTTPS with mutual TLS, a real key manager issuing
 * certificate-bound PS256 JWT access tokens, the OB Account and Transaction API imported from its
 * official OpenAPI file, and a real backend. Each step of the path refuses with its status and
 * body, and a refused call never reaches the backend.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { FormData } from 'undici';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { passHeaders } from '../../src/gateway/proxy.ts';
import { assertTokenRefused, gatewayRefusals } from './support.ts';

const ACCOUNTS_FILE = new URL('../../specs/ob-read-write-openapi/v3.1.11/account-info-openapi.yaml', import.meta.url);
const ADMIN = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
const CONTEXT = '/open-banking/v3.1/aisp';

let env: DcrEnvironment;
let backend: TestBackend;
let apiId: string;
let clientId: string;
let token: string;

type Init = NonNullable<Parameters<DcrEnvironment['ts']['fetch']>[1]>;

async function admin(path: string, init: Init = {}): Promise<Response> {
  return env.ts.fetch(path, {
    ...init,
    headers: { authorization: ADMIN, 'x-requested-with': 'test', ...(init.headers as Record<string, string> | undefined) },
  });
}

async function importApi(file: URL | string, props: Record<string, unknown>): Promise<Response> {
  const form = new FormData();
  form.set('file', new Blob([typeof file === 'string' ? file : readFileSync(file)]), 'api.yaml');
  form.set('additionalProperties', JSON.stringify(props));
  return admin('/api/am/publisher/v4/apis/import-openapi', { method: 'POST', body: form });
}

/** A call through the gateway with the TPP's certificate and token. */
function call(path: string, init: Omit<Init, 'cert'> & { token?: string | null; cert?: null } = {}): Promise<Response> {
  const headers: Record<string, string> = {
    'x-fapi-interaction-id': '93bac548-d2de-4546-b106-880a5018460d',
    ...(init.headers as Record<string, string> | undefined),
  };
  const t = init.token === undefined ? token : init.token;
  if (t !== null) headers['authorization'] = `Bearer ${t}`;
  const { cert, token: _t, ...rest } = init;
  return env.ts.fetch(path, { ...rest, headers, ...(cert === null ? {} : { cert: tlsOf(env.aispPisp.transport) }) });
}

async function obError(res: Response, status: number, code: string, obCode: string): Promise<void> {
  const body = (await res.json()) as Record<string, unknown>;
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(res.headers.get('x-fapi-interaction-id'), '93bac548-d2de-4546-b106-880a5018460d');
  assert.equal(body['Code'], code);
  assert.equal(body['Id'], '93bac548-d2de-4546-b106-880a5018460d');
  assert.equal(typeof body['Message'], 'string');
  const errors = body['Errors'] as Array<Record<string, unknown>>;
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!['ErrorCode'], obCode);
}

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment({ gateway: { backend_timeout: 1000, max_request_body: 64 * 1024, max_response_body: 256 * 1024 } });
  const imported = await jsonBody(
    await importApi(ACCOUNTS_FILE, { endpointConfig: { production_endpoints: { url: `${backend.url}/bank/aisp` } }, policies: ['Gold', 'Bronze'] }),
    201,
  );
  apiId = String(imported['id']);
  assert.equal(imported['context'], CONTEXT);
  assert.equal(imported['lifeCycleStatus'], 'CREATED');
  const published = await jsonBody(await admin(`/api/am/publisher/v4/apis/change-lifecycle?action=Publish&apiId=${apiId}`, { method: 'POST' }), 200);
  assert.deepEqual(published['lifecycleState'], { state: 'PUBLISHED' });
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  clientId = String(reg['client_id']);
  token = await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
});

after(async () => {
  await env?.close();
  await backend?.close();
});

test("registrations are the devportal's applications: listed newest first, searched by client, software or organisation id", async () => {
  const found = await jsonBody(await admin(`/api/am/devportal/v3/applications?query=${env.aispPisp.softwareId}`), 200);
  assert.equal((found['pagination'] as Record<string, unknown>)['total'], 1);
  const [app] = found['list'] as Array<Record<string, unknown>>;
  assert.equal(app!['applicationId'], clientId);
  assert.equal(app!['keyManager'], 'Resident Key Manager', 'a registration is a resident application');
  assert.equal(app!['name'], env.aispPisp.name);
  assert.deepEqual(app!['attributes'], {
    software_id: env.aispPisp.softwareId,
    org_id: env.aispPisp.orgId,
    software_roles: 'AISP,PISP',
    software_environment: 'sandbox',
    dcr_version: 'v3.3',
  });
  assert.deepEqual(await jsonBody(await admin(`/api/am/devportal/v3/applications/${clientId}`), 200), app);
  const none = await admin('/api/am/devportal/v3/applications/no-such-client');
  assert.equal(none.status, 404);
  assert.equal(((await none.json()) as Record<string, unknown>)['code'], 'APPLICATION_NOT_FOUND');
});

test("the registration subscribed the application to the API on its default plan, in the registration's transaction", async () => {
  const subs = await jsonBody(await admin(`/api/am/devportal/v3/subscriptions?applicationId=${clientId}`), 200);
  assert.equal(subs['count'], 1);
  const [sub] = subs['list'] as Array<Record<string, unknown>>;
  assert.deepEqual(
    { ...sub, subscriptionId: 'x', createdTime: 'x' },
    {
      subscriptionId: 'x',
      applicationId: clientId,
      keyManager: 'Resident Key Manager',
      apiId,
      throttlingPolicy: 'Gold',
      status: 'UNBLOCKED',
      createdTime: 'x',
    },
  );
});

test("a client-credentials call passes every check and reaches the backend with the caller's identity, not its token", async () => {
  const before = backend.calls.length;
  const res = await call(`${CONTEXT}/account-access-consents?x=1`, {
    method: 'POST',
    body: JSON.stringify({ Data: { Permissions: ['ReadAccountsBasic'] }, Risk: {} }),
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-custom': 'kept', cookie: 'a=b' },
  });
  const body = await jsonBody(res, 200);
  assert.equal(res.headers.get('x-backend'), 'yes');
  assert.equal(res.headers.get('x-fapi-interaction-id'), '93bac548-d2de-4546-b106-880a5018460d');
  assert.deepEqual(body['Data'], {
    received: { method: 'POST', url: '/bank/aisp/account-access-consents?x=1', body: '{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}' },
  });
  assert.equal(backend.calls.length, before + 1);
  const got = backend.calls.at(-1)!.headers;
  assert.equal(got['authorization'], undefined, 'the token stays at the gateway');
  assert.equal(got['cookie'], undefined);
  assert.equal(got['x-custom'], undefined, 'a header neither OB nor declared by the API stays at the gateway');
  assert.equal(got['x-fapi-interaction-id'], '93bac548-d2de-4546-b106-880a5018460d');
  assert.equal(got['x-forwarded-proto'], 'https');
  // The identity JWT verifies with the published key set and says who called.
  const jwksRes = await env.ts.fetch('/gateway/jwks.json');
  assert.match(jwksRes.headers.get('content-type') ?? '', /^application\/jwk-set\+json/);
  const jwks = (await jwksRes.json()) as { keys: Array<Record<string, unknown>> };
  assert.equal(jwks.keys.length, 1);
  assert.equal(jwks.keys[0]!['d'], undefined, 'no private part');
  const { payload, protectedHeader } = await jwtVerify(String(got['x-opendcr-identity']), createLocalJWKSet(jwks as never), {
    audience: backend.url,
    issuer: `${env.url}/gateway`,
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload['client_id'], clientId);
  assert.equal(payload['key_manager'], 'Resident Key Manager');
  assert.equal(payload['software_id'], env.aispPisp.softwareId);
  assert.equal(payload['org_id'], env.aispPisp.orgId);
  assert.deepEqual(payload['roles'], ['AISP', 'PISP']);
  assert.equal(payload['scope'], 'accounts');
  assert.ok(payload.exp! - payload.iat! <= 60);
});

test('each step refuses with its status and OB body, and nothing reaches the backend', async (t) => {
  const before = backend.calls.length;
  await t.test('no client certificate: 401, no body', async () => {
    const res = await call(`${CONTEXT}/account-access-consents`, { method: 'POST', cert: null, body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="opendcr", error="invalid_token"');
  });
  await t.test('unknown path under the API: 404', async () => {
    await obError(await call(`${CONTEXT}/no-such-resource`), 404, 'GATEWAY_ROUTE_NOT_FOUND', 'UK.OBIE.Resource.NotFound');
  });
  await t.test('dot segments never reach a backend: 400 before the token is read (test/gateway/path-forms.test.ts has the whole family)', async () => {
    for (const path of [`${CONTEXT}/accounts/..`, `${CONTEXT}/accounts/%2e%2E`, `${CONTEXT}/accounts/.`, `${CONTEXT}/accounts/../accounts`]) {
      const res = await env.ts.mtlsAgent(tlsOf(env.aispPisp.transport)).request({
        origin: env.url,
        path,
        method: 'GET',
        headers: { authorization: `Bearer ${token}`, 'x-fapi-interaction-id': '93bac548-d2de-4546-b106-880a5018460d' },
      });
      const body = (await res.body.json()) as Record<string, unknown>;
      assert.equal(res.statusCode, 400, path);
      assert.equal(body['Code'], 'GATEWAY_PATH_INVALID', path);
    }
  });
  await t.test('a method the operation does not have: 405 with Allow', async () => {
    const res = await call(`${CONTEXT}/account-access-consents`, { method: 'PATCH' });
    assert.equal(res.headers.get('allow'), 'POST');
    await obError(res, 405, 'GATEWAY_METHOD_NOT_ALLOWED', 'UK.OBIE.UnexpectedError');
  });
  await t.test('no token, a malformed header, an unknown or tampered token: 401, no body, the challenge says why and the metrics count the code', async () => {
    const metrics = (path: string) => env.ts.fetch(path);
    const codes = ['GATEWAY_TOKEN_MISSING', 'GATEWAY_TOKEN_MALFORMED', 'GATEWAY_TOKEN_UNKNOWN'];
    const before = await Promise.all(codes.map((c) => gatewayRefusals(metrics, c)));
    const send = (authorization: string | undefined) =>
      env.ts.fetch(`${CONTEXT}/account-access-consents`, {
        method: 'POST',
        cert: tlsOf(env.aispPisp.transport),
        body: '{}',
        headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
      });
    await assertTokenRefused(await send(undefined), null, 'RFC 6750 §3.1: no credentials, no error code');
    await assertTokenRefused(await send(`Basic ${token}`), 'the Authorization header is not Bearer and an access token');
    await assertTokenRefused(await send('Bearer not-a-token'), 'the access token is unknown or has expired', 'an opaque token the resident key manager lacks');
    await assertTokenRefused(await send(`Bearer ${token.slice(0, -4)}AAAA`), 'the access token is not one this server issued', 'a tampered signature');
    const after = await Promise.all(codes.map((c) => gatewayRefusals(metrics, c)));
    assert.deepEqual(
      after.map((n, i) => n - before[i]!),
      [1, 1, 2],
      codes.join(', '),
    );
  });
  await t.test('a token bound to another certificate: 401 GATEWAY_TOKEN_CERT_MISMATCH, also once the token is cached', async () => {
    const other = await env.ts.issueClientCert('CN=other');
    const before = await gatewayRefusals((path) => env.ts.fetch(path), 'GATEWAY_TOKEN_CERT_MISMATCH');
    const fresh = await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'accounts' });
    for (const t of [fresh, fresh, token]) {
      const res = await env.ts.fetch(`${CONTEXT}/account-access-consents`, {
        method: 'POST',
        cert: tlsOf(other),
        body: '{}',
        headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
      });
      await assertTokenRefused(res, 'the access token is bound to another client certificate than the one presented');
    }
    assert.equal(await gatewayRefusals((path) => env.ts.fetch(path), 'GATEWAY_TOKEN_CERT_MISMATCH'), before + 3);
  });
  await t.test('a PSU operation with a client-credentials token: 403', async () => {
    await obError(await call(`${CONTEXT}/accounts`), 403, 'GATEWAY_FLOW_MISMATCH', 'UK.OBIE.Resource.ConsentMismatch');
  });
  await t.test("a token without the operation's scope: 403", async () => {
    const noAccounts = await env.ccToken(env.aispPisp, clientId, 'private_key_jwt', { scope: 'payments' });
    await obError(
      await call(`${CONTEXT}/account-access-consents`, { method: 'POST', token: noAccounts, body: '{}', headers: { 'content-type': 'application/json' } }),
      403,
      'GATEWAY_SCOPE_MISSING',
      'UK.OBIE.Resource.ConsentMismatch',
    );
  });
  await t.test('a body that is not JSON: 415; an Accept the API cannot meet: 406', async () => {
    await obError(
      await call(`${CONTEXT}/account-access-consents`, { method: 'POST', body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      415,
      'GATEWAY_CONTENT_TYPE',
      'UK.OBIE.Header.Invalid',
    );
    await obError(
      await call(`${CONTEXT}/account-access-consents`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', accept: 'text/html' } }),
      406,
      'GATEWAY_NOT_ACCEPTABLE',
      'UK.OBIE.Header.Invalid',
    );
  });
  assert.equal(backend.calls.length, before, 'no refused call reached the backend');
});

test('hop-by-hop headers and the headers a Connection header names are not passed on', () => {
  assert.deepEqual(
    passHeaders(
      {
        connection: 'keep-alive, x-drop-me',
        'x-drop-me': '1',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        host: 'gw',
        'proxy-authorization': 'x',
        authorization: 'Bearer t',
        'x-kept': 'yes',
      },
      new Set(['authorization']),
    ),
    { 'x-kept': 'yes' },
  );
});

test('a TPP without a required role is refused, and is not subscribed', async () => {
  const reg = await jsonBody(await env.register(env.cbpii, await env.validRequestClaims(env.cbpii)), 201);
  const cbpiiId = String(reg['client_id']);
  const subs = await jsonBody(await admin(`/api/am/devportal/v3/subscriptions?applicationId=${cbpiiId}`), 200);
  assert.equal(subs['count'], 0);
  const t = await env.ccToken(env.cbpii, cbpiiId, 'private_key_jwt', { scope: 'fundsconfirmations' });
  const res = await env.ts.fetch(`${CONTEXT}/account-access-consents`, {
    method: 'POST',
    cert: tlsOf(env.cbpii.transport),
    body: '{}',
    headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json', 'x-fapi-interaction-id': '93bac548-d2de-4546-b106-880a5018460d' },
  });
  await obError(res, 403, 'GATEWAY_SCOPE_MISSING', 'UK.OBIE.Resource.ConsentMismatch');
});

test('a blocked subscription is refused with 403 until unblocked', async () => {
  const subs = await jsonBody(await admin(`/api/am/devportal/v3/subscriptions?applicationId=${clientId}`), 200);
  const subId = String((subs['list'] as Array<Record<string, unknown>>)[0]!['subscriptionId']);
  const blocked = await jsonBody(
    await admin(`/api/am/publisher/v4/subscriptions/block-subscription?subscriptionId=${subId}&blockState=BLOCKED`, { method: 'POST' }),
    200,
  );
  assert.equal(blocked['status'], 'BLOCKED');
  const consent = () => call(`${CONTEXT}/account-access-consents`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  await obError(await consent(), 403, 'GATEWAY_SUBSCRIPTION_BLOCKED', 'UK.OBIE.Resource.ConsentMismatch');
  await jsonBody(await admin(`/api/am/publisher/v4/subscriptions/unblock-subscription?subscriptionId=${subId}`, { method: 'POST' }), 200);
  assert.equal((await consent()).status, 200);
});

test("past the plan's limit: 429 with Retry-After; the count is shared by every call of the subscription", async () => {
  const plan = await admin('/api/am/admin/v4/throttling/policies/subscription', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ policyName: 'Three', defaultLimit: { requestCount: { timeUnit: 'hour', unitTime: 1, requestCount: 3 } } }),
  });
  assert.equal(plan.status, 201);
  // The API must offer the plan before a subscription can use it.
  const reimport = new FormData();
  reimport.set('apiDefinition', new Blob([readFileSync(ACCOUNTS_FILE)]), 'api.yaml');
  reimport.set('additionalProperties', JSON.stringify({ policies: ['Gold', 'Bronze', 'Three'] }));
  await jsonBody(await admin(`/api/am/publisher/v4/apis/${apiId}/swagger`, { method: 'PUT', body: reimport }), 200);
  const subs = await jsonBody(await admin(`/api/am/devportal/v3/subscriptions?applicationId=${clientId}`), 200);
  const subId = String((subs['list'] as Array<Record<string, unknown>>)[0]!['subscriptionId']);
  await jsonBody(
    await admin(`/api/am/devportal/v3/subscriptions/${subId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ throttlingPolicy: 'Three' }),
    }),
    200,
  );
  const statuses: number[] = [];
  let last: Response | undefined;
  for (let i = 0; i < 5; i++) {
    last = await call(`${CONTEXT}/account-access-consents`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    statuses.push(last.status);
    if (last.status !== 429) await last.body?.cancel();
  }
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  assert.ok(Number(last!.headers.get('retry-after')) >= 1);
  await obError(last!, 429, 'GATEWAY_THROTTLED', 'UK.OBIE.UnexpectedError');
  // Back to Gold for the tests that follow; the plan in use cannot be removed meanwhile.
  const inUse = await admin('/api/am/admin/v4/throttling/policies/subscription/Three', { method: 'DELETE' });
  assert.equal(inUse.status, 409);
  await jsonBody(
    await admin(`/api/am/devportal/v3/subscriptions/${subId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ throttlingPolicy: 'Gold' }),
    }),
    200,
  );
});

test('a per-operation limit set by the publisher (PUT /apis/{id}) holds for that operation only', async () => {
  const unknown = await admin(`/api/am/publisher/v4/apis/${apiId}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ operations: [{ target: '/nope', verb: 'GET', throttlingLimit: { requestCount: 1, timeUnit: 'hour' } }] }),
  });
  assert.equal(unknown.status, 400);
  assert.equal(((await unknown.json()) as Record<string, unknown>)['code'], 'API_INVALID');
  const changed = await jsonBody(
    await admin(`/api/am/publisher/v4/apis/${apiId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        operations: [{ target: '/account-access-consents/{ConsentId}', verb: 'GET', throttlingLimit: { requestCount: 2, timeUnit: 'hour' } }],
      }),
    }),
    200,
  );
  const op = (changed['operations'] as Array<Record<string, unknown>>).find(
    (o) => o['target'] === '/account-access-consents/{ConsentId}' && o['verb'] === 'GET',
  );
  assert.deepEqual(op?.['throttlingLimit'], { requestCount: 2, unitTime: 1, timeUnit: 'hour' });
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await call(`${CONTEXT}/account-access-consents/c-${i}`);
    statuses.push(res.status);
    await res.body?.cancel();
  }
  assert.deepEqual(statuses, [200, 200, 429]);
  const other = await call(`${CONTEXT}/account-access-consents`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(other.status, 200, 'another operation is not limited by it');
  await other.body?.cancel();
});

test('backend faults and size limits: unreachable or too large an answer is 502, too slow is 504, too large a request 413, all coded', async () => {
  const consent = () => call(`${CONTEXT}/account-access-consents`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  try {
    backend.behave({ hangUp: true });
    await obError(await consent(), 502, 'GATEWAY_BACKEND_UNREACHABLE', 'UK.OBIE.UnexpectedError');
    // [gateway] backend_timeout is 1 s in this environment.
    backend.behave({ delayMs: 2500 });
    await obError(await consent(), 504, 'GATEWAY_BACKEND_TIMEOUT', 'UK.OBIE.UnexpectedError');
    // Bodies are bounded both ways: a large request is refused before the backend, a large answer is not passed on.
    const calls = backend.calls.length;
    backend.behave({});
    await obError(
      await call(`${CONTEXT}/account-access-consents`, {
        method: 'POST',
        body: `{"a":"${'x'.repeat(70 * 1024)}"}`,
        headers: { 'content-type': 'application/json' },
      }),
      413,
      'GATEWAY_BODY_TOO_LARGE',
      'UK.OBIE.Field.Invalid',
    );
    assert.equal(backend.calls.length, calls, 'the large request never reached the backend');
    backend.behave({ bodyBytes: 300 * 1024 });
    await obError(await consent(), 502, 'GATEWAY_BACKEND_UNREACHABLE', 'UK.OBIE.UnexpectedError');
    // Without a Content-Length the answer has started when the limit is crossed: it is cut, never passed on whole.
    backend.behave({ bodyBytes: 300 * 1024, chunked: true });
    const cut = await consent()
      .then((r) => r.arrayBuffer())
      .then(
        (b) => b.byteLength,
        (err: Error) => err.name,
      );
    assert.equal(cut, 'TypeError', `a cut connection, got ${String(cut)}`);
    // A backend's own error passes through as it is: the gateway never turns its 4xx into a 5xx.
    backend.behave({ status: 400 });
    const own = await consent();
    assert.equal(own.status, 400);
    assert.equal(own.headers.get('x-backend'), 'yes');
    await own.body?.cancel();
  } finally {
    backend.behave({});
  }
});

test('lifecycle: a blocked API answers 503, a deprecated one still serves, a retired one is gone (404 from the server)', async () => {
  const lifecycle = (action: string) =>
    admin(`/api/am/publisher/v4/apis/change-lifecycle?action=${encodeURIComponent(action)}&apiId=${apiId}`, { method: 'POST' });
  const consent = () => call(`${CONTEXT}/account-access-consents`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  await jsonBody(await lifecycle('Block'), 200);
  await obError(await consent(), 503, 'GATEWAY_API_BLOCKED', 'UK.OBIE.UnexpectedError');
  await jsonBody(await lifecycle('Re-Publish'), 200);
  await jsonBody(await lifecycle('Deprecate'), 200);
  assert.equal((await consent()).status, 200);
  const refused = await lifecycle('Publish');
  assert.equal(refused.status, 409);
  assert.equal(((await refused.json()) as Record<string, unknown>)['code'], 'API_LIFECYCLE_INVALID');
  await jsonBody(await lifecycle('Retire'), 200);
  const gone = await consent();
  assert.equal(gone.status, 404);
});
