/**
 * PostgreSQL backend over a pg Pool. Migrations run once at open under an advisory lock, so
 * several workers can start together; afterwards every operation is a single statement, except
 * an exclusive registration create (a short transaction, see registration-store.ts) and units of
 * work (Storage.transaction: one pooled connection, BEGIN … COMMIT, row locks where they lock).
 */
import { Pool } from 'pg';
import { wallClockSeconds } from '../oidc-fields.ts';
import type { Storage } from '../ports.ts';
import { createPostgresAuditStore } from './audit-store.ts';
import { createRunner, createTransactor, inTransaction, mapPgError, transactionRunners } from './errors.ts';
import { runUnitOfWork } from '../unit-of-work.ts';
import { migrate } from './migrations.ts';
import { createPostgresOidcStore, createPostgresReplayStore } from './oidc-store.ts';
import { createPostgresKeyStore, createPostgresMetaStore, createPostgresScopeStore, createPostgresTrustAnchorStore } from './records.ts';
import { createPostgresRegistrationStore } from './registration-store.ts';
import { createPostgresGatewayStore } from './gateway-store.ts';
import { createPostgresUsageStore } from './usage-store.ts';
import { createPostgresConsentStore } from './consent-store.ts';

export interface PostgresStorageOptions {
  /** postgres:// or postgresql:// connection URL. */
  url: string;
  /** Connections per worker. */
  poolSize: number;
  /** Schema to keep the tables in (created if missing); default is the server's search_path. */
  schema?: string;
  /** How long to wait for a connection (new or from a full pool) before failing (milliseconds). */
  connectTimeoutMs?: number;
  /** Clock in epoch seconds used to hide expired records; defaults to the wall clock. */
  now?: () => number;
}

// Lower-case unquoted identifiers only: the name travels in the startup `options` string, where
// quoting rules differ from SQL, so anything fancier is refused up front.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Connects, migrates and returns the storage ports over PostgreSQL. */
export async function createPostgresStorage(opts: PostgresStorageOptions): Promise<Storage> {
  if (!/^postgres(ql)?:\/\//.test(opts.url)) throw new TypeError('postgres url must start with postgres:// or postgresql://');
  if (!Number.isSafeInteger(opts.poolSize) || opts.poolSize < 1) {
    throw new RangeError(`poolSize must be a positive integer, got ${opts.poolSize}`);
  }
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) {
    throw new TypeError(`schema must match ${SCHEMA_NAME}, got "${opts.schema}"`);
  }
  const now = opts.now ?? wallClockSeconds;

  const pool = new Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
    ...(opts.schema === undefined ? {} : { options: `-c search_path=${opts.schema}` }),
  });
  // An idle connection dropped by the server emits here; without a listener the process would
  // crash. The next query on the pool reports the outage as StorageUnavailableError instead.
  pool.on('error', () => undefined);

  try {
    const client = await pool.connect();
    // Destroy rather than return the migration connection: if unlocking failed, the session
    // advisory lock goes away with it instead of lingering in the pool.
    try {
      await migrate(client, opts.schema, wallClockSeconds());
    } finally {
      client.release(true);
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw mapPgError(err, 'open');
  }

  const run = createRunner(pool);
  let closed: Promise<void> | undefined;
  return {
    kind: 'postgres',
    oidc: createPostgresOidcStore(run, now),
    replay: createPostgresReplayStore(run, now),
    keys: createPostgresKeyStore(run),
    scopes: createPostgresScopeStore(run),
    meta: createPostgresMetaStore(run),
    registrations: createPostgresRegistrationStore(run, createTransactor(pool)),
    audit: createPostgresAuditStore(run),
    trustAnchors: createPostgresTrustAnchorStore(run),
    gateway: createPostgresGatewayStore(run),
    usage: createPostgresUsageStore(run),
    consents: createPostgresConsentStore(run),
    transaction: (op, work) =>
      inTransaction(
        pool,
        op,
        (client) => {
          const { run: txRun, transact } = transactionRunners(client);
          return runUnitOfWork(
            {
              oidc: createPostgresOidcStore(txRun, now),
              replay: createPostgresReplayStore(txRun, now),
              registrations: createPostgresRegistrationStore(txRun, transact),
              audit: createPostgresAuditStore(txRun),
              gateway: createPostgresGatewayStore(txRun),
              consents: createPostgresConsentStore(txRun),
            },
            work,
            (scoped) => scoped(),
          );
        },
        { mapErrors: false },
      ),
    async ping() {
      await run('ping', { text: 'SELECT 1' });
    },
    close() {
      closed ??= pool.end().catch((err: unknown) => {
        throw mapPgError(err, 'close');
      });
      return closed;
    },
  };
}
