/**
 * Remote key sets (directory JWKS, software JWKS, client jwks_uri) over jose's
 * `createRemoteJWKSet`, with every request going through the allow-listed outbound fetch.
 *
 * jose does the fetching, key selection and the unknown-kid refetch with its cooldown. This wrapper
 * adds what jose leaves out: the host's `Cache-Control: max-age` decides freshness, and a failed
 * refresh keeps serving the keys already held until `staleFor` has passed
 * (docs/dcr.md#directory-key-sets, docs/architecture.md#in-memory-caches), so a short outage at a
 * TPP's key host does not stop registrations that it has already signed with known keys.
 */
import { createRemoteJWKSet, customFetch, errors } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey, RemoteJWKSet } from 'jose';
import { OutboundFetchError } from '../http/outbound.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import { jsonTooDeep } from '../http/json-limits.ts';

/** Why a key set could not give a key. Stable, so callers can `switch` on it. */
export type KeySetErrorCode = 'unreachable' | 'invalid' | 'not_allowed' | 'no_matching_key' | 'too_large';

/**
 * A key set failure whose message is safe to show a TPP: it names the key set URL (origin and
 * path only) and never carries network or parser internals; those stay in `cause`.
 */
export class KeySetError extends Error {
  override readonly name = 'KeySetError';
  readonly code: KeySetErrorCode;
  /** The key set URL as shown in messages: origin and path, without query or fragment. */
  readonly url: string;

  /** For `unreachable`: why, in a few safe words (e.g. "connection refused"), when known. */
  readonly reason: string | undefined;

