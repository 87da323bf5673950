/** Turns key-set and signature failures into descriptions a TPP can act on, without internals. */
import { errors as joseErrors } from 'jose';
import { KeySetError } from '../crypto/jwks.ts';

/** Describes why a JWS could not be verified against the key set at `url`. */
export function describeVerifyFailure(err: unknown, url: string, what: string): string {
  if (err instanceof KeySetError) {
    switch (err.code) {
      case 'not_allowed': return `${url} is not an allowed key set location for ${what}`;
      case 'too_large': return `the key set at ${url} is too large`;
      case 'invalid': return `the key set at ${url} is not a valid JWKS`;
      case 'no_matching_key': return `no key in ${url} matches the kid of ${what}`;
      default: return `the key set at ${url} could not be fetched${err.reason ? ` (${err.reason})` : ''}; try again later`;
    }
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys) return `no key in ${url} matches the kid of ${what}`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return `the signing algorithm of ${what} is not allowed`;
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return `the key set at ${url} could not be fetched; try again later`;
  return `the signature of ${what} is invalid`;
}
