/**
 * Pre-signed request bodies, made before a timed phase on every core (worker threads), so the
 * load generator only sends bytes while it measures. Each body carries a fresh jti, because both
 * servers refuse a replayed client assertion or registration request.
 *
 * Signing is plain node:crypto RSASSA-PSS (PS256: SHA-256, MGF1, salt = digest length, RFC 7518
 * §3.5), exactly what jose produces, without its per-call overhead.
 */
import { availableParallelism } from 'node:os';
import { constants, createPrivateKey, randomUUID, sign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** What to sign: a client_credentials form with a private_key_jwt assertion, or a DCR request JWT. */
export type BodySpec =
  | { kind: 'client-assertion'; clientId: string; aud: string; scope: string; kid: string; privateJwk: JsonWebKey }
  | { kind: 'dcr-request'; claims: Record<string, unknown>; iss: string; kid: string; privateJwk: JsonWebKey };

const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** A compact JWS, PS256. */
export function signPs256(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  const sig = sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  return `${input}.${sig.toString('base64url')}`;
}

/** One body per call, each with a new jti; iat now, exp in 5 minutes. */
export function bodyMaker(spec: BodySpec): () => string {
  const key = createPrivateKey({ key: spec.privateJwk, format: 'jwk' });
  if (spec.kind === 'client-assertion') {
    const header = { alg: 'PS256', kid: spec.kid };
    const form =
      `grant_type=client_credentials&scope=${encodeURIComponent(spec.scope)}&client_id=${encodeURIComponent(spec.clientId)}` +
      `&client_assertion_type=${encodeURIComponent(CLIENT_ASSERTION_TYPE)}&client_assertion=`;
    return () => {
      const iat = Math.floor(Date.now() / 1000);
      // The JWS alphabet (base64url and '.') needs no form encoding.
      return form + signPs256(header, { iss: spec.clientId, sub: spec.clientId, aud: spec.aud, jti: randomUUID(), iat, exp: iat + 300 }, key);
    };
  }
  const header = { alg: 'PS256', kid: spec.kid, typ: 'JWT' };
  return () => {
    const iat = Math.floor(Date.now() / 1000);
    return signPs256(header, { iss: spec.iss, iat, exp: iat + 300, jti: randomUUID(), ...spec.claims }, key);
  };
}

/** `count` bodies signed on `threads` worker threads. */
export async function generateBodies(spec: BodySpec, count: number, threads = availableParallelism()): Promise<string[]> {
  if (count <= 0) return [];
  const n = Math.max(1, Math.min(threads, Math.ceil(count / 200)));
  const shares = Array.from({ length: n }, (_, i) => Math.floor(count / n) + (i < count % n ? 1 : 0));
  const parts = await Promise.all(
    shares.map(
      (share) =>
        new Promise<string[]>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { benchAssertions: true, spec, count: share } });
          w.once('message', (m: string[]) => resolve(m));
          w.once('error', reject);
          w.once('exit', (code) => {
            if (code !== 0) reject(new Error(`assertion worker exited with ${code}`));
          });
        }),
    ),
  );
  return parts.flat();
}

if (!isMainThread && (workerData as { benchAssertions?: boolean } | null)?.benchAssertions) {
  const { spec, count } = workerData as { spec: BodySpec; count: number };
  const make = bodyMaker(spec);
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = make();
  parentPort!.postMessage(out);
}
