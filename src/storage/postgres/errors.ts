/**
 * Turns pg errors into the domain errors of ports.ts, so no driver error leaves the backend.
 * The original error stays as `cause` for logs.
 */
import { DatabaseError } from 'pg';
import type { Pool, PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg';
import { ConflictError, StorageUnavailableError } from '../ports.ts';

// SQLSTATE classes meaning "try again later" rather than "this request is wrong":
// 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown,
// statement timeout), 58 system error; plus serialization failure, deadlock and lock timeout.
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58']);
const UNAVAILABLE_CODES = new Set(['40001', '40P01', '55P03']);

/** Maps a thrown value to ConflictError, StorageUnavailableError or a plain Error. */
export function mapPgError(err: unknown, op: string): Error {
  if (err instanceof ConflictError || err instanceof StorageUnavailableError) return err;
  if (err instanceof DatabaseError) {
    const code = err.code ?? '';
    if (code === '23505') return new ConflictError(`storage: ${op}: already exists`, { cause: err });
    if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.has(code.slice(0, 2))) {
      return new StorageUnavailableError(`storage: ${op}: database unavailable`, { cause: err });
    }
    return new Error(`storage: ${op} failed`, { cause: err });
  }
  // Anything the server did not report (refused or reset sockets, DNS, pool connect timeouts,
  // "Connection terminated unexpectedly") means we could not talk to the database.
  return new StorageUnavailableError(`storage: ${op}: database unavailable`, { cause: err });
}

/** A pool query whose failures are already domain errors. */
export type Run = <R extends QueryResultRow>(op: string, query: QueryConfig) => Promise<QueryResult<R>>;

/** Wraps a pool so every query goes through mapPgError. */
export function createRunner(pool: Pool): Run {
  return async <R extends QueryResultRow>(op: string, query: QueryConfig) => {
    try {
      return await pool.query<R>(query);
    } catch (err) {
      throw mapPgError(err, op);
    }
  };
}

/** A query on the connection of an open transaction; errors are mapped when the transaction ends. */
export type TxQuery = <R extends QueryResultRow>(query: QueryConfig) => Promise<QueryResult<R>>;

/** Runs `fn` inside BEGIN ... COMMIT on one pooled connection; rolls back when it throws. */
export type Transact = <T>(op: string, fn: (query: TxQuery) => Promise<T>) => Promise<T>;

/** For the rare writes one statement cannot make atomic (they need a lock held across statements). */
export function createTransactor(pool: Pool): Transact {
  return async <T>(op: string, fn: (query: TxQuery) => Promise<T>) => {
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw mapPgError(err, op);
    }
    // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than pool it.
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(<R extends QueryResultRow>(query: QueryConfig) => client.query<R>(query));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => { broken = true; });
      throw mapPgError(err, op);
    } finally {
      client.release(broken);
    }
  };
}
