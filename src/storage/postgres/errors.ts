/**
 * Turns pg errors into the domain errors of ports.ts, so no driver error leaves the backend.
 * The original error stays as `cause` for logs.
 */
import { DatabaseError } from 'pg';
import type { Pool, QueryConfig, QueryResult, QueryResultRow } from 'pg';
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
