/**
 * The registration request body: a compact JWS sent as application/jose (v3.2+) or
 * application/jwt (v3.1, WSO2 samples). Media-type parameters such as charset are ignored.
 */
import { decodeJwt, decodeProtectedHeader, type JWSHeaderParameters } from 'jose';
import { fail } from '../errors/app-error.ts';
import { joseTooDeep, MAX_JSON_DEPTH } from '../http/json-limits.ts';
import { COMPACT_JWS } from '../crypto/jws-shape.ts';

export const ACCEPTED_MEDIA_TYPES = new Set(['application/jose', 'application/jwt']);

export interface DecodedJws {
  raw: string;
  header: JWSHeaderParameters;
  claims: Record<string, unknown>;
}

/** docs/dcr.md#media-types: accept application/jose and application/jwt, ignore parameters; anything else is a 400. */
export function checkMediaType(contentType: string | undefined): void {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (!ACCEPTED_MEDIA_TYPES.has(type)) {
    throw fail('DCR_MEDIA_TYPE', `Content-Type must be application/jose or application/jwt (a signed JWT), not ${type ? `"${type.slice(0, 64)}"` : 'missing'}`);
  }
}

/**
 * Decodes header and claims without verifying anything; verification comes later, once the
 * software statement says which keys to use.
 * @param of whose error codes to use: the request's (invalid_client_metadata) or the SSA's (invalid_software_statement).
 */
export function decodeCompactJws(input: unknown, of: 'REQUEST' | 'SSA', what: string): DecodedJws {
  if (typeof input !== 'string' || input.trim() === '') throw fail(`${of}_MISSING`, `${what} is missing`);
  const raw = input.trim();
  if (!COMPACT_JWS.test(raw)) throw fail(`${of}_NOT_JWS`, `${what} is not a compact JWS (three base64url parts separated by dots)`);
  if (joseTooDeep(raw)) throw fail(`${of}_TOO_DEEP`, `${what} nests JSON more than ${MAX_JSON_DEPTH} levels deep`);
  let header: JWSHeaderParameters;
  let claims: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(raw) as JWSHeaderParameters;
    claims = decodeJwt(raw) as Record<string, unknown>;
  } catch {
    throw fail(`${of}_UNDECODABLE`, `${what} could not be decoded: its header and payload must be base64url-encoded JSON objects`);
  }
  return { raw, header, claims };
}

/** Body parsed by the route (string) → decoded request JWT. */
export function decodeRegistrationRequest(body: unknown): DecodedJws {
  return decodeCompactJws(typeof body === 'string' ? body : undefined, 'REQUEST', 'the registration request');
}
