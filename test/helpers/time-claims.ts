/**
 * The table of time claim values every JWT the server accepts is tried with: absent,
 * wrong JSON types, negative, zero, fractional, huge (1e300, Number.MAX_SAFE_INTEGER + 2, exponent
 * forms, 1e309 which JSON.parse reads as Infinity), past and future, and the reported case
 * "iat a day (or ten years) ahead with exp just after it". Values are raw JSON text, so forms
 * JSON.stringify cannot produce (9007199254740993, 1E+20, -0, 1e309) reach the server as written;
 * payloads and headers are signed as raw bytes for the same reason.
 */
import { constants, sign as nodeSign, type KeyObject } from 'node:crypto';
import { base64url, CompactSign, type CryptoKey } from 'jose';

export type TimeClaim = 'iat' | 'nbf' | 'exp';

/** What the JWT's rules are: bounded (a maximum lifetime or age applies) or, for software statements, unbounded. */
export type JwtKind = 'bounded' | 'unbounded';

export interface CaseContext {
  readonly kind: JwtKind;
  readonly claim: TimeClaim;
  /** The JWT must carry this claim. */
  readonly required: boolean;
}

export interface TimeCase {
  readonly name: string;
  /** Claim overrides as raw JSON text (undefined removes the claim), given now (epoch seconds). */
  readonly claims: (now: number, claim: TimeClaim) => Record<string, string | undefined>;
  /** Whether a JWT with these claims must be accepted; refused otherwise. */
  readonly accepted?: (c: CaseContext) => boolean;
}

/** `n` as a decimal with an exponent, e.g. 1765432110 → "1.76543211E+9" (exact). */
const exponentForm = (n: number): string => {
  const digits = String(n);
  return `${digits[0]}.${digits.slice(1)}E+${digits.length - 1}`;
};

const TEN_YEARS = 10 * 365 * 86400;
const only = (raw: (now: number, claim: TimeClaim) => string) => (now: number, claim: TimeClaim) => ({ [claim]: raw(now, claim) });
const startClaim = (c: CaseContext) => c.claim !== 'exp';

