/** oidc-provider's replay detection goes through the shared state (src/oauth/replay.ts). */
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { test } from 'node:test';
import Provider from 'oidc-provider';
import { OIDC_REPLAY_NAMESPACE, useSharedReplayDetection } from '../../src/oauth/replay.ts';
import { createEmbeddedSharedState } from '../../src/shared-state/embedded.ts';

const T0 = 1_800_000_000;

test('ReplayDetection.unique records iss+jti once in the shared state, until exp', async (t) => {
  let clock = T0;
  const shared = createEmbeddedSharedState({ path: ':memory:', busyTimeoutMs: 1000, now: () => clock });
  t.after(() => shared.close());
  const provider = new Provider('https://op.example.com');
  useSharedReplayDetection(provider, shared);
  const unique = (iss: string, jti: string, exp: number) =>
    (provider.ReplayDetection as unknown as { unique(i: string, j: string, e: number): Promise<boolean> }).unique(iss, jti, exp);

  assert.equal(await unique('client-a', 'jti-1', T0 + 60), true);
  assert.equal(await unique('client-a', 'jti-1', T0 + 60), false, 'replay');
  assert.equal(await unique('client-b', 'jti-1', T0 + 60), true, 'another client may use the same jti');
  // Stored under oidc-provider's own key, so the id length is bounded whatever the jti.
  assert.equal(await shared.remember(OIDC_REPLAY_NAMESPACE, hash('sha256', 'client-ajti-1', 'base64url'), T0 + 60), false);
  clock = T0 + 61;
  assert.equal(await unique('client-a', 'jti-1', T0 + 120), true, 'usable again once expired');
  // Racing calls in one event loop turn: exactly one wins.
  const results = await Promise.all(Array.from({ length: 10 }, () => unique('client-c', 'jti-2', T0 + 120)));
  assert.equal(results.filter(Boolean).length, 1);
});
