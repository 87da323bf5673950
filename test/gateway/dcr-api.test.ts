/**
 * The DCR API as a published API (as the seed publishes it): imported from the official
 * swagger with the built-in DCR service as its backend (`internal:dcr`, served in process, no HTTP
 * hop), it keeps its RFC 7591 answers and gains the gateway's certificate check and its plan's
 * throttling, per transport certificate.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startDcrEnvironment, jsonBody, type DcrEnvironment } from '../helpers/dcr.ts';
import { addPlan, publishApi, SPEC, type ServerFetch } from './support.ts';

let env: DcrEnvironment;

before(async () => {
  env = await startDcrEnvironment();
  const fetchAdmin: ServerFetch = (path, init) => env.ts.fetch(path, init as never);
  await addPlan(fetchAdmin, 'TwoRegistrations', 2, 'hour');
  await publishApi(fetchAdmin, new URL('ob-dcr-openapi/v3.3/client-registration-swagger.json', SPEC), 'internal:dcr', {
    context: '/open-banking/v3.3.0',
    name: 'DynamicClientRegistration',
    version: 'v3.3.0',
    policies: ['TwoRegistrations'],
  });
});

after(async () => {
  await env?.close();
});

test('registrations through the published DCR API are served by the DCR service and throttled by its plan', async () => {
  const first = await jsonBody(await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp), { version: 'v3.3.0' }), 201);
  assert.equal(typeof first['client_id'], 'string');
  // The DCR service still answers its own errors in RFC 7591 shape through the gateway.
  const bad = await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp, { redirect_uris: ['https://evil.example/cb'] }), {
    version: 'v3.3.0',
  });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as Record<string, unknown>)['error'], 'invalid_redirect_uri');
  // Third call within the hour: the plan (2 an hour per certificate) refuses it before the DCR service.
  const third = await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp), { version: 'v3.3.0' });
  assert.equal(third.status, 429);
  assert.ok(Number(third.headers.get('retry-after')) >= 1);
  assert.deepEqual(await third.json(), {
    error: 'temporarily_unavailable',
    error_description: 'the request limit is reached; retry after the time in Retry-After',
  });
  // Another TPP (another certificate) has its own count.
  assert.equal((await env.register(env.cbpii, await env.validRequestClaims(env.cbpii), { version: 'v3.3.0' })).status, 201);
  // The versions not published through the gateway are served by the DCR service as before.
  assert.equal((await env.register(env.aispPisp, await env.validRequestClaims(env.aispPisp), { version: 'v3.3' })).status, 201);
});

test('without a client certificate the DCR service refuses the call in its own RFC 7591 shape', async () => {
  const res = await env.ts.fetch('/open-banking/v3.3.0/register', { method: 'POST', body: 'x', headers: { 'content-type': 'application/jose' } });
  assert.equal(res.status, 401);
  assert.equal(((await res.json()) as Record<string, unknown>)['error'], 'invalid_client');
});