  constructor(code: KeySetErrorCode, url: string, message: string, options?: { cause?: unknown; reason?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.url = url;
    this.reason = options?.reason;
  }
}

/** Options of {@link createJwksCache}; durations in seconds as in `[open_banking.dcr] jwks_cache`. */
export interface JwksCacheOptions {
  readonly fetch: OutboundFetch;
  /** Freshness when the response has no `Cache-Control: max-age`. */
  readonly maxAge: number;
  /** How long keys keep being used after their last successful fetch when refreshes fail. */
  readonly staleFor: number;
  /** Minimum time between unknown-kid refetches, and between retries of a failed refresh. */
  readonly cooldown: number;
  /** Fetch timeout, milliseconds. */
  readonly timeoutMs: number;
  /** Clock for freshness decisions, milliseconds since the epoch; default `Date.now`. */
  readonly now?: () => number;
  /** Told each use by host: served from the cache (hit), fetched (miss), or failed to fetch (error). */
  readonly onResult?: (host: string, result: 'hit' | 'miss' | 'error') => void;
}

/** A key resolver for `jwtVerify(token, keySet)`, plus the keys it currently holds. */
export type CachedKeySet = JWTVerifyGetKey & { jwks(): JSONWebKeySet | undefined };

export interface JwksCache {
  /**
   * The resolver for one key set URL, created once per URL and reused. Failures reject with
   * {@link KeySetError}.
   * @throws {KeySetError} `not_allowed` when `url` is not an absolute URL.
   */
  keySet(url: string): CachedKeySet;
  /** The keys at `url`, fetched or refreshed as {@link keySet} would (e.g. revoked-key lists). */
  fetchKeys(url: string): Promise<JSONWebKeySet>;
  /** Forgets every key set. */
  clear(): void;
  /** What this process knows of each key set it has used (or of `url` only): for the admin console. */
  status(url?: string): KeySetStatus[];
}

/** One cached key set as {@link JwksCache.status} reports it (times: epoch milliseconds of our clock). */
export interface KeySetStatus {
  readonly url: string;
  readonly host: string;
  readonly fetches: number;
  readonly fetchedAt: number | undefined;
  readonly keys: number;
  readonly lastError: { readonly at: number; readonly message: string } | undefined;
}

interface Entry {
  readonly url: string;
  readonly host: string;
  /** Successful fetches so far (a use that caused none was a cache hit). */
  fetches: number;
  readonly remote: RemoteJWKSet;
  /** Our clock at the last successful fetch; undefined before the first. */
  fetchedAt?: number;
  /** Freshness of that response, milliseconds. */
  freshFor: number;
  /** After a failed refresh, no new attempt before this time (our clock). */
  retryAfter: number;
  /** The last failed fetch, cleared by a successful one. */
  lastError?: { at: number; message: string } | undefined;
  keySet?: CachedKeySet;
}

/**
 * Creates a cache of remote key sets. One per server (main.ts builds it from
 * `[open_banking.dcr] jwks_cache`), never a module global.
 */
export function createJwksCache(opts: JwksCacheOptions): JwksCache {
  for (const name of ['maxAge', 'staleFor', 'cooldown'] as const) {
    if (!Number.isFinite(opts[name]) || opts[name] < 0) throw new TypeError(`${name} must be a non-negative number of seconds`);
  }
  if (!Number.isInteger(opts.timeoutMs) || opts.timeoutMs <= 0) throw new TypeError('timeoutMs must be a positive integer');
  const now = opts.now ?? Date.now;
  const maxAgeMs = opts.maxAge * 1000;
  const staleForMs = opts.staleFor * 1000;
  const cooldownMs = opts.cooldown * 1000;
  const entries = new Map<string, Entry>();

  function entryFor(input: string): Entry {
    const url = parseUrl(input);
    const entry = entries.get(url.href);
    if (entry) return entry;
    const shown = displayUrl(url);
    const created: Entry = {
      url: shown,
      host: url.host,
      fetches: 0,
      freshFor: maxAgeMs,
      retryAfter: -Infinity,
      remote: createRemoteJWKSet(url, {
        // jose must never drop keys before our stale bound; freshness is decided here instead.
        cacheMaxAge: staleForMs,
        cooldownDuration: cooldownMs,
        timeoutDuration: opts.timeoutMs,
        [customFetch]: async (href, init) => {
          let json: FetchedKeySet;
          try {
            json = await fetchKeySet(opts.fetch, href, shown, init);
          } catch (err) {
            opts.onResult?.(created.host, 'error');
            created.lastError = { at: now(), message: err instanceof Error ? err.message.slice(0, 300) : 'fetch failed' };
            throw err;
          }
          created.fetches += 1;
          opts.onResult?.(created.host, 'miss');
          created.fetchedAt = now();
          created.freshFor = Math.min(json.maxAge ?? maxAgeMs, staleForMs);
          created.retryAfter = -Infinity;
          created.lastError = undefined;
          return new Response(json.text, { status: 200, headers: { 'content-type': 'application/json' } });
        },
      }),
    };
    entries.set(url.href, created);
    return created;
  }

  // Refetches when the keys are missing or past their freshness; on failure serves the old keys
  // while they are within staleFor, and waits `cooldown` before trying the host again.
  async function refresh(entry: Entry): Promise<void> {
    const t = now();
    const { fetchedAt } = entry;
    if (fetchedAt !== undefined && t < fetchedAt + entry.freshFor) return;
    const withinStale = fetchedAt !== undefined && t < fetchedAt + staleForMs;
    if (withinStale && t < entry.retryAfter) return;
    try {
      await entry.remote.reload();
    } catch (err) {
      if (!withinStale) throw toKeySetError(err, entry.url);
      entry.retryAfter = t + cooldownMs;
    }
  }

  return {
    keySet(url) {
      const entry = entryFor(url);
      if (entry.keySet) return entry.keySet;
      const getKey = async (header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]) => {
        const before = entry.fetches;
        await refresh(entry);
        try {
          const key = await entry.remote(header, token);
          if (entry.fetches === before) opts.onResult?.(entry.host, 'hit');
          return key;
        } catch (err) {
          throw toKeySetError(err, entry.url, header.kid);
        }
      };
      entry.keySet = Object.assign(getKey, { jwks: () => entry.remote.jwks() });
      return entry.keySet;
    },
    async fetchKeys(url) {
      const entry = entryFor(url);
      const before = entry.fetches;
      await refresh(entry);
      // jose's own bound (staleFor, real time) may have passed even when our clock says fresh.
      if (!entry.remote.fresh) {
        try {
          await entry.remote.reload();
        } catch (err) {
          throw toKeySetError(err, entry.url);
        }
      }
      const jwks = entry.remote.jwks();
      if (!jwks) throw new KeySetError('unreachable', entry.url, `could not fetch the key set at ${entry.url}`);
      if (entry.fetches === before) opts.onResult?.(entry.host, 'hit');
      return jwks;
    },
    clear() {
      entries.clear();
    },
    status(url) {
      let wanted: string | undefined;
      if (url !== undefined) {
        try {
          wanted = parseUrl(url).href;
        } catch {
          return [];
        }
      }
      return [...entries]
        .filter(([href]) => wanted === undefined || href === wanted)
        .map(([, e]) => ({
          url: e.url,
          host: e.host,
          fetches: e.fetches,
          fetchedAt: e.fetchedAt,
          keys: e.remote.jwks()?.keys.length ?? 0,
          lastError: e.lastError,
        }));
    },
  };
}