export const TIME_CASES: readonly TimeCase[] = [
  { name: 'absent', claims: (_now, claim) => ({ [claim]: undefined }), accepted: (c) => !c.required },
  { name: 'a numeric string', claims: only((now) => `"${now}"`) },
  { name: 'a word', claims: only(() => '"now"') },
  { name: 'an empty string', claims: only(() => '""') },
  { name: 'null', claims: only(() => 'null') },
  { name: 'true', claims: only(() => 'true') },
  { name: 'false', claims: only(() => 'false') },
  { name: 'an empty array', claims: only(() => '[]') },
  { name: 'an array holding now', claims: only((now) => `[${now}]`) },
  { name: 'an empty object', claims: only(() => '{}') },
  { name: 'an object holding now', claims: only((now) => `{"$date":${now}}`) },
  { name: '-1', claims: only(() => '-1') },
  { name: 'minus now', claims: only((now) => `-${now}`) },
  { name: '-1e300', claims: only(() => '-1e300') },
  { name: '-1e309 (-Infinity)', claims: only(() => '-1e309') },
  // 1970: valid times, but no bounded JWT may have been valid since then, nor have expired then.
  { name: '0', claims: only(() => '0'), accepted: (c) => c.kind === 'unbounded' && startClaim(c) },
  { name: '-0', claims: only(() => '-0'), accepted: (c) => c.kind === 'unbounded' && startClaim(c) },
  { name: '1.5 (fractional, 1970)', claims: only(() => '1.5'), accepted: (c) => c.kind === 'unbounded' && startClaim(c) },
  { name: '1e300', claims: only(() => '1e300') },
  { name: 'Number.MAX_SAFE_INTEGER + 2', claims: only(() => '9007199254740993') },
  { name: 'Number.MAX_SAFE_INTEGER', claims: only(() => '9007199254740991') },
  { name: '1e309 (Infinity)', claims: only(() => '1e309') },
  { name: '1E+20', claims: only(() => '1E+20') },
  { name: 'the first second of the year 10000', claims: only(() => '253402300800') },
  // The year 2762: a time, far ahead; only a software statement's exp may say so.
  { name: '2.5e10', claims: only(() => '2.5e10'), accepted: (c) => c.kind === 'unbounded' && c.claim === 'exp' },
  { name: 'two days ahead', claims: only((now) => String(now + 2 * 86400)), accepted: (c) => c.kind === 'unbounded' && c.claim === 'exp' },
  { name: 'ten years ahead', claims: only((now) => String(now + TEN_YEARS)), accepted: (c) => c.kind === 'unbounded' && c.claim === 'exp' },
  { name: 'ten years ahead, fractional', claims: only((now) => `${now + TEN_YEARS}.5`), accepted: (c) => c.kind === 'unbounded' && c.claim === 'exp' },
  { name: 'ten years ago', claims: only((now) => String(now - TEN_YEARS)), accepted: (c) => c.kind === 'unbounded' && startClaim(c) },
  { name: 'an hour off, fractional (iat, nbf ahead; exp behind)', claims: only((now, claim) => (claim === 'exp' ? `${now - 3600}.5` : `${now + 3600}.5`)) },
  { name: 'a second ago (exp: before iat)', claims: only((now) => String(now - 1)), accepted: startClaim },
  // .3 has no exact binary form: stores that keep whole seconds (PostgreSQL BIGINT, Redis PX) must be handed one.
  { name: 'fractional and valid', claims: only((now, claim) => (claim === 'exp' ? `${now + 60}.3` : `${now - 1}.3`)), accepted: () => true },
  { name: 'exponent form and valid', claims: only((now, claim) => exponentForm(claim === 'exp' ? now + 120 : now - 10)), accepted: () => true },
  // The reported case: iat (or nbf) ahead, with exp consistent with it.
  {
    name: 'a day ahead, exp 30 minutes later',
    claims: (now, claim) => (claim === 'exp' ? { exp: String(now + 86400 + 1800) } : { [claim]: String(now + 86400), exp: String(now + 86400 + 1800) }),
    accepted: (c) => c.kind === 'unbounded' && c.claim === 'exp',
  },
  {
    name: 'ten years ahead, exp 30 minutes later',
    claims: (now, claim) =>
      claim === 'exp' ? { exp: String(now + TEN_YEARS + 1800) } : { [claim]: String(now + TEN_YEARS), exp: String(now + TEN_YEARS + 1800) },
    accepted: (c) => c.kind === 'unbounded' && c.claim === 'exp',
  },
];

/** The JSON text of `claims` with `overrides` (raw JSON text; undefined removes the member). */
export function rawJson(claims: Record<string, unknown>, overrides: Record<string, string | undefined>): string {
  const members = Object.entries(claims)
    .filter(([k]) => !(k in overrides))
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) members.push(`${JSON.stringify(k)}:${v}`);
  return `{${members.join(',')}}`;
}

/** A compact JWS over the exact bytes of `payloadJson`. */
export function signRawJwt(payloadJson: string, header: Record<string, unknown>, key: KeyObject | CryptoKey): Promise<string> {
  return new CompactSign(new TextEncoder().encode(payloadJson)).setProtectedHeader(header as never).sign(key);
}

/**
 * A detached JWS with an unencoded payload (RFC 7797, b64 false) over `body`, its protected
 * header given as raw JSON text: PS256 signed here, since jose would re-serialise the header.
 */
export function signDetachedRaw(headerJson: string, body: string, key: KeyObject): string {
  const protectedHeader = base64url.encode(headerJson);
  const signature = nodeSign('sha256', Buffer.from(`${protectedHeader}.${body}`), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return `${protectedHeader}..${base64url.encode(signature)}`;
}
