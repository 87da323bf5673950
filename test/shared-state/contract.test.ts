/**
 * One contract for every shared state: embedded (SQLite file), PostgreSQL and Redis. Two
 * instances on the same backing store stand for two workers or hosts. PostgreSQL and Redis run
 * for real against the local services; with CI=true a missing one fails the run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createEmbeddedSharedState } from '../../src/shared-state/embedded.ts';
import { createPostgresSharedState } from '../../src/shared-state/postgres.ts';
import { createRedisSharedState } from '../../src/shared-state/redis.ts';
import { SharedStateUnavailableError, type SharedState } from '../../src/shared-state/ports.ts';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = 'redis://127.0.0.1:6379/0';

/** Polls `check` until it holds (bounded): notices arrive asynchronously. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await sleep(50);
  }
  assert.fail(`${what}: not within 5 s`);
}

interface Backend {
  open(): Promise<SharedState>;
  /** The time in seconds by the clock the instances use (the wall clock where the backend keeps time itself). */
  now(): number;
  /** Advances the clock the instances use; false when the backend keeps time itself (Redis). */
  advance(seconds: number): boolean;
}

async function runContract(t: TestContext, backend: Backend): Promise<void> {
  const [a, b] = await Promise.all([backend.open(), backend.open()]);
  t.after(async () => {
    await a.close();
    await b.close();
  });
  // Read from the instances' own clock: a second that ticks between two wall-clock reads would shift every expiry below.
  const t0 = backend.now();
  const run = randomBytes(4).toString('hex');

  await t.test('remember: first true, replay false on either instance, per namespace', async () => {
    assert.equal(await a.remember(`ns-${run}`, 'jti-1', t0 + 60), true);
    assert.equal(await a.remember(`ns-${run}`, 'jti-1', t0 + 60), false);
    assert.equal(await b.remember(`ns-${run}`, 'jti-1', t0 + 60), false);
    assert.equal(await b.remember(`other-${run}`, 'jti-1', t0 + 60), true);
    assert.equal(await b.has(`ns-${run}`, 'jti-1'), true);
    assert.equal(await b.has(`ns-${run}`, 'jti-2'), false);
  });

  await t.test('remember: exactly one of many racing calls from two instances wins', async () => {
    for (let round = 0; round < 5; round++) {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).remember(`race-${run}`, `id-${round}`, t0 + 60)));
      assert.equal(results.filter(Boolean).length, 1, `round ${round}`);
    }
  });

  await t.test('mark and has: visible to the other instance; a mark is extended, never shortened', async () => {
    assert.equal(await a.has(`marks-${run}`, 'client-1'), false);
    await a.mark(`marks-${run}`, 'client-1', t0 + 3);
    assert.equal(await b.has(`marks-${run}`, 'client-1'), true);
    await b.mark(`marks-${run}`, 'client-1', t0 + 600);
    await a.mark(`marks-${run}`, 'client-1', t0 + 2);
    if (backend.advance(10)) {
      try {
        assert.equal(await a.has(`marks-${run}`, 'client-1'), true, 'still marked: extended to +600, not shortened');
      } finally {
        backend.advance(-10);
      }
    }
  });

  await t.test('expiry: an expired id is forgotten and may be used again', async () => {
    const ns = `exp-${run}`;
    if (backend.advance(0)) {
      assert.equal(await a.remember(ns, 'x', t0 + 5), true);
      backend.advance(5);
      try {
        assert.equal(await b.has(ns, 'x'), false, 'expired at expiresAt');
        assert.equal(await b.remember(ns, 'x', t0 + 65), true, 'taken over after expiry');
      } finally {
        backend.advance(-5);
      }
    } else {
      // Redis keeps time itself: a two-second lifetime, waited out.
      const now = Math.floor(Date.now() / 1000);
      assert.equal(await a.remember(ns, 'x', now + 2), true);
      assert.equal(await b.remember(ns, 'x', now + 2), false);
      await sleep(2_100);
      assert.equal(await b.has(ns, 'x'), false);
      assert.equal(await b.remember(ns, 'x', now + 60), true);
    }
  });

  await t.test('count: atomic across instances within a window; a new window starts at zero', async () => {
    const key = `rate-${run}`;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).count(key, 3600)));
    assert.deepEqual(
      results.map((r) => r.count).sort((x, y) => x - y),
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const resetAt = results[0]!.resetAt;
    assert.ok(results.every((r) => r.resetAt === resetAt) && resetAt % 3600 === 0, 'windows start at multiples of their length');
    assert.equal((await a.count(key, 3600, 5)).count, 45, 'by');
    assert.equal((await b.count(key, 3600, 0)).count, 45, 'by 0 reads');
    if (backend.advance(3600)) {
      try {
        assert.deepEqual(await b.count(key, 3600), { count: 1, resetAt: resetAt + 3600 });
      } finally {
        backend.advance(-3600);
      }
    }
    assert.equal((await a.count(`${key}-other`, 60)).count, 1, 'keys are separate');
  });

  await t.test('publish and subscribe: a notice reaches every subscriber on either instance, once, by channel', async () => {
    const got: string[] = [];
    const gotA: string[] = [];
    const offB = await b.subscribe(`chan-${run}`, (m) => got.push(`b:${m}`));
    const offA = await a.subscribe(`chan-${run}`, (m) => gotA.push(`a:${m}`));
    const offOther = await b.subscribe(`other-chan-${run}`, (m) => got.push(`other:${m}`));
    await a.publish(`chan-${run}`, 'keys rotated');
    await eventually(() => got.length === 1 && gotA.length === 1, 'delivery to both instances');
    assert.deepEqual(got, ['b:keys rotated']);
    assert.deepEqual(gotA, ['a:keys rotated']);
    offB();
    await b.publish(`chan-${run}`, 'second');
    await eventually(() => gotA.length === 2, 'the remaining subscriber');
    await sleep(300);
    assert.deepEqual(got, ['b:keys rotated'], 'unsubscribed');
    offA();
    offOther();
  });

  await t.test('bounds: keys, windows and messages are checked', async () => {
    await assert.rejects(a.remember('x'.repeat(600), 'id', t0 + 60), RangeError);
    await assert.rejects(a.count('k', 0), RangeError);
    await assert.rejects(a.remember('ns', 'id', t0 + 10 * 366 * 86400), RangeError);
    await assert.rejects(a.publish('c', 'x'.repeat(5000)), RangeError);
    await a.ping();
  });
}

