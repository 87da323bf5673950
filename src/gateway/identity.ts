/**
 * The caller's identity as the backend receives it (docs/gateway.md#the-identity-header): a short
 * ES256 JWT in one header, so the backend never re-validates the token. The key is generated once
 * per deployment and kept in the database (first writer wins, so every host signs with the same
 * key); its public half is published at /gateway/jwks.json. One JWT is reused per (token, API)
 * until half its lifetime has passed: an ES256 signature per call would cost more than the rest of
 * the checks. The application is `key_manager` and `client_id` together: the same client id at two
 * key managers is two applications, so a backend keys what it keeps per application by both.
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import type { Storage } from '../storage/ports.ts';
import type { ConsentSnapshot } from '../consent/access.ts';

export const IDENTITY_KEY_META = 'gateway.identity_key';
export const IDENTITY_JWKS_PATH = '/gateway/jwks.json';

export interface CallerIdentity {
  /** The key manager whose client is calling: with `clientId` it names the application. */
  keyManager: string;
  clientId: string;
  softwareId: string | undefined;
  orgId: string | undefined;
  roles: readonly string[];
  scopes: readonly string[];
  /** The PSU, for a PSU-authorised token. */
  psu: string | undefined;
  consentId: string | undefined;
  /** The PSU token's consent as it stands (an API that serves its consents here): the backend never looks it up. */
  consent?: ConsentSnapshot | undefined;
}

export interface IdentitySigner {
  /** The JWT for `who` calling the API `audience`; `cacheKey` identifies the token it came from. */
  sign(who: CallerIdentity, audience: string, cacheKey: string): Promise<string>;
  readonly jwks: { keys: JWK[] };
}

const MAX_CACHED = 50_000;

export async function createIdentitySigner(opts: { storage: Storage; issuer: string; lifetime: number; now?: () => number }): Promise<IdentitySigner> {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const generated = await generateKeyPair('ES256', { extractable: true });
  const candidate = { ...(await exportJWK(generated.privateKey)), alg: 'ES256', use: 'sig' };
  const stored = JSON.parse(await opts.storage.meta.setIfAbsent(IDENTITY_KEY_META, JSON.stringify(candidate))) as JWK;
  const kid = await calculateJwkThumbprint(stored);
  const key = await importJWK(stored, 'ES256');
  const { d: _d, ...publicJwk } = stored;
  const cache = new Map<string, { jwt: string; renewAt: number }>();

  return {
    jwks: { keys: [{ ...publicJwk, kid }] },
    async sign(who, audience, cacheKey) {
      const t = now();
      const key_ = createHash('sha256').update(cacheKey).update('\n').update(audience).digest('base64url');
      const hit = cache.get(key_);
      if (hit && hit.renewAt > t) return hit.jwt;
      const jwt = await new SignJWT({
        client_id: who.clientId,
        key_manager: who.keyManager,
        ...(who.softwareId ? { software_id: who.softwareId } : {}),
        ...(who.orgId ? { org_id: who.orgId } : {}),
        roles: who.roles,
        scope: who.scopes.join(' '),
        ...(who.psu ? { psu: who.psu } : {}),
        ...(who.consentId ? { consent_id: who.consentId } : {}),
        ...(who.consent ? { consent: who.consent } : {}),
      })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'opendcr-identity+jwt' })
        .setIssuer(opts.issuer)
        .setAudience(audience)
        .setSubject(who.clientId)
        .setIssuedAt(t)
        .setExpirationTime(t + opts.lifetime)
        .sign(key);
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
      cache.set(key_, { jwt, renewAt: t + Math.floor(opts.lifetime / 2) });
      return jwt;
    },
  };
}
