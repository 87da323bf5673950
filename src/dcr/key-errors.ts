/** Turns key-set and signature failures into a code and a description a TPP can act on, without internals. */
import { errors as joseErrors } from 'jose';
import { KeySetError } from '../crypto/jwks.ts';

/** What went wrong while verifying with a key set; the caller prefixes it (SSA_, REQUEST_, TRANSPORT_CERT_). */
export type VerifyFailureKind = 'KEY_SET_UNAVAILABLE' | 'KEY_SET_NOT_ALLOWED' | 'KEY_SET_INVALID' | 'KEY_NOT_FOUND' | 'SIGNATURE_INVALID';

/** Describes why a JWS could not be verified against the key set at `url`. */
export function describeVerifyFailure(err: unknown, url: string, what: string): { kind: VerifyFailureKind; description: string } {
  if (err instanceof KeySetError) {
    switch (err.code) {
      case 'not_allowed':
        return { kind: 'KEY_SET_NOT_ALLOWED', description: `${url} is not an allowed key set location for ${what}` };
      case 'too_large':
        return { kind: 'KEY_SET_INVALID', description: `the key set at ${url} is too large` };
      case 'invalid':
        return { kind: 'KEY_SET_INVALID', description: `the key set at ${url} is not a valid JWKS` };
      case 'no_matching_key':
        return { kind: 'KEY_NOT_FOUND', description: `no key in ${url} matches the kid of ${what}` };
      default:
        return {
          kind: 'KEY_SET_UNAVAILABLE',
          description: `the key set at ${url} could not be fetched${err.reason ? ` (${err.reason})` : ''}; try again later`,
        };
    }
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys)
    return { kind: 'KEY_NOT_FOUND', description: `no key in ${url} matches the kid of ${what}` };
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return { kind: 'SIGNATURE_INVALID', description: `the signing algorithm of ${what} is not allowed` };
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid)
    return { kind: 'KEY_SET_UNAVAILABLE', description: `the key set at ${url} could not be fetched; try again later` };
  return { kind: 'SIGNATURE_INVALID', description: `the signature of ${what} is invalid` };
}
