/**
 * The embedded shared state: one SQLite file beside the database ({data_dir}/shared-state.db)
 * that the worker processes of one host share. WAL with synchronous=NORMAL: a commit is not
 * fsync'd (the WAL is synced at checkpoints), so the token endpoint no longer waits for the disk,
 * while the file survives any process crash and cannot be corrupted by a power loss. What a power
 * loss can lose is the last commits: README "Shared state" says why that is acceptable for each
 * kind of state. Writes go through the same group-commit queue as the database (one transaction
 * per event-loop turn); change notices are a table each subscribed process polls every 200 ms.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createWriteQueue } from '../sqlite/write-queue.ts';
import { SharedStateUnavailableError, checkExpiry, checkKey, checkWindow, windowStart, LIMITS, type SharedState } from './ports.ts';
import { rowsOf } from '../sqlite/rows.ts';

export interface EmbeddedOptions {
  /** Absolute file path, or ':memory:' (one process only: tests). */
  path: string;
  /** How long a writer waits for another process's lock (milliseconds). */
  busyTimeoutMs: number;
  /** How often subscribers look for new notices (milliseconds); default 200. */
  pollMs?: number;
  now?: () => number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS marks (
    namespace  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS marks_expires_at ON marks (expires_at);
  CREATE TABLE IF NOT EXISTS counters (
    key          TEXT    NOT NULL PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS notices (
    seq     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    channel TEXT    NOT NULL,
    message TEXT    NOT NULL,
    at      INTEGER NOT NULL
  );
`;

const unavailable = (err: unknown): never => {
  if (err instanceof RangeError) throw err;
  throw new SharedStateUnavailableError('shared state (embedded): unavailable', { cause: err });
};

/** Opens (creating if needed) the embedded shared state. */
export function createEmbeddedSharedState(opts: EmbeddedOptions): SharedState {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(opts.path);
  try {
    db.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs}`);
    if (opts.path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
    // No fsync per commit; WAL keeps the file consistent whatever happens (see the header).
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('BEGIN IMMEDIATE');
    db.exec(SCHEMA);
    db.exec('COMMIT');
  } catch (err) {
    db.close();
    throw new SharedStateUnavailableError(`shared state (embedded): cannot open ${opts.path}`, { cause: err });
  }
  const write = createWriteQueue(db, { busyTimeoutMs: opts.busyTimeoutMs });

  // An unexpired row means "seen"; an expired one is taken over.
  const remember = db.prepare(`INSERT INTO marks (namespace, id, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (namespace, id) DO UPDATE SET expires_at = excluded.expires_at WHERE marks.expires_at <= ?
    RETURNING 1`);
  const mark = db.prepare(`INSERT INTO marks (namespace, id, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (namespace, id) DO UPDATE SET expires_at = max(marks.expires_at, excluded.expires_at)`);
  const has = db.prepare('SELECT 1 FROM marks WHERE namespace = ? AND id = ? AND expires_at > ?');
  const count = db.prepare(`INSERT INTO counters (key, window_start, count, expires_at) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (key) DO UPDATE SET
      count = CASE WHEN counters.window_start = ?2 THEN counters.count + ?3 ELSE ?3 END,
      window_start = ?2, expires_at = ?4
    RETURNING count`);
  const publish = db.prepare('INSERT INTO notices (channel, message, at) VALUES (?, ?, ?)');
  const latest = db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM notices');
  const since = rowsOf<{ seq: number; channel: string; message: string }>(
    db.prepare('SELECT seq, channel, message FROM notices WHERE seq > ? ORDER BY seq LIMIT 1000'),
  );
  const purge = [
    db.prepare('DELETE FROM marks WHERE expires_at <= ?'),
    db.prepare('DELETE FROM counters WHERE expires_at <= ?'),
    db.prepare('DELETE FROM notices WHERE at <= ?'),
  ];

  // Whatever stops a write (a lock held too long, a disk error) means the state is not usable now.
  const run = async <T>(op: string, fn: () => T): Promise<T> => {
    try {
      return await write(op, fn);
    } catch (err) {
      return unavailable(err);
    }
  };
  const read = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err instanceof RangeError ? err : new SharedStateUnavailableError('shared state (embedded): unavailable', { cause: err }));
    }
  };

  // Notices: every subscribed process polls the table; a notice is seen within pollMs by all.
  const handlers = new Map<string, Set<(message: string) => void>>();
  let lastSeq = Number((latest.get() as { seq: number }).seq);
  let poller: NodeJS.Timeout | undefined;
  const poll = () => {
    let rows: Array<{ seq: number; channel: string; message: string }>;
    try {
      rows = since.all(lastSeq);
    } catch {
      return; // locked or gone for a moment: the next poll catches up
    }
    for (const r of rows) {
      lastSeq = Number(r.seq);
      for (const h of handlers.get(r.channel) ?? []) h(r.message);
    }
  };
  const sweeper = setInterval(() => {
    // Expired marks and counters, and notices everyone has had time to read.
    const t = now();
    void run('shared.sweep', () => {
      purge[0]!.run(t);
      purge[1]!.run(t);
      purge[2]!.run(t - 600);
    }).catch(() => undefined);
  }, 60_000);
  sweeper.unref();

  return {
    kind: 'embedded',
    async remember(namespace, id, expiresAt) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      const t = now();
      checkExpiry(expiresAt, t);
      return run('shared.remember', () => remember.get(namespace, id, expiresAt, t) !== undefined);
    },
    async mark(namespace, id, expiresAt) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      checkExpiry(expiresAt, now());
      await run('shared.mark', () => {
        mark.run(namespace, id, expiresAt);
      });
    },
    async has(namespace, id) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      return read(() => has.get(namespace, id, now()) !== undefined);
    },
    async count(key, windowSeconds, by = 1) {
      checkKey('key', key);
      checkWindow(windowSeconds, by);
      const start = windowStart(now(), windowSeconds);
      return run('shared.count', () => {
        const row = count.get(key, start, by, start + windowSeconds) as { count: number };
        return { count: Number(row.count), resetAt: start + windowSeconds };
      });
    },
    async publish(channel, message) {
      checkKey('channel', channel);
      if (typeof message !== 'string' || message.length > LIMITS.messageLength)
        throw new RangeError(`message must be a string of at most ${LIMITS.messageLength} characters`);
      await run('shared.publish', () => {
        publish.run(channel, message, now());
      });
    },
    async subscribe(channel, handler) {
      checkKey('channel', channel);
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
      }
      set.add(handler);
      if (!poller) {
        poller = setInterval(poll, opts.pollMs ?? 200);
        poller.unref();
      }
      return () => {
        set!.delete(handler);
        if (set!.size === 0) handlers.delete(channel);
        if (handlers.size === 0 && poller) {
          clearInterval(poller);
          poller = undefined;
        }
      };
    },
    ping: () =>
      read(() => {
        latest.get();
      }),
    async close() {
      clearInterval(sweeper);
      if (poller) clearInterval(poller);
      handlers.clear();
      if (db.isOpen) db.close();
    },
  };
}
