/**
 * Shared state in the configured PostgreSQL, for deployments without Redis: hosts that share the
 * database share this too, so a client assertion replayed to another host is still refused.
 * Its connections run with synchronous_commit off: a commit is acknowledged before it reaches the
 * disk (no wait for the WAL flush on the token path); a crash of the database server can lose
 * the last fraction of a second of these writes, never corrupt them, and the durable data (which
 * uses its own connections) keeps full synchronous commits. Notices are LISTEN/NOTIFY.
 */
import pg from 'pg';
import { SharedStateUnavailableError, checkExpiry, checkKey, checkWindow, windowStart, LIMITS, type SharedState } from './ports.ts';

export interface PostgresSharedOptions {
  url: string;
  poolSize: number;
  /** Schema for the tables (tests isolate themselves in one); default the search_path. */
  schema?: string;
  connectTimeoutMs?: number;
  now?: () => number;
}

const NOTIFY_CHANNEL = 'opendcr_notices';
// A fixed advisory lock key: creating the tables is serialised across processes and hosts.
const SCHEMA_LOCK = 7_305_221_004_118;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const SQL = {
  schema: `
    CREATE TABLE IF NOT EXISTS shared_marks (
      namespace  TEXT   NOT NULL,
      id         TEXT   NOT NULL,
      expires_at BIGINT NOT NULL,
      PRIMARY KEY (namespace, id)
    );
    CREATE INDEX IF NOT EXISTS shared_marks_expires_at ON shared_marks (expires_at);
    CREATE TABLE IF NOT EXISTS shared_counters (
      key          TEXT   NOT NULL PRIMARY KEY,
      window_start BIGINT NOT NULL,
      count        BIGINT NOT NULL,
      expires_at   BIGINT NOT NULL
    );`,
  remember: `INSERT INTO shared_marks (namespace, id, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (namespace, id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE shared_marks.expires_at <= $4
    RETURNING 1`,
  mark: `INSERT INTO shared_marks (namespace, id, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (namespace, id) DO UPDATE SET expires_at = GREATEST(shared_marks.expires_at, EXCLUDED.expires_at)`,
  has: 'SELECT 1 FROM shared_marks WHERE namespace = $1 AND id = $2 AND expires_at > $3',
  // ON CONFLICT locks the row, so a racing increment re-reads the window the first one set.
  count: `INSERT INTO shared_counters (key, window_start, count, expires_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN shared_counters.window_start = EXCLUDED.window_start THEN shared_counters.count + EXCLUDED.count ELSE EXCLUDED.count END,
      window_start = EXCLUDED.window_start, expires_at = EXCLUDED.expires_at
    RETURNING count`,
  purgeMarks: 'DELETE FROM shared_marks WHERE expires_at <= $1',
  purgeCounters: 'DELETE FROM shared_counters WHERE expires_at <= $1',
} as const;

export async function createPostgresSharedState(opts: PostgresSharedOptions): Promise<SharedState> {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) throw new TypeError(`schema must match ${SCHEMA_NAME}`);
  const options = ['-c synchronous_commit=off', ...(opts.schema === undefined ? [] : [`-c search_path=${opts.schema}`])].join(' ');
  const config = { connectionString: opts.url, connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000, options };
  const pool = new pg.Pool({ ...config, max: opts.poolSize });
  pool.on('error', () => undefined);

  const query = async <R extends pg.QueryResultRow>(name: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> => {
    try {
      return await pool.query<R>({ name, text, values });
    } catch (err) {
      throw new SharedStateUnavailableError('shared state (postgres): unavailable', { cause: err });
    }
  };

  try {
    const client = await pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK]);
      try {
        await client.query(SQL.schema);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]).catch(() => undefined);
      }
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw new SharedStateUnavailableError('shared state (postgres): cannot open', { cause: err });
  }

  // Notices: one listening connection per process, opened on the first subscription and reopened
  // when it drops (a notice sent while it is down is missed; the key manager also checks on a timer).
  const handlers = new Map<string, Set<(message: string) => void>>();
  let listener: pg.Client | undefined;
  let reconnect: NodeJS.Timeout | undefined;
  let closed = false;
  let connecting: Promise<void> | undefined;
  const listen = (): Promise<void> => {
    connecting ??= open().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };
  const open = async (): Promise<void> => {
    if (closed || listener) return;
    const client = new pg.Client(config);
    client.on('error', () => undefined);
    client.on('end', () => {
      if (listener === client) listener = undefined;
      if (!closed && handlers.size > 0)
        reconnect ??= setTimeout(() => {
          reconnect = undefined;
          void listen();
        }, 500);
    });
    client.on('notification', (n) => {
      if (n.channel !== NOTIFY_CHANNEL || !n.payload) return;
      let parsed: { channel?: unknown; message?: unknown };
      try {
        parsed = JSON.parse(n.payload) as typeof parsed;
      } catch {
        return;
      }
      if (typeof parsed.channel !== 'string' || typeof parsed.message !== 'string') return;
      for (const h of handlers.get(parsed.channel) ?? []) h(parsed.message);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      listener = client;
    } catch {
      await client.end().catch(() => undefined);
      if (!closed && handlers.size > 0)
        reconnect ??= setTimeout(() => {
          reconnect = undefined;
          void listen();
        }, 500);
    }
  };

  const sweeper = setInterval(() => {
    const t = now();
    void query('shared_purge_marks', SQL.purgeMarks, [t]).catch(() => undefined);
    void query('shared_purge_counters', SQL.purgeCounters, [t]).catch(() => undefined);
  }, 60_000);
  sweeper.unref();

  return {
    kind: 'postgres',
    async remember(namespace, id, expiresAt) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      const t = now();
      checkExpiry(expiresAt, t);
      return (await query('shared_remember', SQL.remember, [namespace, id, expiresAt, t])).rowCount === 1;
    },
    async mark(namespace, id, expiresAt) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      checkExpiry(expiresAt, now());
      await query('shared_mark', SQL.mark, [namespace, id, expiresAt]);
    },
    async has(namespace, id) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      return ((await query('shared_has', SQL.has, [namespace, id, now()])).rowCount ?? 0) > 0;
    },
    async count(key, windowSeconds, by = 1) {
      checkKey('key', key);
      checkWindow(windowSeconds, by);
      const start = windowStart(now(), windowSeconds);
      const { rows } = await query<{ count: string }>('shared_count', SQL.count, [key, start, by, start + windowSeconds]);
      return { count: Number(rows[0]!.count), resetAt: start + windowSeconds };
    },
    async publish(channel, message) {
      checkKey('channel', channel);
      if (typeof message !== 'string' || message.length > LIMITS.messageLength)
        throw new RangeError(`message must be a string of at most ${LIMITS.messageLength} characters`);
      await query('shared_publish', 'SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, JSON.stringify({ channel, message })]);
    },
    async subscribe(channel, handler) {
      checkKey('channel', channel);
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
      }
      set.add(handler);
      await listen();
      if (!listener) throw new SharedStateUnavailableError('shared state (postgres): cannot listen for notices');
      return () => {
        set!.delete(handler);
        if (set!.size === 0) handlers.delete(channel);
      };
    },
    async ping() {
      await query('shared_ping', 'SELECT 1', []);
    },
    async close() {
      closed = true;
      clearInterval(sweeper);
      if (reconnect) clearTimeout(reconnect);
      handlers.clear();
      await listener?.end().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
