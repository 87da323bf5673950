/**
 * What a backend receives of a call's headers and body: an allow-list. The headers an attack on
 * the gateway used (method and URL overrides, forwarding and client-certificate headers, an
 * underscore look-alike of the identity header, a client's Host as X-Forwarded-Host) never reach
 * the recording backend, in any casing; the OB headers and those the API's definition declares
 * do. A body where the definition declares none is refused; a JSON body is held to the server's
 * nesting bound; `Expect: 100-continue` works.
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startDcrEnvironment, tlsOf, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { startTestBackend, type TestBackend } from './backend.ts';
import { OB_FILES, publishApi } from './support.ts';

const CONTEXT = '/open-banking/v3.1/aisp';
const INTERACTION = '93bac548-d2de-4546-b106-880a5018460d';

let env: DcrEnvironment;
let backend: TestBackend;
let token: string;

/** The attack's headers: none may reach a backend, whatever a definition says. */
const HOSTILE: Record<string, string> = {
  'x-http-method-override': 'DELETE',
  'x-method-override': 'DELETE',
  'x-http-method': 'DELETE',
  'x-original-url': '/pisp/domestic-payments/pay-123',
  'x-rewrite-url': '/pisp/domestic-payments/pay-123',
  'x-original-uri': '/pisp',
  'x-forwarded-prefix': '/pisp',
  'x-forwarded-server': 'evil.example',
  'x-forwarded-port': '1',
  forwarded: 'for=1.2.3.4;host=evil.example',
  x_opendcr_identity: 'forged',
  'x-opendcr_identity': 'forged',
  x_fapi_interaction_id: 'forged',
  x_idempotency_key: 'forged',
  content_type: 'text/plain',
  'x-real-ip': '1.2.3.4',
  'x-client-ip': '1.2.3.4',
  'true-client-ip': '1.2.3.4',
  'x-ssl-client-cert': 'forged',
  'x-client-cert': 'forged',
  'ssl-client-cert': 'forged',
  via: '1.1 evil',
  'max-forwards': '0',
  'x-custom': 'not declared',
  cookie: 'session=stolen',
  'proxy-authorization': 'Basic eDp4',
};

const casings = (name: string): string[] => [
  name,
  name.toUpperCase(),
  name.replace(/(^|[-_])([a-z])/g, (_m, sep: string, c: string) => `${sep}${c.toUpperCase()}`),
  [...name].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join(''),
];

/** POST /account-access-consents through the gateway (a client-credentials operation with a JSON body). */
function consent(
  headers: Record<string, string>,
  body: string | null = '{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}',
  method = 'POST',
  path = `${CONTEXT}/account-access-consents`,
) {
  return env.ts.mtlsAgent(tlsOf(env.aispPisp.transport)).request({
    origin: env.url,
    path,
    method: method as 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'x-fapi-interaction-id': INTERACTION,
      ...(body === null ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === null ? {} : { body }),
  });
}

async function obCode(res: { statusCode: number; body: { text(): Promise<string> } }, status: number): Promise<string> {
  const text = await res.body.text();
  assert.equal(res.statusCode, status, text);
  const body = JSON.parse(text) as Record<string, unknown>;
  return `${String(body['Code'])} ${String((body['Errors'] as Array<Record<string, unknown>>)[0]!['ErrorCode'])}`;
}

before(async () => {
  backend = await startTestBackend();
  env = await startDcrEnvironment({ gateway: { max_request_body: 256 * 1024 } });
  await publishApi((path, init) => env.ts.fetch(path, init as never), OB_FILES.accounts, `${backend.url}/bank`);
  const reg = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp)), 201);
  token = await env.ccToken(env.aispPisp, String(reg['client_id']), 'private_key_jwt', { scope: 'accounts' });
});

after(async () => {
  await env?.close();
  await backend?.close();
});

test("the attack's headers, in every casing, never reach the backend; the OB and declared ones do, and the gateway's own replace the client's", async () => {
  const jwks = (await (await env.ts.fetch('/gateway/jwks.json')).json()) as { keys: never[] };
  for (const [name, value] of Object.entries(HOSTILE)) {
    for (const spelled of casings(name)) {
      const before = backend.calls.length;
      const res = await consent({
        [spelled]: value,
        // Allowed: content negotiation, x-fapi-*, and what the operation's definition declares.
        accept: 'application/json',
        'accept-language': 'en-GB',
        'x-fapi-auth-date': 'Sun, 10 Sep 2017 19:43:31 UTC',
        'x-fapi-customer-ip-address': '10.1.1.10',
        'x-customer-user-agent': 'TPP app 1.0',
        // Set by the gateway: the client's values are replaced.
        'x-opendcr-identity': 'forged',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'http',
      });
      assert.equal(res.statusCode, 200, `${spelled}: ${await res.body.text()}`);
      await res.body.dump();
      assert.equal(backend.calls.length, before + 1);
      const got = backend.calls.at(-1)!;
      assert.equal(got.method, 'POST', `${spelled} did not change the method`);
      assert.equal(got.url, '/bank/account-access-consents', `${spelled} did not change the path`);
      const leaked = Object.keys(got.headers).filter((h) => h in HOSTILE || h.includes('_'));
      assert.deepEqual(leaked, [], `${spelled}: the backend received ${leaked.join(', ')}`);
      assert.equal(got.headers['accept'], 'application/json');
      assert.equal(got.headers['accept-language'], 'en-GB');
      assert.equal(got.headers['x-fapi-auth-date'], 'Sun, 10 Sep 2017 19:43:31 UTC');
      assert.equal(got.headers['x-fapi-customer-ip-address'], '10.1.1.10');
      assert.equal(got.headers['x-customer-user-agent'], 'TPP app 1.0');
      assert.equal(got.headers['x-fapi-interaction-id'], INTERACTION);
      assert.equal(got.headers['x-forwarded-host'], new URL(env.url).host, "the public host, not the client's Host or header");
      assert.equal(got.headers['x-forwarded-proto'], 'https');
      assert.equal(got.headers['x-forwarded-for'], '127.0.0.1', 'the peer only: X-Forwarded-For is believed from a trusted load balancer alone');
      await jwtVerify(String(got.headers['x-opendcr-identity']), createLocalJWKSet({ keys: jwks.keys }), { audience: backend.url });
    }
  }
});

