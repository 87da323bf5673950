/**
 * Storage entry point: picks the backend from the database URL. Domain code imports the port
 * types from here (or ports.ts) and never from a backend folder.
 */
import type { Storage } from './ports.ts';

export type {
  AuditEvent,
  AuditEventType,
  AuditStore,
  KeyStore,
  MetaStore,
  OidcModelStore,
  OidcRecord,
  RegistrationRecord,
  RegistrationStore,
  ReplayStore,
  ScopeRecord,
  ScopeStore,
  SigningKeyRecord,
  Storage,
} from './ports.ts';
export { ConflictError, StorageUnavailableError } from './ports.ts';
export { AUDIT_EVENT_TYPES, AUDIT_LIST_MAX } from './audit-query.ts';
// Start-up and `config check` describe a backend's open failure in one line.
export { describePostgresFailure, postgresTarget } from './postgres/errors.ts';
export { describeSqliteFailure } from '../sqlite/errors.ts';

export interface OpenStorageOptions {
  /** `sqlite:/abs/path`, `sqlite::memory:`, `postgres://…` or `postgresql://…`. */
  url: string;
  /** PostgreSQL pool size per worker. */
  poolSize: number;
  /** SQLite busy timeout (milliseconds). */
  busyTimeoutMs: number;
  /** PostgreSQL schema (tests isolate themselves in one). */
  schema?: string;
  /** Clock in epoch seconds for expiry checks; defaults to the wall clock. */
  now?: () => number;
}

/** Opens and migrates the storage named by `url`. */
export async function openStorage(opts: OpenStorageOptions): Promise<Storage> {
  const { url } = opts;
  const clock = opts.now === undefined ? {} : { now: opts.now };
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path !== ':memory:' && !path.startsWith('/')) {
      throw new TypeError(`sqlite URL needs an absolute path or :memory:, got "${url}"`);
    }
    // Each backend (and its driver) is loaded only when configured.
    const { createSqliteStorage } = await import('./sqlite/index.ts');
    return createSqliteStorage({ path, busyTimeoutMs: opts.busyTimeoutMs, ...clock });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { createPostgresStorage } = await import('./postgres/index.ts');
    return createPostgresStorage({
      url,
      poolSize: opts.poolSize,
      ...clock,
      ...(opts.schema === undefined ? {} : { schema: opts.schema }),
    });
  }
  // Never echo the URL: it may carry a password.
  throw new TypeError('database URL must start with sqlite: , postgres:// or postgresql://');
}
