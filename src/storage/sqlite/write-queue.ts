/**
 * Group commit for one SQLite connection. Writes requested during one turn of the event loop run
 * together in a single BEGIN IMMEDIATE … COMMIT, each inside its own SAVEPOINT so that one
 * failing write (a conflict, say) is undone alone and fails alone. Every promise settles only
 * after the COMMIT (synchronous = FULL: on disk), so nothing is acknowledged before it is durable;
 * the fsync and the file's write lock are simply paid once per batch instead of once per write,
 * which is what lets several worker processes share one file under load.
 */
import type { DatabaseSync } from 'node:sqlite';
import { mapSqliteError } from './errors.ts';

/** Runs `fn` (synchronous statements) in the next group commit; same contract as guard(). */
export type Write = <T>(op: string, fn: () => T) => Promise<T>;

interface Job {
  op: string;
  fn: () => unknown;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

export function createWriteQueue(db: DatabaseSync): Write {
  let pending: Job[] = [];

  const flush = (): void => {
    const batch = pending;
    pending = [];
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      const mapped = mapSqliteError(err, 'begin');
      for (const job of batch) job.reject(mapped);
      return;
    }
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
    if (pending.length === 1) setImmediate(flush);
  });
}
