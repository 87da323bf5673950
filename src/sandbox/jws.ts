/**
 * Compact JWS signing for the sandbox, with the knobs tests need to produce bad tokens:
 * another `alg` (including `none` and HS256), another or no `kid`, another key, extra header.
 */
import { KeyObject, createPublicKey } from 'node:crypto';
import { CompactSign, base64url } from 'jose';
import type { CompactJWSHeaderParameters, CryptoKey } from 'jose';

/** Anything jose signs with; a `Uint8Array` is an HMAC secret. */
export type SigningKeyInput = KeyObject | CryptoKey | Uint8Array;

/** Per-token overrides; defaults come from the signer (PS256, its kid, its key). */
export interface SignOptions {
  /** `none` gives an unsecured JWS; an `HS*` alg without a secret uses the signer's public key PEM as the secret. */
  readonly alg?: string;
  /** `null` leaves the kid out. */
  readonly kid?: string | null;
  readonly key?: SigningKeyInput;
  /** Merged over the header last; an `undefined` member removes it. */
  readonly header?: Record<string, unknown>;
}

/** The signer's own key and kid. */
export interface Signer {
  readonly alg: string;
  readonly kid: string;
  readonly key: KeyObject;
}

/** Signs `payload` (members set to `undefined` are left out) as a compact JWS with `typ: JWT`. */
export async function signJws(payload: Record<string, unknown>, signer: Signer, opts: SignOptions = {}): Promise<string> {
  const alg = opts.alg ?? signer.alg;
  const kid = opts.kid === undefined ? signer.kid : opts.kid;
  const header = JSON.parse(JSON.stringify({ alg, typ: 'JWT', ...(kid === null ? {} : { kid }), ...opts.header })) as CompactJWSHeaderParameters;
  const body = new TextEncoder().encode(JSON.stringify(payload));
  if (alg === 'none') return `${base64url.encode(JSON.stringify(header))}.${base64url.encode(body)}.`;
  let key = opts.key ?? signer.key;
  // The classic algorithm-confusion token: an HMAC keyed with the verifier's public key.
  if (alg.startsWith('HS') && key instanceof KeyObject && key.type !== 'secret') key = publicKeyPem(key);
  return new CompactSign(body).setProtectedHeader(header).sign(key);
}

function publicKeyPem(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return new TextEncoder().encode(pub.export({ type: 'spki', format: 'pem' }).toString());
}
