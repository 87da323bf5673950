/**
 * The time claims (iat, nbf, exp) of a JWT a client or a directory signed, checked one way for
 * every JWT the server accepts: client assertions, request objects, jwt-bearer assertions, DCR
 * request JWTs and software statements. Before this, a future iat stretched a client assertion's
 * life, and one ten years ahead made its replay record outlive what the shared state keeps (a 500).
 *
 * A time is a NumericDate (RFC 7519 §2): a finite JSON number of seconds since 1970, fractions
 * allowed. Negative numbers and anything past the year 9999 name no time a signer means, so they
 * are refused as malformed, whatever else the claim would allow. iat and nbf may not be later than
 * now plus the clock skew; exp not earlier than now minus it; and where a lifetime is bounded, the
 * JWT's validity counts from now as well as from its own iat and nbf, so no claim can make the
 * server keep a record (a jti) longer than that bound plus the skew.
 */

/** 9999-12-31T23:59:59Z: the last second any time claim may name. */
export const LATEST_TIME = 253_402_300_799;

export type TimeClaim = 'iat' | 'nbf' | 'exp';

export interface TimeClaimRules {
  /** Epoch seconds. */
  readonly now: number;
  /** Allowed clock skew, seconds ([oauth] clock_tolerance). */
  readonly skew: number;
  /** Claims that must be present. */
  readonly required?: readonly TimeClaim[];
  /** Longest validity (seconds): exp - iat, exp - nbf and exp - now (plus the skew) may not exceed it. */
  readonly maxLifetime?: number | undefined;
}

/**
 * What is wrong, by kind, so each caller answers with its own code:
 * missing, invalid (not a time), future (iat or nbf later than now + skew), expired,
 * order (exp not after iat or nbf), too_long (validity beyond maxLifetime).
 */
export interface TimeClaimProblem {
  readonly claim: TimeClaim;
  readonly kind: 'missing' | 'invalid' | 'future' | 'expired' | 'order' | 'too_long';
  /** Safe to send: names the claim and the rule, never the value. */
  readonly description: string;
}

/** True for a NumericDate this server accepts. */
export const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= LATEST_TIME;

const DESCRIBE: Record<TimeClaimProblem['kind'], (claim: TimeClaim, max?: number) => string> = {
  missing: (c) => `${c} is missing`,
  invalid: (c) => `${c} must be a time: a number of seconds since 1970-01-01T00:00:00Z, not after the year 9999`,
  future: (c) => (c === 'iat' ? 'iat is in the future' : 'nbf is in the future: not valid yet'),
  expired: () => 'exp is in the past: it has expired',
  order: (c) => `exp must be after ${c}`,
  too_long: (_c, max) => `it may be valid for at most ${max} seconds (exp - iat, exp - nbf and exp - now)`,
};

const problem = (claim: TimeClaim, kind: TimeClaimProblem['kind'], max?: number): TimeClaimProblem => ({
  claim,
  kind,
  description: DESCRIBE[kind](claim, max),
});

/**
 * The first problem of `claims`' time claims, in this order: missing, malformed, iat / nbf in the
 * future, expired, exp not after iat / nbf, too long a validity. Undefined when all hold.
 */
export function checkTimeClaims(claims: Record<string, unknown>, rules: TimeClaimRules): TimeClaimProblem | undefined {
  const { now, skew, maxLifetime } = rules;
  const order: readonly TimeClaim[] = ['iat', 'nbf', 'exp'];
  for (const c of order) {
    if (claims[c] === undefined) {
      if (rules.required?.includes(c)) return problem(c, 'missing');
    } else if (!isTime(claims[c])) {
      return problem(c, 'invalid');
    }
  }
  const iat = claims['iat'] as number | undefined;
  const nbf = claims['nbf'] as number | undefined;
  const exp = claims['exp'] as number | undefined;
  if (iat !== undefined && iat > now + skew) return problem('iat', 'future');
  if (nbf !== undefined && nbf > now + skew) return problem('nbf', 'future');
  if (exp === undefined) return undefined;
  if (exp + skew < now) return problem('exp', 'expired');
  for (const [c, start] of [
    ['iat', iat],
    ['nbf', nbf],
  ] as const) {
    if (start !== undefined && exp <= start) return problem(c, 'order');
  }
  if (maxLifetime !== undefined) {
    // A signer whose clock is ahead by up to the skew signs exp = its now + maxLifetime.
    const starts = [iat, nbf, now + skew].filter((s): s is number => s !== undefined);
    if (starts.some((s) => exp - s > maxLifetime)) return problem('exp', 'too_long', maxLifetime);
  }
  return undefined;
}

/**
 * When a one-time id (jti) of a JWT that expires at `exp` may be forgotten: exp plus the skew,
 * in whole seconds (the shared state and the SQL stores keep integer times).
 */
export const replayExpiry = (exp: number, skew: number): number => Math.ceil(exp + skew);
