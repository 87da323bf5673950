/**
 * Signs security event tokens (RFC 8417) with the server's own signing key: the newest active
 * PS256 key, the one its published key set (jwks_uri) lists first, so a TPP verifies an event
 * notice as it verifies an ID token. `typ` is `secevent+jwt`, as RFC 8417 §2.3 recommends.
 */
import { importJWK, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { KeyManager } from './keys.ts';

export function createSetSigner(keys: Pick<KeyManager, 'providerJwks'>): (claims: Record<string, unknown>) => Promise<string> {
  let imported: { kid: string; key: Awaited<ReturnType<typeof importJWK>> } | undefined;
  return async (claims) => {
    const { keys: jwks } = await keys.providerJwks();
    // Active keys come first, newest first; a retired one is marked verify-only.
    const jwk = jwks.find((k: JWK) => k.alg === 'PS256' && k.key_ops === undefined);
    if (!jwk?.kid) throw new Error('no active PS256 signing key');
    if (imported?.kid !== jwk.kid) imported = { kid: jwk.kid, key: await importJWK(jwk, 'PS256') };
    return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg: 'PS256', kid: jwk.kid, typ: 'secevent+jwt' }).sign(imported.key);
  };
}
