/**
 * The OB request rules that need the whole request body (the forward step's): replay of the first
 * response to a repeated `x-idempotency-key`, and the detached `x-jws-signature` of a payment
 * request (JWS with an unencoded payload, RFC 7797: PS256, b64 false, OB's critical claims iss,
 * iat and tan), checked against a key of the software's own key set; its iat neither in the
 * future nor older than {@link JWS_SIGNATURE_MAX_AGE}.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { errors as joseErrors, flattenedVerify, type FlattenedVerifyGetKey } from 'jose';
import { fail } from '../errors/app-error.ts';
import { isTime } from '../crypto/time-claims.ts';

const OB = 'http://openbanking.org.uk';
const OB_CRIT = ['b64', `${OB}/iat`, `${OB}/iss`, `${OB}/tan`];
const DETACHED = /^([A-Za-z0-9_-]+)\.\.([A-Za-z0-9_-]+)$/;

/** Reads the whole body, refusing (413) past `max` bytes. */
export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > max) throw fail('GATEWAY_BODY_TOO_LARGE', `the request body is larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw fail('GATEWAY_BODY_TOO_LARGE', `the request body is larger than ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** What makes two requests "the same" for an idempotency key: operation and body. */
export function requestFingerprint(method: string, path: string, body: Buffer): string {
  return createHash('sha256').update(method).update('\n').update(path).update('\n').update(body).digest('base64url');
}

/** A backend response kept for replay. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Response headers worth replaying (not per-connection or per-call ones). */
const REPLAYED = new Set(['content-type', 'location', 'x-jws-signature', 'cache-control', 'etag', 'last-modified']);

export function storedResponse(status: number, headers: Record<string, string | string[] | undefined>, body: Buffer): StoredResponse {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (REPLAYED.has(k) && v !== undefined) kept[k] = Array.isArray(v) ? v.join(', ') : v;
  return { status, headers: kept, body: body.toString('base64') };
}

export interface JwsCheck {
  /** The signing party: `{org_id}/{software_id}` of the TPP. */
  issuer: string;
  trustAnchor: string;
  keySet: FlattenedVerifyGetKey;
  /** Epoch seconds, and the tolerated skew for iat. */
  now: number;
  clockTolerance: number;
  /** Oldest accepted signature, seconds since its iat (default {@link JWS_SIGNATURE_MAX_AGE}). */
  maxAge?: number;
}

/**
 * How old (by its iat) an x-jws-signature may be: 24 hours, OB's idempotency window, so a TPP's
 * retry of the very same signed request within that window is still answered (with the first
 * response) rather than refused. Without a bound, a signature made years ago, or at a time
 * before 1970, was as good as a fresh one.
 */
export const JWS_SIGNATURE_MAX_AGE = 86400;

/** Verifies `x-jws-signature` over `body`; throws the coded OB error of the first problem. */
export async function verifyJwsSignature(header: string | string[] | undefined, body: Buffer, check: JwsCheck): Promise<void> {
  if (header === undefined || header === '') throw fail('GATEWAY_SIGNATURE_MISSING', 'the x-jws-signature header is required for this operation');
  const m = typeof header === 'string' ? DETACHED.exec(header.trim()) : null;
  if (!m) throw fail('GATEWAY_SIGNATURE_MALFORMED', 'x-jws-signature must be a detached JWS: protected header, empty payload, signature');
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw fail('GATEWAY_SIGNATURE_MALFORMED', 'the x-jws-signature protected header is not base64url-encoded JSON');
  }
  if (h === null || typeof h !== 'object' || Array.isArray(h))
    throw fail('GATEWAY_SIGNATURE_MALFORMED', 'the x-jws-signature protected header is not a JSON object');
  const crit = Array.isArray(h['crit']) ? h['crit'] : [];
  if (h['alg'] !== 'PS256') throw fail('GATEWAY_SIGNATURE_CLAIM_INVALID', 'x-jws-signature must be signed with PS256');
  if (typeof h['kid'] !== 'string' || h['kid'] === '') throw fail('GATEWAY_SIGNATURE_CLAIM_INVALID', 'the x-jws-signature header must name its key (kid)');
  if (h['b64'] !== false || OB_CRIT.some((c) => !crit.includes(c)) || crit.length !== OB_CRIT.length) {
    throw fail('GATEWAY_SIGNATURE_CLAIM_INVALID', `the x-jws-signature header must carry b64: false and crit ${JSON.stringify(OB_CRIT)}`);
  }
  if (h[`${OB}/iss`] !== check.issuer)
    throw fail('GATEWAY_SIGNATURE_CLAIM_INVALID', `${OB}/iss must be the TPP's organisation and software ({org_id}/{software_id})`);
  if (h[`${OB}/tan`] !== check.trustAnchor) throw fail('GATEWAY_SIGNATURE_CLAIM_INVALID', `${OB}/tan must be ${check.trustAnchor}`);
  const iat = h[`${OB}/iat`];
  const maxAge = check.maxAge ?? JWS_SIGNATURE_MAX_AGE;
  if (!isTime(iat) || iat > check.now + check.clockTolerance || check.now - iat > maxAge + check.clockTolerance) {
    throw fail('GATEWAY_SIGNATURE_CLAIM_INVALID', `${OB}/iat must be a time (epoch seconds) not in the future and at most ${maxAge} seconds ago`);
  }
  try {
    await flattenedVerify({ protected: m[1]!, payload: body, signature: m[2]! }, check.keySet, {
      algorithms: ['PS256'],
      crit: { [`${OB}/iat`]: true, [`${OB}/iss`]: true, [`${OB}/tan`]: true },
    });
  } catch (err) {
    if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey) {
      throw fail('GATEWAY_SIGNATURE_INVALID', "x-jws-signature does not verify against the body with a key of the software's key set", { cause: err });
    }
    if (err instanceof joseErrors.JOSEError && !(err instanceof joseErrors.JWKSTimeout)) {
      throw fail('GATEWAY_SIGNATURE_MALFORMED', 'x-jws-signature could not be checked', { cause: err });
    }
    // Key set unreachable: a fault on the path to the TPP's keys, not the TPP's request.
    throw fail('GATEWAY_SIGNATURE_INVALID', "the software's key set could not be fetched to check x-jws-signature; a retry may succeed", { cause: err });
  }
}
