/**
 * The throttling step (src/gateway/steps/throttle.ts): which counters a call counts (plan, burst,
 * operation), and the tightest stopping one deciding, with Retry-After its window's end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkLimits, limitsFor, throttle } from '../../../src/gateway/steps/throttle.ts';
import type { WindowCount } from '../../../src/shared-state/ports.ts';
import { api, assertRefused, fakeCall, operation, plan, snapshotOf, subscriptionRecord, transportCertificate, verifiedToken } from './support.ts';

const op = operation({ method: 'POST', path: '/payments', limit: { requestCount: 10, unitTime: 1, timeUnit: 'hour' } });
const match = { api: api({ operations: [op] }), operation: op, rest: '/payments' };

/** A shared state whose counters answer `answer(key)`; records each count asked for. */
function counters(answer: (key: string) => WindowCount) {
  const counted: Array<[string, number]> = [];
  return {
    counted,
    shared: {
      count: async (key: string, windowSeconds: number) => {
        counted.push([key, windowSeconds]);
        return answer(key);
      },
    },
  };
}

test('the limits of a call: the plan per subscription (stopping or counting), its burst, the operation for everyone', () => {
  const gold = plan({ limit: { requestCount: 5000, unitTime: 1, timeUnit: 'min' }, burst: { requestCount: 50, timeUnit: 'sec' }, stopOnQuotaReach: false });
  assert.deepEqual(limitsFor(match, gold, 'sub-1'), [
    { key: 'gw:p:sub-1:60', limit: { requestCount: 5000, unitTime: 1, timeUnit: 'min' }, stop: false },
    { key: 'gw:b:sub-1:1', limit: { requestCount: 50, unitTime: 1, timeUnit: 'sec' }, stop: true },
    { key: 'gw:o:api-1:POST:/payments:3600', limit: { requestCount: 10, unitTime: 1, timeUnit: 'hour' }, stop: true },
  ]);
  assert.deepEqual(limitsFor({ ...match, operation: operation() }, plan(), 'sub-1'), [], 'Unlimited, no operation limit');
  assert.deepEqual(limitsFor({ ...match, operation: operation() }, undefined, 'sub-1'), [], 'a plan gone from the catalogue');
});

test('no limits: the shared state is not asked', async () => {
  const { shared, counted } = counters(() => assert.fail('counted'));
  await checkLimits({ shared }, []);
  assert.deepEqual(counted, []);
});

test('past a stopping limit: 429 GATEWAY_THROTTLED, Retry-After the latest window end of those passed; a counting limit never refuses', async () => {
  const now = Date.now() / 1000;
  const limits = [
    { key: 'a', limit: { requestCount: 1, unitTime: 1, timeUnit: 'min' as const }, stop: true },
    { key: 'b', limit: { requestCount: 1, unitTime: 1, timeUnit: 'hour' as const }, stop: true },
    { key: 'c', limit: { requestCount: 1, unitTime: 1, timeUnit: 'day' as const }, stop: false },
  ];
  const { shared, counted } = counters((key) => ({ count: 2, resetAt: now + (key === 'a' ? 20.5 : key === 'b' ? 100.5 : 5000) }));
  await assertRefused(() => checkLimits({ shared }, limits), 'GATEWAY_THROTTLED', 'the request limit is reached; retry after the time in Retry-After', {
    'retry-after': '101',
  });
  assert.deepEqual(counted, [
    ['a', 60],
    ['b', 3600],
    ['c', 86400],
  ]);
  const onlyCounted = counters(() => ({ count: 1e6, resetAt: now + 10 }));
  await checkLimits({ shared: onlyCounted.shared }, [limits[2]!]);
  const within = counters(() => ({ count: 1, resetAt: now + 10 }));
  await checkLimits({ shared: within.shared }, limits);
});

test('a window that has just ended still says Retry-After: 1', async () => {
  const { shared } = counters(() => ({ count: 2, resetAt: Date.now() / 1000 + 0.001 }));
  await assertRefused(
    () => checkLimits({ shared }, [{ key: 'a', limit: { requestCount: 1, unitTime: 1, timeUnit: 'sec' }, stop: true }]),
    'GATEWAY_THROTTLED',
    undefined,
    {
      'retry-after': '1',
    },
  );
});

test("the step counts the subscription's plan from the call's catalogue snapshot", async () => {
  const silver = plan({ name: 'Silver', limit: { requestCount: 2000, unitTime: 1, timeUnit: 'min' } });
  const call = fakeCall({
    snapshot: snapshotOf([match.api], [silver]),
    match,
    cert: await transportCertificate('tpp'),
    caller: { token: verifiedToken(), raw: 't', roles: [] },
    subscription: subscriptionRecord({ id: 'sub-9', plan: 'Silver' }),
  });
  const { shared, counted } = counters(() => ({ count: 1, resetAt: Date.now() / 1000 + 60 }));
  await throttle({ shared }, call);
  assert.deepEqual(counted, [
    ['gw:p:sub-9:60', 60],
    ['gw:o:api-1:POST:/payments:3600', 3600],
  ]);
});

test('a subscription moved to a plan with another window starts a new count, even in the minute both windows begin', async () => {
  // The embedded shared state (a file, no socket), its clock at the first second of an hour: a
  // per-minute and a per-hour window then start at the same second.
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createEmbeddedSharedState } = await import('../../../src/shared-state/embedded.ts');
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-throttle-'));
  const hour = Math.floor(Date.now() / 3_600_000) * 3600;
  const shared = await createEmbeddedSharedState({ path: join(dir, 'shared.db'), busyTimeoutMs: 1000, pollMs: 1000, now: () => hour + 5 });
  try {
    const perMinute = plan({ name: 'Minute', limit: { requestCount: 100, unitTime: 1, timeUnit: 'min' } });
    const perHour = plan({ name: 'Hour', limit: { requestCount: 3, unitTime: 1, timeUnit: 'hour' } });
    const plain = { ...match, operation: operation() };
    for (let i = 0; i < 10; i++) await checkLimits({ shared }, limitsFor(plain, perMinute, 'sub-1'));
    // Moved to three calls an hour: the ten calls made under the other plan are not its count.
    for (let i = 0; i < 3; i++) await checkLimits({ shared }, limitsFor(plain, perHour, 'sub-1'));
    await assertRefused(() => checkLimits({ shared }, limitsFor(plain, perHour, 'sub-1')), 'GATEWAY_THROTTLED');
  } finally {
    await shared.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
