/**
 * Software statement (SSA) validation: the checks an ASPSP makes of a directory-signed SSA before
 * trusting any of its claims, in the order below; the first failure wins. Cheap checks that need
 * no key (form, algorithm, issuer, environment, kid) come before the signature, and no claim is
 * read as true until the signature holds.
 */
import { compactVerify } from 'jose';
import type { Config } from '../config/schema.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import { type AppError, fail } from '../errors/app-error.ts';
import { checkTimeClaims, type TimeClaimProblem } from '../crypto/time-claims.ts';
import { decodeCompactJws } from './parse-request.ts';
import { describeVerifyFailure } from './key-errors.ts';
import type { DirectoryTrust } from './directory-trust.ts';

/** The verified SSA claims the rest of the pipeline relies on (others are kept as they came). */
export interface SsaClaims {
  iss: string;
  iat: number;
  software_id: string;
  org_id: string;
  software_environment: 'sandbox' | 'production';
  software_jwks_endpoint: string;
  software_redirect_uris: string[];
  software_roles: string[];
  software_jwks_revoked_endpoint?: string;
  org_jwks_revoked_endpoint?: string;
  [claim: string]: unknown;
}

export interface VerifiedSsa {
  raw: string;
  claims: SsaClaims;
}

export interface SsaDeps {
  config: Config;
  trust: DirectoryTrust;
  keySets: JwksCache;
  /** Epoch seconds. */
  now: () => number;
}

const isHttpsUrl = (v: unknown): v is string => {
  if (typeof v !== 'string') return false;
  try {
    return new URL(v).protocol === 'https:';
  } catch {
    return false;
  }
};
const nonEmptyStrings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0);

/** The coded error of a time claim problem of the software statement. */
function ssaTimeError(p: TimeClaimProblem): AppError {
  switch (p.kind) {
    case 'missing':
    case 'invalid':
      return p.claim === 'iat'
        ? fail('SSA_IAT_INVALID', 'software_statement iat is missing or not a time (seconds since 1970, up to the year 9999)')
        : fail('SSA_CLAIM_INVALID', `software_statement claim ${p.claim} must be a time (seconds since 1970, up to the year 9999)`);
    case 'future':
      return p.claim === 'iat'
        ? fail('SSA_IAT_FUTURE', 'software_statement iat is in the future')
        : fail('SSA_NOT_YET_VALID', 'software_statement nbf is in the future: it is not valid yet');
    case 'expired':
      return fail('SSA_EXPIRED', 'software_statement has expired');
    case 'order':
    case 'too_long':
      return fail('SSA_CLAIM_INVALID', `software_statement exp must be after ${p.claim}`);
  }
}

/** Validates the software statement and returns its trusted claims. */
export async function validateSoftwareStatement(input: unknown, deps: SsaDeps): Promise<VerifiedSsa> {
  const dcr = deps.config.open_banking.dcr;
  const skew = deps.config.oauth.clock_tolerance;

  // 1. Present and a compact JWS.
  const ssa = decodeCompactJws(input, 'SSA', 'software_statement');
  const c = ssa.claims;

  // 2. Algorithm.
  if (typeof ssa.header.alg !== 'string' || !(dcr.ssa_signing_algorithms as string[]).includes(ssa.header.alg)) {
    throw fail('SSA_ALG_NOT_ALLOWED', `software_statement must be signed with ${dcr.ssa_signing_algorithms.join(' or ')}, not ${String(ssa.header.alg)}`);
  }

  // 3. Trusted issuer.
  if (typeof c['iss'] !== 'string' || !deps.trust.issuers().includes(c['iss'])) {
    throw fail(
      'SSA_ISSUER_UNTRUSTED',
      `software_statement issuer ${typeof c['iss'] === 'string' ? `"${c['iss'].slice(0, 100)}"` : '(missing)'} is not a trusted directory`,
    );
  }

  // 4. Environment accepted here; it chooses the directory key set.
  const env = c['software_environment'];
  if (env !== 'sandbox' && env !== 'production') {
    throw fail('SSA_ENVIRONMENT_UNKNOWN', 'software_statement software_environment must be "sandbox" or "production"');
  }
  if (!dcr.software_environments.includes(env)) {
    throw fail('SSA_ENVIRONMENT_NOT_ACCEPTED', `software statements for the ${env} environment are not accepted by this server`);
  }
  const jwksUrl = deps.trust.jwksUrl(env);

  // 5. Directory signature, with the key its kid names (the directory publishes several).
  if (typeof ssa.header.kid !== 'string' || ssa.header.kid.length === 0) {
    throw fail('SSA_KID_MISSING', 'the software_statement JWS header must carry the kid of the directory key that signed it');
  }
  try {
    await compactVerify(ssa.raw, deps.keySets.keySet(jwksUrl), { algorithms: dcr.ssa_signing_algorithms });
  } catch (err) {
    const f = describeVerifyFailure(err, jwksUrl, 'the software_statement');
    throw fail(`SSA_${f.kind}`, f.description, { cause: err });
  }

  // 6. Time: iat required, nbf and exp when present (OB Directory SSAs carry no exp); a time is a
  // NumericDate this server accepts (crypto/time-claims.ts).
  const now = deps.now();
  const bad = checkTimeClaims(c, { now, skew, required: ['iat'] });
  if (bad) throw ssaTimeError(bad);
  if (dcr.ssa_max_age > 0 && now - (c['iat'] as number) > dcr.ssa_max_age) {
    throw fail('SSA_TOO_OLD', `software_statement is older than ${dcr.ssa_max_age} seconds; ask the directory for a new one`);
  }

  // 7. Required claims, well typed.
  for (const name of ['software_id', 'org_id'] as const) {
    if (typeof c[name] !== 'string' || !(c[name] as string).length) throw fail('SSA_CLAIM_MISSING', `software_statement claim ${name} is missing`);
  }
  if (!isHttpsUrl(c['software_jwks_endpoint'])) throw fail('SSA_CLAIM_INVALID', 'software_statement claim software_jwks_endpoint must be an https URL');
  if (!nonEmptyStrings(c['software_redirect_uris']))
    throw fail('SSA_CLAIM_INVALID', 'software_statement claim software_redirect_uris must be a non-empty array of URLs');
  if (!nonEmptyStrings(c['software_roles'])) throw fail('SSA_CLAIM_INVALID', 'software_statement claim software_roles must be a non-empty array');
  for (const name of ['software_jwks_revoked_endpoint', 'org_jwks_revoked_endpoint'] as const) {
    if (c[name] !== undefined && !isHttpsUrl(c[name])) throw fail('SSA_CLAIM_INVALID', `software_statement claim ${name} must be an https URL`);
  }

  // 8. Organisation status.
  if (c['org_status'] !== undefined && c['org_status'] !== 'Active') {
    throw fail('SSA_ORG_NOT_ACTIVE', `the organisation's status in the directory is "${String(c['org_status']).slice(0, 40)}", not Active`);
  }

  // 9. The SSA jti is deliberately not single-use: TPPs re-register with the same SSA.
  return { raw: ssa.raw, claims: c as SsaClaims };
}
