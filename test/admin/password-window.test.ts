/**
 * The password throttle counts in windows of `[admin] login_window` seconds (default 300): the
 * setting reaches the shared-state counter, and the lock's log line names it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPasswordThrottle } from '../../src/admin/password-throttle.ts';
import { loadConfig } from '../../src/config/load.ts';
import { adminSchema } from '../../src/config/schema.ts';
import type { WindowCount } from '../../src/shared-state/ports.ts';

const request = { headers: {}, socket: { remoteAddress: '192.0.2.7' } } as never;

for (const window of [undefined, 60, 3600, 86_400]) {
  test(`login_window ${window ?? '(default)'}: the counts are kept per window of that many seconds`, async () => {
    const base = loadConfig({ env: {} });
    const config = { ...base, admin: { ...base.admin, ...(window === undefined ? {} : { login_window: window }), login_attempts: 1 } };
    const windows: number[] = [];
    const logged: Array<Record<string, unknown>> = [];
    const counters = new Map<string, number>();
    const throttle = createPasswordThrottle({
      config,
      shared: {
        count: async (key: string, windowSeconds: number, by = 1): Promise<WindowCount> => {
          windows.push(windowSeconds);
          counters.set(key, (counters.get(key) ?? 0) + by);
          return { count: counters.get(key)!, resetAt: Math.floor(Date.now() / 1000) + windowSeconds };
        },
      },
      logger: { warn: (fields: Record<string, unknown>) => logged.push(fields) } as never,
    });
    assert.equal(await throttle.attempt(request, 'ops', 'basic', async () => false), false);
    await assert.rejects(
      throttle.attempt(request, 'ops', 'basic', async () => true),
      (err: Error & { code?: string }) => err.code === 'ADMIN_LOGIN_THROTTLED',
    );
    const expected = window ?? 300;
    assert.ok(windows.length > 0);
    assert.deepEqual([...new Set(windows)], [expected]);
    assert.ok(
      logged.some((f) => f['windowSeconds'] === expected),
      JSON.stringify(logged),
    );
  });
}

test('login_window below a minute or above a day is refused by the configuration', () => {
  for (const bad of [0, 59, 86_401, 1.5]) {
    assert.equal(adminSchema.safeParse({ login_window: bad }).success, false, String(bad));
  }
});
