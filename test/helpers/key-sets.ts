/**
 * A JwksCache over fixed key sets, for unit tests that need no network: each URL maps to a key
 * set, or to the Error its fetch fails with; any other URL is unreachable. It records the URLs
 * asked for, so a test can prove a key set was (or was not) consulted.
 */
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { KeySetError, type CachedKeySet, type JwksCache } from '../../src/crypto/jwks.ts';

export interface FakeKeySets extends JwksCache {
  /** Every URL asked for, in order (keySet resolutions and fetchKeys). */
  readonly asked: string[];
}

export function fakeKeySets(sets: Record<string, JSONWebKeySet | Error>): FakeKeySets {
  const asked: string[] = [];
  const get = (url: string) => {
    asked.push(url);
    const set = sets[url];
    if (set === undefined) throw new KeySetError('unreachable', url, `could not fetch the key set at ${url}`);
    if (set instanceof Error) throw set;
    return set;
  };
  return {
    asked,
    keySet(url) {
      const resolve = async (...args: Parameters<CachedKeySet>) => createLocalJWKSet(get(url))(...args);
      return Object.assign(resolve, { jwks: () => sets[url] as JSONWebKeySet | undefined }) as CachedKeySet;
    },
    fetchKeys: async (url) => get(url),
    clear() {},
    status: () => [],
  };
}