test('embedded shared state (SQLite file shared by processes) passes the contract', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-shared-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let clock = Math.floor(Date.now() / 1000);
  await runContract(t, {
    open: async () => createEmbeddedSharedState({ path: join(dir, 'shared-state.db'), busyTimeoutMs: 5000, pollMs: 50, now: () => clock }),
    now: () => clock,
    advance: (s) => {
      clock += s;
      return true;
    },
  });
});

test('PostgreSQL shared state passes the contract', async (t) => {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    await admin.end().catch(() => undefined);
    if (process.env['CI'] === 'true') assert.fail(`PostgreSQL not reachable at ${PG_URL} (required when CI=true): ${String(err)}`);
    t.skip(`PostgreSQL not reachable at ${PG_URL}`);
    return;
  }
  const schema = `opendcr_shared_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  t.after(async () => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });
  let clock = Math.floor(Date.now() / 1000);
  await runContract(t, {
    open: () => createPostgresSharedState({ url: PG_URL, poolSize: 3, schema, now: () => clock }),
    now: () => clock,
    advance: (s) => {
      clock += s;
      return true;
    },
  });
});

test('Redis shared state passes the contract', async (t) => {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    probe.disconnect();
    if (process.env['CI'] === 'true') assert.fail(`Redis not reachable at ${REDIS_URL} (required when CI=true): ${String(err)}`);
    t.skip(`Redis not reachable at ${REDIS_URL}`);
    return;
  }
  const prefix = `opendcr-test-${process.pid}-${randomBytes(4).toString('hex')}:`;
  t.after(async () => {
    const keys = await probe.keys(`${prefix}*`);
    if (keys.length) await probe.del(...keys);
    probe.disconnect();
  });
  await runContract(t, {
    open: () => createRedisSharedState({ url: REDIS_URL, keyPrefix: prefix }),
    now: () => Math.floor(Date.now() / 1000),
    advance: () => false,
  });
});

test('an unreachable Redis or PostgreSQL is SharedStateUnavailableError', async () => {
  await assert.rejects(createRedisSharedState({ url: 'redis://127.0.0.1:1/0', keyPrefix: 'x:' }), SharedStateUnavailableError);
  await assert.rejects(createPostgresSharedState({ url: 'postgres://postgres@127.0.0.1:1/test', poolSize: 1 }), SharedStateUnavailableError);
});
