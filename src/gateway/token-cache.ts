/**
 * The gateway's memory of tokens it has verified (WSO2's gateway token cache), keyed by the whole
 * token, signature included, so a tampered token never matches a cached one. An entry lives until
 * the token expires or a short bound, whichever is first; what can change during that time is
 * checked on every call anyway by the token step (src/gateway/steps/authenticate.ts: the
 * certificate binding, and the key manager's recheck, the resident client's revocation mark), the
 * entries of a client are dropped when its registration changes or is deleted (a change notice),
 * and an entry made under another catalogue version (a key manager disabled, removed or changed
 * since) is not used. Bounded: the oldest entry goes first.
 */
import type { VerifiedToken } from '../oauth/token-verifier.ts';

export interface TokenCache {
  /** The entry of `token`, if it was made under the same catalogue `version` (key managers may have changed since). */
  get(token: string, nowMs: number, version: string): VerifiedToken | undefined;
  set(token: string, verified: VerifiedToken, nowMs: number, version: string): void;
  /** Drops every entry of `clientId`. */
  forgetClient(clientId: string): void;
  clear(): void;
}

export function createTokenCache(opts: { maxEntries: number; maxAgeMs: number }): TokenCache {
  const entries = new Map<string, { verified: VerifiedToken; until: number; version: string }>();
  return {
    get(token, nowMs, version) {
      const hit = entries.get(token);
      if (!hit) return undefined;
      if (hit.until <= nowMs || hit.version !== version) {
        entries.delete(token);
        return undefined;
      }
      return hit.verified;
    },
    set(token, verified, nowMs, version) {
      const expires = verified.expiresAt === undefined ? nowMs : verified.expiresAt * 1000;
      const until = Math.min(expires, nowMs + opts.maxAgeMs);
      if (until <= nowMs) return;
      if (entries.size >= opts.maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(token, { verified, until, version });
    },
    forgetClient(clientId) {
      for (const [token, e] of entries) if (e.verified.clientId === clientId) entries.delete(token);
    },
    clear: () => entries.clear(),
  };
}
