/**
 * Registration request JWT validation, OB DCR digest §3.5 steps 2–4 (after the SSA passed): the
 * TPP proves it holds a key of the software by signing with a key from the SSA's
 * software_jwks_endpoint — never a key named in the request itself (jwk, x5c, jku, x5u).
 */
import { compactVerify } from 'jose';
import type { Config } from '../config/schema.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { invalidClientMetadata, unapprovedSoftwareStatement } from '../errors/oauth-errors.ts';
import type { DecodedJws } from './parse-request.ts';
import type { VerifiedSsa } from './ssa.ts';
import { describeVerifyFailure } from './key-errors.ts';

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
    throw invalidClientMetadata(`the registration request must be signed with ${dcr.signing_algorithms.join(' or ')}, not ${String(req.header.alg)}`);
  }

  // Revoked keys first (digest §3.5.3: the key is selected by kid and must not be revoked, then
  // used): a revoked key gets unapproved_software_statement whether or not it still verifies.
  if (dcr.revocation_check && typeof req.header.kid === 'string') {
    const lists = [ssa.claims.software_jwks_revoked_endpoint, ssa.claims.org_jwks_revoked_endpoint].filter((u): u is string => Boolean(u));
    // Both lists at once: they are independent, and each may be a network round trip.
    const fetched = await Promise.allSettled(lists.map((url) => deps.keySets.fetchKeys(url)));
    for (const [i, result] of fetched.entries()) {
      if (result.status === 'rejected') {
        throw unapprovedSoftwareStatement(`the revoked-keys list at ${lists[i]} could not be checked; try again later`, { cause: result.reason });
      }
      if (result.value.keys.some((k) => k.kid === req.header.kid)) {
        throw unapprovedSoftwareStatement(`the key ${req.header.kid} that signed the registration request has been revoked`);
      }
    }
  }

  // Signature with the software's key named by kid.
  const url = ssa.claims.software_jwks_endpoint;
  try {
    await compactVerify(req.raw, deps.keySets.keySet(url), { algorithms: dcr.signing_algorithms });
  } catch (err) {
    throw invalidClientMetadata(describeVerifyFailure(err, url, 'the registration request'), { cause: err });
  }

  // iss is the software_id (OB data dictionary; the "org_id" in the mapping table is an error).
  if (c['iss'] !== ssa.claims.software_id) {
    throw invalidClientMetadata('iss must equal the software_id of the software statement');
  }
  const aud = c['aud'];
  const auds = Array.isArray(aud) ? aud : [aud];
  if (!auds.some((a) => typeof a === 'string' && deps.audiences.has(a))) {
    throw invalidClientMetadata(`aud must be one of: ${[...deps.audiences].join(', ')}`);
  }
  const now = deps.now();
  const iat = c['iat'];
  const exp = c['exp'];
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidClientMetadata('iat is missing or not a number');
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalidClientMetadata('exp is missing or not a number');
  if (iat > now + skew) throw invalidClientMetadata('iat is in the future');
  if (exp + skew < now) throw invalidClientMetadata('the registration request has expired (exp)');
  if (exp <= iat) throw invalidClientMetadata('exp must be after iat');
  if (exp - iat > dcr.request_max_lifetime) throw invalidClientMetadata(`the registration request may be valid for at most ${dcr.request_max_lifetime} seconds (exp - iat)`);
  if (typeof c['jti'] !== 'string' || c['jti'].length === 0 || c['jti'].length > 256) throw invalidClientMetadata('jti is missing or invalid');
  if (c['software_id'] !== undefined && c['software_id'] !== ssa.claims.software_id) {
    throw invalidClientMetadata('software_id must equal the software_id of the software statement');
  }
}
