/**
 * Registration request JWT validation, in the order of docs/dcr.md#the-request-jwt (after the SSA passed): the
 * TPP proves it holds a key of the software by signing with a key from the SSA's
 * software_jwks_endpoint — never a key named in the request itself (jwk, x5c, jku, x5u).
 */
import { calculateJwkThumbprint, compactVerify, exportJWK, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/schema.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { type AppError, fail } from '../errors/app-error.ts';
import { checkTimeClaims, type TimeClaimProblem } from '../crypto/time-claims.ts';
import type { DecodedJws } from './parse-request.ts';
import type { VerifiedSsa } from './ssa.ts';
import { describeVerifyFailure } from './key-errors.ts';
import { KeySetError } from '../crypto/jwks.ts';

export interface RequestJwtDeps {
  config: Config;
  keySets: JwksCache;
  now: () => number;
  /** Accepted aud values (issuer, registration endpoints, configured ones). */
  audiences: ReadonlySet<string>;
}

/** Verifies the request signature and its iss/aud/iat/exp/jti/software_id claims. */
export async function validateRequestJwt(req: DecodedJws, ssa: VerifiedSsa, deps: RequestJwtDeps): Promise<void> {
  const dcr = deps.config.open_banking.dcr;
  const skew = deps.config.oauth.clock_tolerance;
  const c = req.claims;

  // Algorithm: FAPI 1.0 Advanced §8.6 (none, HS*, RS256 rejected).
  if (typeof req.header.alg !== 'string' || !(dcr.signing_algorithms as string[]).includes(req.header.alg)) {
    throw fail('REQUEST_ALG_NOT_ALLOWED', `the registration request must be signed with ${dcr.signing_algorithms.join(' or ')}, not ${String(req.header.alg)}`);
  }

  // The header names the signing key by kid (docs/dcr.md#the-request-jwt); without one no key is selected at all
  // (a key set's only key would otherwise be taken, and a revoked list only names kids).
  const kid = req.header.kid;
  if (typeof kid !== 'string' || kid.length === 0) {
    throw fail(
      'REQUEST_KID_MISSING',
      "the registration request JWS header must carry the kid of its signing key in the software statement's software_jwks_endpoint",
    );
  }

  // The key is selected by kid, must not be revoked, and only then used: a revoked
  // key gets unapproved_software_statement whether or not it still verifies. The revoked lists
  // are read first and the one resolver below both selects and checks, so no path verifies with
  // a key that was not checked.
  const revoked = dcr.revocation_check ? await revokedKeys(ssa, deps) : undefined;
  const revokedError = () => fail('REQUEST_KEY_REVOKED', `the key ${kid.slice(0, 64)} that signed the registration request has been revoked`);
  if (revoked?.kids.has(kid)) throw revokedError();
  const url = ssa.claims.software_jwks_endpoint;
  const softwareKeys = deps.keySets.keySet(url);
  const notRevoked: JWTVerifyGetKey = async (header, token) => {
    const key = await softwareKeys(header, token);
    // The same key material republished under another kid is still the revoked key.
    if (revoked && revoked.thumbprints.size > 0 && revoked.thumbprints.has(await keyThumbprint(key))) {
      throw new RevokedKey();
    }
    return key;
  };
  try {
    await compactVerify(req.raw, notRevoked, { algorithms: dcr.signing_algorithms });
  } catch (err) {
    if (err instanceof RevokedKey) throw revokedError();
    const f = describeVerifyFailure(err, url, 'the registration request');
    throw fail(`REQUEST_${f.kind}`, f.description, { cause: err });
  }

  // iss is the software_id (OB data dictionary; the "org_id" in the mapping table is an error).
  if (c['iss'] !== ssa.claims.software_id) {
    throw fail('REQUEST_ISS_MISMATCH', 'iss must equal the software_id of the software statement');
  }
  const aud = c['aud'];
  const auds = Array.isArray(aud) ? aud : [aud];
  if (!auds.some((a) => typeof a === 'string' && deps.audiences.has(a))) {
    throw fail('REQUEST_AUD_NOT_ALLOWED', `aud must be one of: ${[...deps.audiences].join(', ')}`);
  }
  const bad = checkTimeClaims(c, { now: deps.now(), skew, required: ['iat', 'exp'], maxLifetime: dcr.request_max_lifetime });
  if (bad) throw requestTimeError(bad, dcr.request_max_lifetime);
  if (typeof c['jti'] !== 'string' || c['jti'].length === 0 || c['jti'].length > 256) throw fail('REQUEST_JTI_INVALID', 'jti is missing or invalid');
  if (c['software_id'] !== undefined && c['software_id'] !== ssa.claims.software_id) {
    throw fail('REQUEST_SOFTWARE_ID_MISMATCH', 'software_id must equal the software_id of the software statement');
  }
}

/** The coded error of a time claim problem of the registration request. */
function requestTimeError(p: TimeClaimProblem, maxLifetime: number): AppError {
  switch (p.kind) {
    case 'missing':
    case 'invalid':
      if (p.claim === 'nbf') return fail('REQUEST_NBF_INVALID', 'nbf must be a time (seconds since 1970, up to the year 9999)');
      return fail(
        p.claim === 'iat' ? 'REQUEST_IAT_INVALID' : 'REQUEST_EXP_INVALID',
        `${p.claim} is missing or not a time (seconds since 1970, up to the year 9999)`,
      );
    case 'future':
      return p.claim === 'iat'
        ? fail('REQUEST_IAT_FUTURE', 'iat is in the future')
        : fail('REQUEST_NOT_YET_VALID', 'nbf is in the future: the registration request is not valid yet');
    case 'expired':
      return fail('REQUEST_EXPIRED', 'the registration request has expired (exp)');
    case 'order':
      return fail('REQUEST_EXP_BEFORE_IAT', `exp must be after ${p.claim}`);
    case 'too_long':
      return fail('REQUEST_LIFETIME_TOO_LONG', `the registration request may be valid for at most ${maxLifetime} seconds (exp - iat, exp - nbf and exp - now)`);
  }
}

/** RFC 7638 thumbprint of a key as the resolver returns it (CryptoKey, KeyObject or JWK). */
async function keyThumbprint(key: Awaited<ReturnType<JWTVerifyGetKey>>): Promise<string> {
  const jwk = key instanceof Uint8Array || (typeof key === 'object' && 'type' in key) ? await exportJWK(key as Parameters<typeof exportJWK>[0]) : (key as JWK);
  return calculateJwkThumbprint(jwk);
}

class RevokedKey extends Error {
  override readonly name = 'RevokedKey';
}

interface RevokedKeys {
  readonly kids: ReadonlySet<string>;
  /** RFC 7638 thumbprints of the revoked keys that carry key material. */
  readonly thumbprints: ReadonlySet<string>;
}

/**
 * The software's and the organisation's revoked keys (both lists at once: they are independent,
 * and each may be a network round trip). A list that cannot be read fails the request: an
 * unchecked key is never used.
 */
async function revokedKeys(ssa: VerifiedSsa, deps: RequestJwtDeps): Promise<RevokedKeys> {
  const lists = [ssa.claims.software_jwks_revoked_endpoint, ssa.claims.org_jwks_revoked_endpoint].filter((u): u is string => Boolean(u));
  const fetched = await Promise.allSettled(lists.map((url) => deps.keySets.fetchKeys(url)));
  const kids = new Set<string>();
  const thumbprints = new Set<string>();
  for (const [i, result] of fetched.entries()) {
    if (result.status === 'rejected') throw revokedListUnavailable(lists[i]!, result.reason);
    for (const key of (result.value as JSONWebKeySet).keys) {
      if (typeof key.kid === 'string') kids.add(key.kid);
      try {
        thumbprints.add(await calculateJwkThumbprint(key));
      } catch {
        // An entry naming only a kid carries no key material to compare.
      }
    }
  }
  return { kids, thumbprints };
}

/** Says what is wrong with a revoked-keys list: a refused location is the bank's configuration, not a passing outage. */
function revokedListUnavailable(url: string, reason: unknown) {
  const shown = reason instanceof KeySetError ? reason.url : url.slice(0, 200);
  if (reason instanceof KeySetError) {
    switch (reason.code) {
      case 'not_allowed':
        return fail(
          'REQUEST_REVOCATION_LIST_NOT_ALLOWED',
          `the revoked-keys list at ${shown} cannot be checked: this server is not allowed to fetch from that location (its host is not in [oauth] allowed_outbound_hosts, or it redirects); ask the bank to allow it`,
          { cause: reason },
        );
      case 'invalid':
      case 'too_large':
        return fail('REQUEST_REVOCATION_LIST_INVALID', `the revoked-keys list at ${shown} is not a valid JWKS (or is too large)`, { cause: reason });
      default:
        break;
    }
  }
  const why = reason instanceof KeySetError && reason.reason ? ` (${reason.reason})` : '';
  return fail('REQUEST_REVOCATION_LIST_UNAVAILABLE', `the revoked-keys list at ${shown} could not be checked${why}; try again later`, { cause: reason });
}
