/** The route step (src/gateway/steps/route.ts): path checked once, operation matched, lifecycle. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { route } from '../../../src/gateway/steps/route.ts';
import { api, CONTEXT, assertRefused, fakeCall, fakeRequest, operation, snapshotOf } from './support.ts';

const accounts = api({ operations: [operation(), operation({ method: 'POST', path: '/account-access-consents' })] });

test('a matched call gains its operation, API name and route template; the path is canonical and the query checked', () => {
  const call = fakeCall({ req: fakeRequest({ url: `${CONTEXT}/accounts/a%2D1?x=1` }), snapshot: snapshotOf([accounts]) });
  const routed = route(call);
  assert.equal(routed, call, 'the same call, with what the step added');
  assert.equal(routed.path, `${CONTEXT}/accounts/a-1`);
  assert.equal(routed.query, '?x=1');
  assert.equal(routed.match.api, accounts);
  assert.equal(routed.match.operation, accounts.operations[0]);
  assert.equal(routed.match.rest, '/accounts/a-1', 'built from the template, not copied from the request');
  assert.equal(routed.api, 'AccountsAPI');
  assert.equal(routed.dcr, false);
  assert.equal(routed.ctx?.route, `${CONTEXT}/accounts/{AccountId}`);
});

test('a path in a form the gateway does not route: 400 GATEWAY_PATH_INVALID, before any lookup', async () => {
  for (const url of [`${CONTEXT}/accounts/..`, `${CONTEXT}/accounts/%2F`, `${CONTEXT}//accounts`]) {
    const call = fakeCall({ req: fakeRequest({ url }), snapshot: { ...snapshotOf([accounts]), lookup: () => assert.fail('looked up') } });
    await assertRefused(() => route(call), 'GATEWAY_PATH_INVALID');
    assert.equal(call.match, undefined);
  }
});

test('no operation: 404; another method: 405 with Allow; a blocked API: 503', async () => {
  const snapshot = snapshotOf([accounts]);
  await assertRefused(
    () => route(fakeCall({ req: fakeRequest({ url: `${CONTEXT}/nothing` }), snapshot })),
    'GATEWAY_ROUTE_NOT_FOUND',
    'no API operation matches this method and path',
  );
  await assertRefused(
    () => route(fakeCall({ req: fakeRequest({ method: 'DELETE', url: `${CONTEXT}/account-access-consents` }), snapshot })),
    'GATEWAY_METHOD_NOT_ALLOWED',
    'DELETE is not allowed here; use POST',
    { allow: 'POST' },
  );
  const call = fakeCall({ snapshot: snapshotOf([api({ state: 'BLOCKED' })]) });
  await assertRefused(() => route(call), 'GATEWAY_API_BLOCKED', 'this API is blocked; try again later');
  assert.equal(call.api, '(unmatched)', "a blocked API is not named the call's API");
});

test('the built-in DCR API is marked, so that its refusals keep RFC 7591', () => {
  const dcr = api({
    id: 'dcr',
    name: 'DCR',
    context: '/open-banking/v3.3',
    backendUrl: 'internal:dcr',
    operations: [operation({ method: 'POST', path: '/register', security: [] })],
  });
  const routed = route(fakeCall({ req: fakeRequest({ method: 'POST', url: '/open-banking/v3.3/register' }), snapshot: snapshotOf([dcr]) }));
  assert.equal(routed.dcr, true);
  assert.equal(routed.api, 'DCR');
});
