/**
 * What a host creates in storage on its first start (signing keys, cookie and client-secret keys,
 * the default scopes), raced by two hosts starting together on one new database: each must find
 * the complete state as soon as its own start-up step returns, or it builds its provider from a
 * partial scope list and keeps it until the next change notice.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { initializeKeyManagerState } from '../../src/oauth/state.ts';
import { openStorage } from '../../src/storage/index.ts';
import type { Storage } from '../../src/storage/ports.ts';
import { PG_ADMIN_URL, pgAdmin } from '../helpers/postgres.ts';

/** Races two initialisations on a new database `rounds` times; `open` gives two storages on the round's database. */
async function race(open: (round: number) => Promise<[Storage, Storage]>, rounds: number): Promise<void> {
  const config = loadConfig({ env: { OPENDCR_DATA_DIR: tmpdir() } });
  const defaults = [...config.oauth.default_scopes].sort();
  for (let round = 0; round < rounds; round++) {
    const [a, b] = await open(round);
    try {
      const seen = await Promise.all(
        [a, b].map(async (storage) => {
          const state = await initializeKeyManagerState(storage, config);
          // Read at once, as the host then builds its provider from it.
          return { state, scopes: (await storage.scopes.list()).map((x) => x.name).sort() };
        }),
      );
      for (const [i, x] of seen.entries()) assert.deepEqual(x.scopes, defaults, `round ${round}, host ${i + 1}`);
      assert.equal(seen[0]!.state.cookieKey, seen[1]!.state.cookieKey, 'one cookie key for both');
      assert.deepEqual(seen[0]!.state.clientSecretKey, seen[1]!.state.clientSecretKey, 'one client secret key for both');
    } finally {
      await a.close();
      await b.close();
    }
  }
}

test('two hosts initialising one new SQLite database at once: each sees every default scope and the same keys when it returns', async () => {
  const root = mkdtempSync(join(tmpdir(), 'opendcr-state-'));
  try {
    await race(async (round) => {
      const url = `sqlite:${join(root, `round-${round}.db`)}`;
      return [await openStorage({ url, poolSize: 1, busyTimeoutMs: 5000 }), await openStorage({ url, poolSize: 1, busyTimeoutMs: 5000 })];
    }, 12);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('two hosts initialising one new PostgreSQL database at once: each sees every default scope and the same keys when it returns', async (t) => {
  const schemas: string[] = [];
  try {
    await pgAdmin('SELECT 1');
  } catch (err) {
    if (process.env['CI'] === 'true') assert.fail(`PostgreSQL not reachable at ${PG_ADMIN_URL} (required when CI=true): ${(err as Error).message}`);
    t.skip(`PostgreSQL not reachable at ${PG_ADMIN_URL}`);
    return;
  }
  try {
    const run = randomBytes(4).toString('hex');
    await race(async (round) => {
      const schema = `opendcr_state_${run}_${round}`;
      schemas.push(schema);
      const open = () => openStorage({ url: PG_ADMIN_URL, poolSize: 2, busyTimeoutMs: 5000, schema });
      return Promise.all([open(), open()]) as Promise<[Storage, Storage]>;
    }, 12);
  } finally {
    for (const schema of schemas) await pgAdmin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  }
});

test('a default scope deleted after the first start is not created again', async () => {
  const root = mkdtempSync(join(tmpdir(), 'opendcr-state-'));
  try {
    const config = loadConfig({ env: { OPENDCR_DATA_DIR: root } });
    const storage = await openStorage({ url: `sqlite:${join(root, 'db.sqlite')}`, poolSize: 1, busyTimeoutMs: 5000 });
    try {
      await initializeKeyManagerState(storage, config);
      assert.ok(await storage.scopes.delete('payments'));
      await initializeKeyManagerState(storage, config);
      assert.equal(await storage.scopes.get('payments'), undefined);
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
