/** The OB request rules the headers decide (src/gateway/steps/request-rules.ts): body, media type, Accept, x-idempotency-key. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestRules } from '../../../src/gateway/steps/request-rules.ts';
import type { OperationDef } from '../../../src/storage/catalogue-records.ts';
import { api, assertRefused, fakeCall, fakeRequest, operation, subscriptionRecord, transportCertificate, verifiedToken } from './support.ts';

const cert = await transportCertificate('tpp');
const subscribed = (op: OperationDef, method: string, headers: Record<string, string>) =>
  fakeCall({
    req: fakeRequest({ method, headers }),
    match: { api: api({ operations: [op] }), operation: op, rest: '/x' },
    cert,
    caller: { token: verifiedToken(), raw: 't', roles: [] },
    subscription: subscriptionRecord(),
  });

const post = operation({ method: 'POST', path: '/payments', body: { types: ['application/json', 'application/jose+json', 'text/plain'] } });
const get = operation({ body: null });
const legacy = operation({ method: 'POST', path: '/old' }); // imported before bodies were read: POST takes JSON
const json = { 'content-type': 'application/json; charset=utf-8', 'content-length': '2' };

test('what the forward step reads of the body: none, JSON (also +json) or other', () => {
  assert.equal(requestRules(subscribed(get, 'GET', {})).body, 'none');
  assert.equal(requestRules(subscribed(get, 'GET', { 'content-length': '0' })).body, 'none');
  assert.equal(requestRules(subscribed(post, 'POST', json)).body, 'json');
  assert.equal(requestRules(subscribed(post, 'POST', { 'content-type': 'application/jose+json', 'transfer-encoding': 'chunked' })).body, 'json');
  assert.equal(requestRules(subscribed(post, 'POST', { 'content-type': 'text/plain', 'content-length': '3' })).body, 'other');
  assert.equal(requestRules(subscribed(legacy, 'POST', json)).body, 'json');
});

test('a body where none is declared: 400 GATEWAY_BODY_NOT_ALLOWED, chunked or not', async () => {
  for (const headers of [{ 'content-length': '2' }, { 'transfer-encoding': 'chunked' }] as Record<string, string>[]) {
    await assertRefused(() => requestRules(subscribed(get, 'GET', headers)), 'GATEWAY_BODY_NOT_ALLOWED', 'GET on this operation takes no request body');
  }
  await assertRefused(() => requestRules(subscribed(operation({ method: 'DELETE' }), 'DELETE', { 'content-length': '2' })), 'GATEWAY_BODY_NOT_ALLOWED');
});

test('compressed, untyped or another media type: 415 GATEWAY_CONTENT_TYPE', async () => {
  await assertRefused(
    () => requestRules(subscribed(post, 'POST', { ...json, 'content-encoding': 'gzip' })),
    'GATEWAY_CONTENT_TYPE',
    'the request body must not be compressed (Content-Encoding)',
  );
  requestRules(subscribed(post, 'POST', { ...json, 'content-encoding': ' Identity ' }));
  const types = 'the request body must be sent as application/json or application/jose+json or text/plain';
  await assertRefused(() => requestRules(subscribed(post, 'POST', { 'content-length': '2' })), 'GATEWAY_CONTENT_TYPE', types);
  await assertRefused(
    () => requestRules(subscribed(post, 'POST', { 'content-type': 'application/xml', 'content-length': '2' })),
    'GATEWAY_CONTENT_TYPE',
    types,
  );
  await assertRefused(
    () => requestRules(subscribed(legacy, 'POST', { 'content-type': 'text/plain', 'content-length': '2' })),
    'GATEWAY_CONTENT_TYPE',
    'the request body must be sent as application/json',
  );
});

test('an Accept without JSON: 406 GATEWAY_NOT_ACCEPTABLE; JSON, a wildcard or none passes', async () => {
  await assertRefused(
    () => requestRules(subscribed(get, 'GET', { accept: 'text/html, application/xml' })),
    'GATEWAY_NOT_ACCEPTABLE',
    'the API answers with application/json, which Accept does not allow',
  );
  for (const accept of ['', 'application/json', 'text/html, application/*;q=0.1', '*/*', 'APPLICATION/JSON; charset=utf-8'])
    requestRules(subscribed(get, 'GET', { accept }));
});

test('x-idempotency-key on an operation that declares it: required (400 HEADER_MISSING), 1 to 40 visible ASCII characters (400 HEADER_INVALID)', async () => {
  const idempotent = operation({ method: 'POST', path: '/domestic-payments', idempotency: true, body: { types: ['application/json'] } });
  await assertRefused(() => requestRules(subscribed(idempotent, 'POST', json)), 'GATEWAY_HEADER_MISSING', 'the x-idempotency-key header is required');
  for (const key of ['', 'x'.repeat(41), 'has space']) {
    await assertRefused(
      () => requestRules(subscribed(idempotent, 'POST', { ...json, 'x-idempotency-key': key })),
      'GATEWAY_HEADER_INVALID',
      'x-idempotency-key must be 1 to 40 visible ASCII characters',
    );
  }
  assert.equal(requestRules(subscribed(idempotent, 'POST', { ...json, 'x-idempotency-key': 'k'.repeat(40) })).body, 'json');
  requestRules(subscribed(post, 'POST', json)); // not declared: not required
});