test('a body where the definition declares none is refused before the backend; a declared one must be a declared media type, uncompressed', async () => {
  const before = backend.calls.length;
  const consentPath = `${CONTEXT}/account-access-consents/c-1`;
  assert.equal(await obCode(await consent({}, '{"a":1}', 'GET', consentPath), 400), 'GATEWAY_BODY_NOT_ALLOWED UK.OBIE.Field.Unexpected');
  assert.equal(await obCode(await consent({}, '{"a":1}', 'DELETE', consentPath), 400), 'GATEWAY_BODY_NOT_ALLOWED UK.OBIE.Field.Unexpected');
  // A chunked body on a GET is a body too.
  const chunked = () => Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]);
  const res = await env.ts.mtlsAgent(tlsOf(env.aispPisp.transport)).request({
    origin: env.url,
    path: consentPath,
    method: 'GET',
    body: chunked(),
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-fapi-interaction-id': INTERACTION },
  });
  assert.equal(await obCode(res, 400), 'GATEWAY_BODY_NOT_ALLOWED UK.OBIE.Field.Unexpected');
  assert.equal(await obCode(await consent({ 'content-type': 'text/plain' }), 415), 'GATEWAY_CONTENT_TYPE UK.OBIE.Header.Invalid');
  assert.equal(
    await obCode(await consent({ 'content-type': 'application/json', 'content-encoding': 'gzip' }), 415),
    'GATEWAY_CONTENT_TYPE UK.OBIE.Header.Invalid',
  );
  assert.equal(backend.calls.length, before, 'none reached the backend');
  // The media types the definition declares pass: JSON with parameters, and JWE (checked by the backend).
  for (const type of ['application/json; charset=utf-8', 'APPLICATION/JSON', 'application/jose+jwe']) {
    const ok = await consent({ 'content-type': type });
    assert.equal(ok.statusCode, 200, type);
    await ok.body.dump();
    assert.equal(backend.calls.at(-1)!.headers['content-type'], type);
  }
  // No body on a GET is fine, and so is an empty one.
  for (const headers of [{}, { 'content-length': '0' }] as Array<Record<string, string>>) {
    const get = await consent(headers, null, 'GET', consentPath);
    assert.equal(get.statusCode, 200, await get.body.text());
    await get.body.dump();
  }
});

test("a JSON body is held to the server's nesting bound (32 levels), whatever its size", async () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const before = backend.calls.length;
  for (const depth of [33, 1000, 20_000]) {
    assert.equal(await obCode(await consent({}, nested(depth)), 400), 'GATEWAY_JSON_TOO_DEEP UK.OBIE.Field.Invalid', String(depth));
  }
  assert.equal(await obCode(await consent({}, `{"Data":${nested(40).replace('[', '["]]]]",')}}`), 400), 'GATEWAY_JSON_TOO_DEEP UK.OBIE.Field.Invalid');
  assert.equal(backend.calls.length, before);
  const ok = await consent({}, nested(32));
  assert.equal(ok.statusCode, 200);
  await ok.body.dump();
  // Brackets inside strings are text, not nesting.
  const text = await consent({}, JSON.stringify({ Data: { Note: '['.repeat(5000) } }));
  assert.equal(text.statusCode, 200);
  await text.body.dump();
});

test('a POST with Expect: 100-continue is answered by the backend', async () => {
  const tls = tlsOf(env.aispPisp.transport);
  const url = new URL(`${CONTEXT}/account-access-consents`, env.url);
  const body = '{"Data":{"Permissions":["ReadAccountsBasic"]},"Risk":{}}';
  const answer = await new Promise<{ status: number; continued: boolean; text: string }>((resolve, reject) => {
    let continued = false;
    const req = httpsRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        ca: env.ts.caPem,
        cert: tls.certPem,
        key: tls.keyPem,
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
          'x-fapi-interaction-id': INTERACTION,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, continued, text }));
      },
    );
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('error', reject);
    // Bounded: a gateway that never answers must fail the test, not hang it.
    req.setTimeout(10_000, () => req.destroy(new Error('no answer to a request with Expect: 100-continue within 10 s')));
  });
  assert.equal(answer.status, 200, answer.text);
  assert.ok(answer.continued, 'the server said 100 Continue');
  assert.equal(backend.calls.at(-1)!.body, body);
  assert.equal(backend.calls.at(-1)!.headers['expect'], undefined);
});