interface FetchedKeySet {
  readonly text: string;
  /** From `Cache-Control`, milliseconds; undefined when the header says nothing. */
  readonly maxAge: number | undefined;
}

async function fetchKeySet(fetch: OutboundFetch, href: string, shown: string, init: { headers: Headers; signal: AbortSignal }): Promise<FetchedKeySet> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(href, { method: 'GET', headers: Object.fromEntries(init.headers), signal: init.signal });
    text = await res.text();
  } catch (err) {
    throw toKeySetError(err, shown);
  }
  if (res.status !== 200)
    throw new KeySetError('unreachable', shown, `could not fetch the key set at ${shown} (HTTP ${res.status})`, { reason: `HTTP ${res.status}` });
  // Checked before parsing: jose walks what it is given.
  if (jsonTooDeep(text)) throw invalid(shown);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw invalid(shown, cause);
  }
  // The same shape test jose applies, so a body accepted here is never rejected there.
  if (!isPlainObject(json) || !Array.isArray(json['keys']) || !json['keys'].every(isPlainObject)) throw invalid(shown);
  return { text, maxAge: cacheControlMaxAge(res.headers.get('cache-control')) };
}

/**
 * RFC 9111 §5.2.2: `no-store` and `no-cache` mean "do not reuse without asking again" (0);
 * otherwise `max-age`, in milliseconds. Undefined when the header gives no freshness.
 */
export function cacheControlMaxAge(header: string | null): number | undefined {
  if (!header) return undefined;
  let maxAge: number | undefined;
  for (const directive of header.split(',')) {
    const [rawName, rawValue] = directive.split('=', 2);
    const name = rawName!.trim().toLowerCase();
    if (name === 'no-store' || name === 'no-cache') return 0;
    if (name === 'max-age' && rawValue !== undefined) {
      const value = rawValue.trim().replace(/^"(.*)"$/, '$1');
      if (/^\d+$/.test(value)) maxAge = Number(value) * 1000;
    }
  }
  return maxAge;
}

/** Turns anything thrown while getting a key into a {@link KeySetError}; keeps `cause`. */
function toKeySetError(err: unknown, url: string, kid?: string): KeySetError {
  if (err instanceof KeySetError) return err;
  if (err instanceof OutboundFetchError) {
    // outbound.ts has no error codes, so its (stable, safe) messages are the only signal.
    if (/not allowed by configuration/.test(err.message)) {
      return new KeySetError('not_allowed', url, `the key set URL ${url} is not allowed by configuration`, { cause: err });
    }
    if (/redirect/.test(err.message)) {
      return new KeySetError('not_allowed', url, `the key set at ${url} answered with a redirect, which is not followed`, { cause: err });
    }
    if (/larger than/.test(err.message)) {
      return new KeySetError('too_large', url, `the key set at ${url} is larger than the size limit`, { cause: err });
    }
    const reason = err.reason;
    return new KeySetError('unreachable', url, `could not fetch the key set at ${url}${reason ? ` (${reason})` : ''}`, {
      cause: err,
      ...(reason ? { reason } : {}),
    });
  }
  if (err instanceof errors.JWKSTimeout || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) {
    return new KeySetError('unreachable', url, `could not fetch the key set at ${url} (timed out)`, { cause: err, reason: 'timed out' });
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) {
    const which = typeof kid === 'string' ? ` for kid ${JSON.stringify(kid.slice(0, 64))}` : '';
    const what = err instanceof errors.JWKSMultipleMatchingKeys ? 'more than one key matches' : 'no usable key';
    return new KeySetError('no_matching_key', url, `${what}${which} in the key set at ${url}`, { cause: err });
  }
  // JWKSInvalid, JWKInvalid, a key that does not import: the key set itself is at fault.
  return invalid(url, err);
}

function invalid(url: string, cause?: unknown): KeySetError {
  return new KeySetError('invalid', url, `the key set at ${url} is not a valid JSON Web Key Set`, { cause });
}

function parseUrl(input: string): URL {
  try {
    return new URL(input);
  } catch (cause) {
    throw new KeySetError('not_allowed', String(input).slice(0, 200), 'the key set URL is not an absolute URL', { cause });
  }
}

function displayUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}
