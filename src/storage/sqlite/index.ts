/**
 * Embedded SQLite backend (node:sqlite). Several worker processes may open the same file: WAL
 * lets readers run beside the single writer, busy_timeout makes a blocked writer wait instead of
 * failing, and writes are group-committed: one BEGIN IMMEDIATE transaction per event-loop turn.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { wallClockSeconds } from '../oidc-fields.ts';
import type { Storage } from '../ports.ts';
import { guard, mapSqliteError } from '../../sqlite/errors.ts';
import { migrate } from './migrations.ts';
import { createSqliteAuditStore } from './audit-store.ts';
import { createSqliteOidcStore, createSqliteReplayStore } from './oidc-store.ts';
import { createSqliteKeyStore, createSqliteMetaStore, createSqliteScopeStore, createSqliteTrustAnchorStore } from './records.ts';
import { createSqliteRegistrationStore } from './registration-store.ts';
import { createSqliteGatewayStore } from './gateway-store.ts';
import { createSqliteUsageStore } from './usage-store.ts';
import { createSqliteConsentStore } from './consent-store.ts';
import { createWriteQueue } from '../../sqlite/write-queue.ts';
import { runUnitOfWork } from '../unit-of-work.ts';

export interface SqliteStorageOptions {
  /** Absolute file path, or ':memory:' for a private in-process database (tests). */
  path: string;
  /** How long a writer waits for another process's lock before failing (milliseconds). */
  busyTimeoutMs: number;
  /** Clock in epoch seconds used to hide expired records; defaults to the wall clock. */
  now?: () => number;
}

/** Opens (creating if needed) and migrates a SQLite database, returning the storage ports over it. */
export async function createSqliteStorage(opts: SqliteStorageOptions): Promise<Storage> {
  if (typeof opts.path !== 'string' || opts.path === '') throw new TypeError('sqlite path is required');
  if (!Number.isSafeInteger(opts.busyTimeoutMs) || opts.busyTimeoutMs < 0) {
    throw new RangeError(`busyTimeoutMs must be a non-negative integer, got ${opts.busyTimeoutMs}`);
  }
  const now = opts.now ?? wallClockSeconds;
  const memory = opts.path === ':memory:';

  let db: DatabaseSync;
  try {
    if (!memory) mkdirSync(dirname(opts.path), { recursive: true });
    db = new DatabaseSync(opts.path);
  } catch (err) {
    throw mapSqliteError(err, 'open');
  }
  try {
    // busy_timeout first, so the pragmas and migrations below wait for other openers' locks.
    db.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs}`);
    if (!memory) db.exec('PRAGMA journal_mode = WAL');
    // FULL: a commit is on disk before we answer (a token or replay id is never lost on power loss).
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
    // 16 MB page cache (default 2 MB): with 100,000 clients the client table's B-tree no longer
    // fits the default, and every token request looks its client up.
    db.exec('PRAGMA cache_size = -16384');
    migrate(db, wallClockSeconds());
  } catch (err) {
    db.close();
    throw mapSqliteError(err, 'open');
  }

  const ping = db.prepare('SELECT 1');
  // Every write goes through one group-commit queue per connection (write-queue.ts).
  const write = createWriteQueue(db, { busyTimeoutMs: opts.busyTimeoutMs });
  // A unit of work runs inside the queue's transaction: its stores execute at once (guard).
  const unitStores = {
    oidc: createSqliteOidcStore(db, now, guard),
    replay: createSqliteReplayStore(db, now, guard),
    registrations: createSqliteRegistrationStore(db, guard),
    audit: createSqliteAuditStore(db, guard),
    gateway: createSqliteGatewayStore(db, guard),
    consents: createSqliteConsentStore(db, guard),
  };
  return {
    kind: 'sqlite',
    oidc: createSqliteOidcStore(db, now, write),
    replay: createSqliteReplayStore(db, now, write),
    keys: createSqliteKeyStore(db, write),
    scopes: createSqliteScopeStore(db, write),
    meta: createSqliteMetaStore(db, write),
    registrations: createSqliteRegistrationStore(db, write),
    audit: createSqliteAuditStore(db, write),
    trustAnchors: createSqliteTrustAnchorStore(db, write),
    gateway: createSqliteGatewayStore(db, write),
    usage: createSqliteUsageStore(db, write),
    consents: createSqliteConsentStore(db, write),
    transaction: (op, work) => runUnitOfWork(unitStores, work, (scoped, close) => write.transaction(op, scoped, close)),
    ping: () =>
      guard('ping', () => {
        ping.get();
      }),
    close: () =>
      guard('close', () => {
        if (db.isOpen) db.close();
      }),
  };
}
