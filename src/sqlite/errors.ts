/**
 * Turns node:sqlite errors into the domain errors of ports.ts, so no driver error leaves the
 * backend. The original error stays as `cause` for logs.
 */
import { ConflictError, StorageUnavailableError } from '../errors/backends.ts';

// Primary result codes (https://sqlite.org/rescode.html); node:sqlite reports the extended
// code in `errcode`, whose low byte is the primary code.
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_NOMEM = 7;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_PROTOCOL = 15;
const SQLITE_CONSTRAINT = 19;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

const UNAVAILABLE = new Set([SQLITE_BUSY, SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_PROTOCOL]);

/** Maps a thrown value to ConflictError, StorageUnavailableError or a plain Error. */
export function mapSqliteError(err: unknown, op: string): Error {
  if (err instanceof ConflictError || err instanceof StorageUnavailableError) return err;
  const errcode = (err as { errcode?: unknown } | null)?.errcode;
  if (typeof errcode === 'number') {
    if (errcode === SQLITE_CONSTRAINT_PRIMARYKEY || errcode === SQLITE_CONSTRAINT_UNIQUE) {
      return new ConflictError(`storage: ${op}: already exists`, { cause: err });
    }
    if (UNAVAILABLE.has(errcode & 0xff)) {
      return new StorageUnavailableError(`storage: ${op}: database unavailable`, { cause: err });
    }
    if ((errcode & 0xff) === SQLITE_CONSTRAINT) {
      return new Error(`storage: ${op}: constraint violated`, { cause: err });
    }
  }
  return new Error(`storage: ${op} failed`, { cause: err });
}

/**
 * Runs a synchronous database call and maps its errors. Async so callers see a rejected promise,
 * as the ports promise, instead of a synchronous throw.
 */
export async function guard<T>(op: string, fn: () => T): Promise<T> {
  try {
    return fn();
  } catch (err) {
    throw mapSqliteError(err, op);
  }
}

// Result code names (https://sqlite.org/rescode.html) for messages.
const RESULT_NAMES: Readonly<Record<number, string>> = {
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  7: 'SQLITE_NOMEM',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  15: 'SQLITE_PROTOCOL',
  23: 'SQLITE_AUTH',
  26: 'SQLITE_NOTADB',
};
// Not a passing state: the file or its folder is wrong (not a database, corrupt, read-only, not openable).
const CONFIGURATION_CODES = new Set([8, 11, 14, 23, 26]);

/** Why the SQLite database at `path` could not be opened or used, for a one-line message; `configuration` as for PostgreSQL. */
export function describeSqliteFailure(err: unknown, path: string): { target: string; reason: string; configuration: boolean } {
  let e = err;
  while (
    e instanceof Error &&
    (e instanceof ConflictError || e instanceof StorageUnavailableError || e.message.startsWith('storage: ')) &&
    e.cause !== undefined
  ) {
    e = e.cause;
  }
  const d = e as { errcode?: unknown; errstr?: unknown; code?: string; message?: string } | undefined;
  const target = `SQLite database ${path}`;
  if (typeof d?.errcode === 'number') {
    const primary = d.errcode & 0xff;
    const text = typeof d.errstr === 'string' ? d.errstr : String(d.message);
    const name = RESULT_NAMES[primary];
    return { target, reason: name ? `${text} (${name})` : text, configuration: CONFIGURATION_CODES.has(primary) };
  }
  const code = d?.code;
  return { target, reason: `${d?.message ?? 'unknown error'}`, configuration: code === 'EACCES' || code === 'ENOTDIR' || code === 'EROFS' };
}
