/**
 * Shared state in Redis ([redis] url): every host and worker shares it. One-time ids are
 * `SET … NX EXAT`, marks and windowed counters are small Lua scripts (atomic), notices are
 * pub/sub on a subscriber connection of their own. Lifetimes are sent as durations computed on
 * this host (PX), so a clock difference between a host and Redis does not move them. Commands fail at once while Redis is down
 * (no offline queue, one retry): the request that needed the state gets a 503, never a silent
 * pass, and the client reconnects by itself when Redis is back.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { SharedStateUnavailableError, checkExpiry, checkKey, checkWindow, windowStart, LIMITS, type SharedState } from './ports.ts';

export interface RedisSharedOptions {
  url: string;
  /** Prefix of every key and of the notice channel, so several deployments can share one Redis. */
  keyPrefix: string;
  /** Per-command timeout (milliseconds). */
  commandTimeoutMs?: number;
  now?: () => number;
}

// Sets a mark, or moves its expiry later (never earlier).
const MARK = `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 1 end
redis.call('PEXPIRE', KEYS[1], ARGV[1], 'GT')
return 0`;
// Adds to the counter of one window; the key expires with its window.
const COUNT = `
local c = redis.call('INCRBY', KEYS[1], ARGV[1])
if c == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return c`;

export async function createRedisSharedState(opts: RedisSharedOptions): Promise<SharedState> {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const base: RedisOptions = {
    // Fail fast while disconnected instead of queueing requests behind the outage.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    commandTimeout: opts.commandTimeoutMs ?? 2000,
    // Reconnect for ever, at most every 2 s.
    retryStrategy: (times) => Math.min(100 * times, 2000),
    lazyConnect: true,
  };
  const client = new Redis(opts.url, base);
  // Errors surface through the commands that fail; the last one explains a failed first connect.
  let lastError: Error | undefined;
  client.on('error', (err: Error) => {
    lastError = err;
  });
  const key = (...parts: string[]) => `${opts.keyPrefix}${parts.join(':')}`;
  const channelName = key('notices');

  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new SharedStateUnavailableError('shared state (redis): unavailable', { cause: err });
    }
  };
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    // The host and the driver's reason, never the URL (it may carry a password).
    const where = (() => {
      try {
        return new URL(opts.url).host;
      } catch {
        return 'the configured address';
      }
    })();
    throw new SharedStateUnavailableError(
      `cannot connect to Redis at ${where} (${(lastError ?? (err as Error)).message}); check [redis] url (or OPENDCR_REDIS_URL)`,
      { cause: err },
    );
  }

  // Notices: a subscriber connection, opened on the first subscription; ioredis resubscribes
  // after a reconnect (a notice sent while it was down is missed).
  const handlers = new Map<string, Set<(message: string) => void>>();
  let subscriber: Redis | undefined;
  const subscribed = async (): Promise<Redis> => {
    if (subscriber) return subscriber;
    const sub = new Redis(opts.url, { ...base, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined, autoResubscribe: true });
    sub.on('error', () => undefined);
    sub.on('message', (channel: string, payload: string) => {
      if (channel !== channelName) return;
      let parsed: { channel?: unknown; message?: unknown };
      try {
        parsed = JSON.parse(payload) as typeof parsed;
      } catch {
        return;
      }
      if (typeof parsed.channel !== 'string' || typeof parsed.message !== 'string') return;
      for (const h of handlers.get(parsed.channel) ?? []) h(parsed.message);
    });
    await call(async () => {
      await sub.connect();
      await sub.subscribe(channelName);
    });
    subscriber = sub;
    return sub;
  };

  return {
    kind: 'redis',
    async remember(namespace, id, expiresAt) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      const t = now();
      checkExpiry(expiresAt, t);
      if (expiresAt <= t) return true; // already expired: nothing to remember (as the SQL stores, which take it over)
      return (await call(() => client.set(key('id', namespace, id), '1', 'PX', (expiresAt - t) * 1000, 'NX'))) === 'OK';
    },
    async mark(namespace, id, expiresAt) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      const t = now();
      checkExpiry(expiresAt, t);
      if (expiresAt <= t) return;
      await call(() => client.eval(MARK, 1, key('id', namespace, id), (expiresAt - t) * 1000));
    },
    async has(namespace, id) {
      checkKey('namespace', namespace);
      checkKey('id', id);
      return (await call(() => client.exists(key('id', namespace, id)))) === 1;
    },
    async count(name, windowSeconds, by = 1) {
      checkKey('key', name);
      checkWindow(windowSeconds, by);
      const t = now();
      const start = windowStart(t, windowSeconds);
      // Kept a second past its window, so a late increment of this window still finds it.
      const count = (await call(() => client.eval(COUNT, 1, key('count', name, String(start)), by, (start + windowSeconds - t + 1) * 1000))) as number;
      return { count: Number(count), resetAt: start + windowSeconds };
    },
    async publish(channel, message) {
      checkKey('channel', channel);
      if (typeof message !== 'string' || message.length > LIMITS.messageLength)
        throw new RangeError(`message must be a string of at most ${LIMITS.messageLength} characters`);
      await call(() => client.publish(channelName, JSON.stringify({ channel, message })));
    },
    async subscribe(channel, handler) {
      checkKey('channel', channel);
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
      }
      set.add(handler);
      await subscribed();
      return () => {
        set!.delete(handler);
        if (set!.size === 0) handlers.delete(channel);
      };
    },
    async ping() {
      await call(() => client.ping());
    },
    async close() {
      handlers.clear();
      subscriber?.disconnect();
      client.disconnect();
    },
  };
}
