/**
 * Signing keys of the authorization server: generated on first start, persisted in the KeyStore
 * (shared by every worker and host), rotated without a restart. A rotated-out key stops signing
 * at once but stays published in the JWKS until every token it signed has expired.
 */
import { generateKeyPair, exportJWK, calculateJwkThumbprint, type JWK } from 'jose';
import type { KeyStore, MetaStore, SigningKeyRecord } from '../storage/ports.ts';

/** Algorithms the server keeps a key for. PS256 for Open Banking, ES256 for clients that ask for it. */
export const SERVER_SIGNING_ALGS = ['PS256', 'ES256'] as const;
export type ServerSigningAlg = (typeof SERVER_SIGNING_ALGS)[number];

/** Meta counter bumped by anything that requires workers to rebuild the provider (keys, scopes). */
export const PROVIDER_VERSION_KEY = 'provider_version';

async function newKey(alg: ServerSigningAlg, now: number): Promise<SigningKeyRecord> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'PS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { kid, alg, privateJwk: { ...jwk, kid, alg, use: 'sig' }, createdAt: now, retiredAt: null, removeAfter: null };
}

export interface KeyManager {
  /** Makes sure each algorithm has an active key; returns true if one was created. */
  ensureKeys(): Promise<boolean>;
  /** Adds a new active key per algorithm and retires the old ones. Returns the new kids. */
  rotate(): Promise<string[]>;
  /** Private JWKS for oidc-provider: active keys first (newest first), then retired verify-only keys. */
  providerJwks(): Promise<{ keys: JWK[]; nextChangeAt: number | null }>;
  list(): Promise<SigningKeyRecord[]>;
}

/**
 * @param retireGrace seconds a retired key stays published: the longest lifetime of anything it signed.
 */
export function createKeyManager(deps: { keys: KeyStore; meta: MetaStore; now: () => number; retireGrace: number }): KeyManager {
  const { keys, meta, now } = deps;

  return {
    async ensureKeys() {
      const current = await keys.list(now());
      let created = false;
      for (const alg of SERVER_SIGNING_ALGS) {
        if (!current.some((k) => k.alg === alg && k.retiredAt === null)) {
          await keys.add(await newKey(alg, now()));
          created = true;
        }
      }
      if (created) await meta.increment(PROVIDER_VERSION_KEY);
      return created;
    },

    async rotate() {
      const t = now();
      const kids: string[] = [];
      for (const alg of SERVER_SIGNING_ALGS) {
        const key = await newKey(alg, t);
        await keys.add(key);
        await keys.retireOthers(alg, key.kid, t, t + deps.retireGrace);
        kids.push(key.kid);
      }
      await meta.increment(PROVIDER_VERSION_KEY);
      return kids;
    },

    async providerJwks() {
      const t = now();
      const all = await keys.list(t);
      const active = all.filter((k) => k.retiredAt === null).sort((a, b) => b.createdAt - a.createdAt);
      const retired = all.filter((k) => k.retiredAt !== null);
      // key_ops: ['verify'] keeps a retired key published while oidc-provider never selects it to sign.
      const out: JWK[] = [...active.map((k) => ({ ...(k.privateJwk as JWK) })), ...retired.map((k) => ({ ...(k.privateJwk as JWK), key_ops: ['verify'] }))];
      const removals = retired.map((k) => k.removeAfter).filter((x): x is number => x !== null);
      return { keys: out, nextChangeAt: removals.length ? Math.min(...removals) : null };
    },

    list() {
      return keys.list(now());
    },
  };
}
