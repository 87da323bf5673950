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

/** The query functions of one open transaction: errors mapped per statement, nested transactions joined. */
export function transactionRunners(client: PoolClient): { run: Run; transact: Transact } {
  const query = async <R extends QueryResultRow>(op: string, q: QueryConfig) => {
    try {
      return await client.query<R>(q);
    } catch (err) {
      throw mapPgError(err, op);
    }
  };
  return {
    run: query,
    transact: (op, fn) => fn((q) => query(op, q)),
  };
}

/**
 * Runs `fn` inside BEGIN ... COMMIT on one pooled connection and rolls back when it throws.
 * BEGIN, COMMIT and connection failures become domain errors; with `mapErrors`, so do `fn`'s,
 * else they reach the caller as they are (a unit of work's stores map their own).
 */
export async function inTransaction<T>(pool: Pool, op: string, fn: (client: PoolClient) => Promise<T>, opts: { mapErrors: boolean }): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw mapPgError(err, op);
  }
  // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than pool it.
  let broken = false;
  try {
    await client.query('BEGIN').catch((err: unknown) => {
      throw mapPgError(err, op);
    });
    const result = await fn(client);
    await client.query('COMMIT').catch((err: unknown) => {
      throw mapPgError(err, op);
    });
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw opts.mapErrors ? mapPgError(err, op) : err;
  } finally {
    client.release(broken);
  }
}

/** For the rare writes one statement cannot make atomic (they need a lock held across statements). */
export function createTransactor(pool: Pool): Transact {
  return <T>(op: string, fn: (query: TxQuery) => Promise<T>) =>
    inTransaction(pool, op, (client) => fn(<R extends QueryResultRow>(query: QueryConfig) => client.query<R>(query)), { mapErrors: true });
}

/** Why a connection to the database could not be used, for a one-line start-up or `config check` message. */
export interface ConnectionFailure {
  /** What was tried, without the password: `PostgreSQL database at db:5432 (database "x", user "y")`. */
  readonly target: string;
  /** The server's message with its SQLSTATE, or the network error with its code. */
  readonly reason: string;
  /** True when the configuration is wrong (no such database, user, host; bad password; no privilege), not the database down. */
  readonly configuration: boolean;
}

// Condition names (PostgreSQL documentation, appendix A) of the SQLSTATEs a connection or the
// migrations run at start can meet.
const SQLSTATE_NAMES: Readonly<Record<string, string>> = {
  '08000': 'connection_exception',
  '08001': 'sqlclient_unable_to_establish_sqlconnection',
  '08004': 'sqlserver_rejected_establishment_of_sqlconnection',
  '08006': 'connection_failure',
  '08P01': 'protocol_violation',
  '0A000': 'feature_not_supported',
  '25006': 'read_only_sql_transaction',
  '28000': 'invalid_authorization_specification',
  '28P01': 'invalid_password',
  '3D000': 'invalid_catalog_name',
  '3F000': 'invalid_schema_name',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42501': 'insufficient_privilege',
  '42P01': 'undefined_table',
  '53000': 'insufficient_resources',
  '53100': 'disk_full',
  '53200': 'out_of_memory',
  '53300': 'too_many_connections',
  '55P03': 'lock_not_available',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
  '58000': 'system_error',
  '58030': 'io_error',
};
const SQLSTATE_CLASS_NAMES: Readonly<Record<string, string>> = {
  '08': 'connection_exception',
  '28': 'invalid_authorization_specification',
  '3D': 'invalid_catalog_name',
  '3F': 'invalid_schema_name',
  '42': 'syntax_error_or_access_rule_violation',
  '53': 'insufficient_resources',
  '57': 'operator_intervention',
  '58': 'system_error',
};
// Classes that mean the configuration names something that is not there or not allowed
// (database, user, password, schema, privileges), or a read-only standby.
const CONFIGURATION_CLASSES = new Set(['28', '3D', '3F', '42']);
// Network errors that a retry will not fix: the host name does not resolve.
const CONFIGURATION_NETWORK_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);
const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

/** `PostgreSQL database at host:port (database "d", user "u")` for a connection URL; never the password. */
export function postgresTarget(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'PostgreSQL database (the URL cannot be parsed)';
  }
  const host = u.searchParams.get('host') ?? (decodeURIComponent(u.hostname) || 'localhost');
  const port = u.port || '5432';
  const user = decodeURIComponent(u.username) || process.env['PGUSER'] || process.env['USER'] || '(default user)';
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || user;
  const where = host.startsWith('/') ? `${host} (socket, port ${port})` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return `PostgreSQL database at ${where} (database "${database}", user "${user}")`;
}

/** Describes a failure to open or use the PostgreSQL database at `url` (a pg or network error, or one wrapped by {@link mapPgError}). */
export function describePostgresFailure(err: unknown, url: string): ConnectionFailure {
  const target = postgresTarget(url);
  const e = unwrapStorageError(err) as (Error & { code?: string; errors?: unknown[] }) | undefined;
  if (e instanceof DatabaseError) {
    const code = e.code ?? '';
    const name = SQLSTATE_NAMES[code] ?? SQLSTATE_CLASS_NAMES[code.slice(0, 2)];
    const configuration = CONFIGURATION_CLASSES.has(code.slice(0, 2)) || code === '25006';
    return { target, reason: `${e.message}${code ? ` (SQLSTATE ${code}${name ? ` ${name}` : ''})` : ''}`, configuration };
  }
  // Several addresses tried (localhost as ::1 and 127.0.0.1): report the first.
  const inner = (e?.errors?.[0] as typeof e) ?? e;
  const code = inner?.code;
  if (code && NETWORK_REASONS[code]) {
    return { target, reason: `${NETWORK_REASONS[code]} (${code})`, configuration: CONFIGURATION_NETWORK_CODES.has(code) };
  }
  const message = (inner?.message || e?.message || 'unknown error').replace(/\/\/([^:@/\s]+):[^@/\s]+@/g, '//$1:***@');
  // pg says this when the URL has no password but the server asks for one.
  const configuration = /password must be a string|password authentication|does not support SSL|SSL/i.test(message);
  return { target, reason: code ? `${message} (${code})` : message, configuration };
}

/** The driver's error inside our own domain errors (`storage: …`, whose `cause` it is). */
export function unwrapStorageError(err: unknown): unknown {
  let e = err;
  while (
    e instanceof Error &&
    (e instanceof ConflictError || e instanceof StorageUnavailableError || e.message.startsWith('storage: ')) &&
    e.cause !== undefined
  ) {
    e = e.cause;
  }
  return e;
}
