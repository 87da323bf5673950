/** The subscription step (src/gateway/steps/subscription.ts): the application's own ACTIVE subscription, or 403. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subscription } from '../../../src/gateway/steps/subscription.ts';
import type { SubscriptionRecord } from '../../../src/storage/catalogue-records.ts';
import { api, assertRefused, fakeCall, operation, subscriptionRecord, transportCertificate, verifiedToken } from './support.ts';

const cert = await transportCertificate('tpp');
const authenticated = () =>
  fakeCall({
    match: { api: api({ id: 'api-7' }), operation: operation(), rest: '/x' },
    cert,
    caller: { token: verifiedToken({ keyManager: 'External IdP', clientId: 'ext-1' }), raw: 't', roles: [] },
  });

function live(answer: SubscriptionRecord | null) {
  const asked: string[][] = [];
  return {
    asked,
    live: {
      subscription: async (keyManager: string, clientId: string, apiId: string) => {
        asked.push([keyManager, clientId, apiId]);
        return answer;
      },
    },
  };
}

test("the subscription of the token's key manager's client to the API is added", async () => {
  const sub = subscriptionRecord({ keyManager: 'External IdP', clientId: 'ext-1', apiId: 'api-7' });
  const deps = live(sub);
  const subscribed = await subscription(deps, authenticated());
  assert.equal(subscribed.subscription, sub);
  assert.deepEqual(deps.asked, [['External IdP', 'ext-1', 'api-7']], 'the application is the key manager and client id together');
});

test('none: 403 GATEWAY_NOT_SUBSCRIBED; a blocked one: 403 GATEWAY_SUBSCRIPTION_BLOCKED', async () => {
  await assertRefused(() => subscription(live(null), authenticated()), 'GATEWAY_NOT_SUBSCRIBED', 'the application is not subscribed to this API');
  await assertRefused(
    () => subscription(live(subscriptionRecord({ state: 'BLOCKED' })), authenticated()),
    'GATEWAY_SUBSCRIPTION_BLOCKED',
    "the application's subscription to this API is blocked",
  );
});
