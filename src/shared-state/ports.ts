/**
 * Shared state: what every worker process and every host must agree on at once, but which needs no
 * fsync per write (docs/architecture.md#shared-state): one-time identifiers (client assertion and
 * jwt-bearer `jti`s), revocation marks, fixed-window counters (the gateway's throttling), and
 * change notices (keys, scopes, trust anchors) published to every worker and host. Durable data
 * stays in the Storage ports.
 *
 * Three implementations pass one contract suite (test/shared-state/contract.test.ts):
 * - embedded (SQLite file beside the database, WAL with synchronous=NORMAL: no fsync per write,
 *   shared by the worker processes of one host; the default with the embedded database);
 * - postgres (tables in the configured PostgreSQL, synchronous_commit off, LISTEN/NOTIFY for
 *   notices; the default with [database] url, so hosts sharing a database share this too);
 * - redis ([redis] url): atomic commands and a Lua script, pub/sub for notices.
 * Times are epoch seconds.
 */

export interface WindowCount {
  /** The count in the current window, this call included. */
  readonly count: number;
  /** When the window ends (epoch seconds). */
  readonly resetAt: number;
}

export interface SharedState {
  readonly kind: 'embedded' | 'postgres' | 'redis';
  /**
   * Records `id` in `namespace` until `expiresAt`. True when it was not recorded before (and is
   * now), false for a replay. Atomic across processes and hosts.
   */
  remember(namespace: string, id: string, expiresAt: number): Promise<boolean>;
  /** Sets (or extends) a mark until `expiresAt`. */
  mark(namespace: string, id: string, expiresAt: number): Promise<void>;
  /** True while `id` is recorded or marked in `namespace` and not expired. */
  has(namespace: string, id: string): Promise<boolean>;
  /**
   * Adds `by` to the counter `key` in its current fixed window of `windowSeconds` (windows start at
   * multiples of the length since the epoch) and returns the new count. Atomic.
   */
  count(key: string, windowSeconds: number, by?: number): Promise<WindowCount>;
  /** Sends `message` to every subscriber of `channel` in every process and host, this one included. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Calls `handler` for each message on `channel`. Resolves, with the unsubscribe function, once
   * notices published from then on will reach it. Delivery is at most once: a process that is cut
   * off from the state for a while misses what was sent meanwhile (callers also check on a timer).
   */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => void>;
  /** Rejects with SharedStateUnavailableError when the state cannot be reached (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export { SharedStateUnavailableError } from '../errors/backends.ts';

/** Change notice channels. */
export const CHANNELS = {
  /** Signing keys or scopes changed: rebuild the key manager. */
  keyManager: 'key-manager',
  /** Trust anchors changed: reload the TLS trust store. */
  trust: 'trust',
  /** The gateway catalogue (APIs, plans, subscriptions, key managers) changed: rebuild the route snapshot. */
  gateway: 'gateway',
} as const;

/** Bounds every implementation enforces, so a caller bug or hostile input cannot grow the state without limit. */
export const LIMITS = {
  /** Longest namespace, id, counter key or channel name. */
  keyLength: 512,
  /** Longest notice message (PostgreSQL NOTIFY carries at most 8000 bytes with its envelope). */
  messageLength: 4 * 1024,
  /** Longest window or expiry accepted, seconds from now (a year). */
  horizon: 366 * 86400,
} as const;

/** Validates the arguments every implementation shares; throws a RangeError on a caller bug. */
export function checkKey(what: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > LIMITS.keyLength) {
    throw new RangeError(`${what} must be a string of 1 to ${LIMITS.keyLength} characters`);
  }
}

export function checkExpiry(expiresAt: number, now: number): void {
  if (!Number.isFinite(expiresAt) || expiresAt > now + LIMITS.horizon) {
    throw new RangeError(`expiresAt must be a time within ${LIMITS.horizon} seconds from now`);
  }
}

export function checkWindow(windowSeconds: number, by: number): void {
  if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > LIMITS.horizon) {
    throw new RangeError(`windowSeconds must be an integer from 1 to ${LIMITS.horizon}`);
  }
  if (!Number.isSafeInteger(by) || by < 0 || by > 1_000_000) throw new RangeError('by must be an integer from 0 to 1,000,000');
}

/** Start of the fixed window of `windowSeconds` that contains `now`. */
export const windowStart = (now: number, windowSeconds: number) => now - (now % windowSeconds);
