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
 *
 * A unit of work (`transaction`) joins the batch like any write, in its own savepoint, but is an
 * async function over the transaction's stores. Those stores run their statements at once, so
 * the function settles within the same turn of the event loop; one that waits for anything else
 * (a network call, a write outside the unit) is cut off at the first I/O wait: its savepoint is
 * rolled back and it fails, so no other request ever reads its uncommitted rows.
 */
import type { DatabaseSync } from 'node:sqlite';
import { mapSqliteError } from './errors.ts';
import { StorageUnavailableError, UnitOfWorkError } from '../errors/backends.ts';

const SQLITE_BUSY = 5;
const isBusy = (err: unknown) => ((err as { errcode?: number } | null)?.errcode ?? 0) % 256 === SQLITE_BUSY;

/** Runs `fn` (synchronous statements) in the next group commit; same contract as guard(). */
export type Write = <T>(op: string, fn: () => T) => Promise<T>;

/**
 * Runs `work` in the next group commit, in a savepoint of its own: all its statements commit
 * together or none does. Errors thrown by `work` reach the caller as they are. `abandon` is
 * called when the work is cut off for waiting on I/O (it must stop it from writing further).
 */
export type Transact = <T>(op: string, work: () => Promise<T>, abandon?: () => void) => Promise<T>;

export interface WriteQueue extends Write {
  readonly transaction: Transact;
}

interface Job {
  op: string;
  fn: () => unknown;
  /** A unit of work: fn returns a promise that must settle without waiting for I/O. */
  unit: boolean;
  abandon?: (() => void) | undefined;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * Settles with `p`, or fails as soon as the event loop gets to its check phase (setImmediate)
 * before `p` has settled: only promises that settle through microtasks alone pass.
 */
function withoutIo<T>(p: Promise<T>, op: string, abandon: (() => void) | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cutOff = setImmediate(() => {
      abandon?.();
      reject(new UnitOfWorkError(`storage: ${op}: a unit of work waited for I/O inside its transaction`));
    });
    p.then(
      (v) => {
        clearImmediate(cutOff);
        resolve(v);
      },
      (err: unknown) => {
        clearImmediate(cutOff);
        reject(err as Error);
      },
    );
  });
}

export function createWriteQueue(db: DatabaseSync, opts: { busyTimeoutMs: number }): WriteQueue {
  let pending: Job[] = [];
  let scheduled = false;
  let flushing = false;
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
    const run = () => {
      scheduled = false;
      void flush();
    };
    if (delayMs === 0) setImmediate(run);
    else setTimeout(run, delayMs);
  };

  const flush = async (): Promise<void> => {
    // A unit of work in progress holds the transaction; its batch reschedules when it ends.
    if (flushing || pending.length === 0) return;
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
    flushing = true;
    try {
      for (const job of batch) {
        db.exec('SAVEPOINT write');
        try {
          // Synchronous writes never yield here; a unit of work yields to microtasks only.
          const value = job.unit ? await withoutIo(job.fn() as Promise<unknown>, job.op, job.abandon) : job.fn();
          db.exec('RELEASE write');
          outcomes.push({ ok: true, value });
        } catch (err) {
          db.exec('ROLLBACK TO write');
          db.exec('RELEASE write');
          // A unit of work's own errors (domain errors, already-mapped storage errors) pass as they are.
          outcomes.push({ ok: false, err: job.unit ? (err as Error) : mapSqliteError(err, job.op) });
        }
      }
    } finally {
      flushing = false;
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
      if (pending.length > 0) schedule(0);
      return;
    }
    batch.forEach((job, i) => {
      const o = outcomes[i]!;
      if (o.ok) job.resolve(o.value);
      else job.reject(o.err);
    });
    // Writes that arrived while a unit of work ran wait for the next batch.
    if (pending.length > 0) schedule(0);
  };

  const enqueue = (op: string, fn: () => unknown, unit: boolean, abandon?: () => void) =>
    new Promise<unknown>((resolve, reject) => {
      pending.push({ op, fn, unit, abandon, resolve, reject });
      schedule(0);
    });
  const write = <T>(op: string, fn: () => T) => enqueue(op, fn, false) as Promise<T>;
  const transaction = <T>(op: string, work: () => Promise<T>, abandon?: () => void) => enqueue(op, work, true, abandon) as Promise<T>;
  return Object.assign(write, { transaction });
}
