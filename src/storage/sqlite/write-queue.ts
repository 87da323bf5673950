/**
 * Group commit for one SQLite connection. Writes requested during one turn of the event loop run
 * together in a single BEGIN IMMEDIATE … COMMIT, each inside its own SAVEPOINT so that one
 * failing write (a conflict, say) is undone alone and fails alone. Every promise settles only
 * after the COMMIT (synchronous = FULL: on disk), so nothing is acknowledged before it is durable;
 * the fsync and the file's write lock are simply paid once per batch instead of once per write,
 * which is what lets several worker processes share one file under load.
 *
 * Waiting for another process's write lock must not block the event loop: SQLite's own busy
 * handler sleeps inside the call (1, 2, 5, 10… ms), freezing every request of this worker. So the
 * batch tries BEGIN IMMEDIATE without a busy timeout and, when the file is locked, retries on a
 * timer, while new writes keep joining the batch, until `busyTimeoutMs` has passed.
 */
import type { DatabaseSync } from 'node:sqlite';
import { mapSqliteError } from './errors.ts';
import { StorageUnavailableError } from '../ports.ts';

const SQLITE_BUSY = 5;
const isBusy = (err: unknown) => ((err as { errcode?: number } | null)?.errcode ?? 0) % 256 === SQLITE_BUSY;

/** Runs `fn` (synchronous statements) in the next group commit; same contract as guard(). */
export type Write = <T>(op: string, fn: () => T) => Promise<T>;

interface Job {
  op: string;
  fn: () => unknown;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export function createWriteQueue(db: DatabaseSync, opts: { busyTimeoutMs: number }): Write {
  let pending: Job[] = [];
  let scheduled = false;
  let waitingSince: number | undefined;

  /** BEGIN IMMEDIATE without blocking: false when another process holds the write lock. */
  const tryBegin = (): boolean => {
    db.exec('PRAGMA busy_timeout = 0');
    try {
      db.exec('BEGIN IMMEDIATE');
      return true;
    } catch (err) {
      if (isBusy(err)) return false;
      throw err;
    } finally {
      db.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs}`);
    }
  };

  const schedule = (delayMs: number): void => {
    if (scheduled) return;
    scheduled = true;
    const run = () => { scheduled = false; flush(); };
    if (delayMs === 0) setImmediate(run);
    else setTimeout(run, delayMs);
  };

  const flush = (): void => {
    if (pending.length === 0) return;
    let begun: boolean;
    try {
      begun = tryBegin();
    } catch (err) {
      const mapped = mapSqliteError(err, 'begin');
      const failed = pending;
      pending = [];
      waitingSince = undefined;
      for (const job of failed) job.reject(mapped);
      return;
    }
    if (!begun) {
      const now = Date.now();
      waitingSince ??= now;
      if (now - waitingSince < opts.busyTimeoutMs) {
        schedule(1);
        return;
      }
      const failed = pending;
      pending = [];
      waitingSince = undefined;
      const err = new StorageUnavailableError('storage: write: database is locked by another process');
      for (const job of failed) job.reject(err);
      return;
    }
    waitingSince = undefined;
    const batch = pending;
    pending = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: Error }> = [];
    for (const job of batch) {
      db.exec('SAVEPOINT write');
      try {
        const value = job.fn();
        db.exec('RELEASE write');
        outcomes.push({ ok: true, value });
      } catch (err) {
        db.exec('ROLLBACK TO write');
        db.exec('RELEASE write');
        outcomes.push({ ok: false, err: mapSqliteError(err, job.op) });
      }
    }
    try {
      db.exec('COMMIT');
    } catch (err) {
      try {
        if (db.isTransaction) db.exec('ROLLBACK');
      } catch {
        // the connection is unusable; the mapped error below says so
      }
      const mapped = mapSqliteError(err, 'commit');
      for (const job of batch) job.reject(mapped);
      return;
    }
    batch.forEach((job, i) => {
      const o = outcomes[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.err);
    });
  };

  return <T>(op: string, fn: () => T) => new Promise<T>((resolve, reject) => {
    pending.push({ op, fn, resolve: resolve as (v: unknown) => void, reject });
    schedule(0);
  });
}
