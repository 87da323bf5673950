/**
 * Which key manager owns a token, and what it says. The token handling options of each enabled
 * external key manager decide first (REFERENCE: a regular expression of an opaque token; JWT: its
 * `iss`; CUSTOM: `claim=value` of a JWT); the resident key manager owns its own JWTs and the opaque
 * tokens nobody else claims. A disabled key manager owns nothing. External JWTs are self-validated
 * (signature by `kid` from the key manager's key set, refetched on an unknown kid with a cooldown
 * and served from memory while the host is down; iss, aud, exp/nbf with the configured skew);
 * opaque ones are introspected (RFC 7662), the answer cached by the SHA-256 of the whole token for
 * at most its lifetime and a minute. A refusal is a coded 401 (GATEWAY_TOKEN_*) whose Bearer
 * challenge says which check failed: the resident verifier's own reason, or the external check's.
 */
import { createHash } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config/schema.ts';
import { type AppError, type BearerErrorCode, bearerError, fail } from '../errors/app-error.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import { KeySetError, type JwksCache } from '../crypto/jwks.ts';
import type { TokenFailure, TokenRefusal, TokenVerifier, VerifiedToken } from '../oauth/token-verifier.ts';
import { type KeyManagerRecord, RESIDENT_KEY_MANAGER } from '../storage/catalogue-records.ts';
import { COMPACT_JWT } from '../crypto/jws-shape.ts';

export interface TokenResolver {
  /**
   * The token as the key manager that owns it validated it. Throws a coded 401 with its Bearer
   * challenge (GATEWAY_TOKEN_*, saying which check refused it), or 503
   * GATEWAY_KEY_MANAGER_UNAVAILABLE when the owner could not be asked. The certificate binding is
   * not checked here: the gateway's token step checks it, for every token, cached ones too.
   */
  resolve(token: string): Promise<VerifiedToken>;
  /**
   * For a token resolved before and kept in the gateway's token cache: what its key manager says
   * has changed since, as the coded refusal (the resident one: its client's revocation mark), or
   * undefined once it says nothing has. No promise at all when its key manager has nothing to ask
   * (an external one's token), so that a cached external token costs no wait.
   */
  recheck(token: VerifiedToken): Promise<AppError | undefined> | undefined;
}

const INTROSPECTION_MAX_AGE = 60;
const INTROSPECTION_NEGATIVE_AGE = 10;
const MAX_CACHED = 50_000;
/** Longest opaque token a REFERENCE pattern is tried on (opaque tokens are tens of characters). */
const MAX_REFERENCE_LENGTH = 512;
const noop = async () => undefined;

/** The gateway's code for each reason the resident key manager's verifier gives. */
export const RESIDENT_REFUSALS = {
  TOKEN_UNKNOWN: 'GATEWAY_TOKEN_UNKNOWN',
  TOKEN_EXPIRED: 'GATEWAY_TOKEN_EXPIRED',
  TOKEN_CLAIMS_INVALID: 'GATEWAY_TOKEN_CLAIMS_INVALID',
  TOKEN_REVOKED: 'GATEWAY_TOKEN_REVOKED',
  TOKEN_CERT_MISMATCH: 'GATEWAY_TOKEN_CERT_MISMATCH',
} as const satisfies Record<TokenFailure, BearerErrorCode>;

const residentRefusal = (r: TokenRefusal): AppError => bearerError(RESIDENT_REFUSALS[r.code], r.description);
const keptRefusal = (r: TokenRefusal | undefined): AppError | undefined => (r === undefined ? undefined : residentRefusal(r));

/** Scopes from a claim: a space-separated string (RFC 9068) or an array (scp, Okta, Azure AD). */
function scopesOf(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * What an external key manager's token says, in the verifier's terms: a client of that key
 * manager (never a resident one, whatever its client id), whose roles come only from the claim
 * the key manager's mapping names for them.
 */
function externalToken(km: KeyManagerRecord, claims: Record<string, unknown>, format: VerifiedToken['format']): VerifiedToken | undefined {
  const clientId = claims[km.claimMapping.clientId];
  if (typeof clientId !== 'string' || clientId === '') return undefined;
  const cnf = claims['cnf'] as Record<string, unknown> | undefined;
  const sub = typeof claims['sub'] === 'string' ? claims['sub'] : undefined;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return {
    kind: 'access_token',
    format,
    keyManager: km.name,
    clientId,
    softwareId: undefined,
    orgId: undefined,
    keySetUrl: undefined,
    roles: km.claimMapping.roles ? scopesOf(claims[km.claimMapping.roles]) : [],
    consentId: typeof claims['openbanking_intent_id'] === 'string' ? claims['openbanking_intent_id'] : undefined,
    scopes: scopesOf(claims[km.claimMapping.scopes]),
    grant: sub === undefined || sub === clientId ? 'client_credentials' : 'psu',
    subject: sub,
    certificateThumbprint: typeof cnf?.['x5t#S256'] === 'string' ? cnf['x5t#S256'] : undefined,
    issuedAt: num(claims['iat']),
    expiresAt: num(claims['exp']),
    jti: typeof claims['jti'] === 'string' ? claims['jti'] : undefined,
    audience: claims['aud'] as string | string[] | undefined,
    revoke: noop,
  };
}

export function createTokenResolver(deps: {
  config: Config;
  verifier: TokenVerifier;
  keySets: Pick<JwksCache, 'keySet'>;
  fetch: OutboundFetch;
  keyManagers: () => readonly KeyManagerRecord[];
  now?: () => number;
}): TokenResolver {
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const patterns = new Map<string, RegExp>();
  const pattern = (source: string) => {
    let re = patterns.get(source);
    if (!re) {
      re = new RegExp(`^(?:${source})$`, 'u');
      patterns.set(source, re);
    }
    return re;
  };
  const introspected = new Map<string, { claims: Record<string, unknown> | null; until: number }>();

  function owner(token: string, jwt: JWTPayload | undefined): KeyManagerRecord | undefined {
    const enabled = deps.keyManagers().filter((k) => k.enabled);
    for (const km of enabled) {
      if (km.type === 'resident') continue;
      for (const rule of km.tokenHandling) {
        // Bounded input for an administrator's pattern (JavaScript regular expressions backtrack).
        if (rule.type === 'REFERENCE' && !jwt && token.length <= MAX_REFERENCE_LENGTH && pattern(rule.value).test(token)) return km;
        if (rule.type === 'JWT' && jwt?.iss === rule.value) return km;
        if (rule.type === 'CUSTOM' && jwt) {
          const i = rule.value.indexOf('=');
          if (String(jwt[rule.value.slice(0, i)]) === rule.value.slice(i + 1)) return km;
        }
      }
    }
    const resident = enabled.find((k) => k.type === 'resident');
    // The resident key manager owns its own JWTs and the opaque tokens no one else claimed.
    if (!resident || (jwt && jwt.iss !== deps.config.derived.issuer)) return undefined;
    return resident;
  }

  async function selfValidate(km: KeyManagerRecord, token: string): Promise<VerifiedToken> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, deps.keySets.keySet(km.jwksUri!), {
        issuer: km.issuer,
        ...(km.audience ? { audience: km.audience } : {}),
        algorithms: ['PS256', 'ES256'],
        clockTolerance: deps.config.oauth.clock_tolerance,
        requiredClaims: ['exp'],
        currentDate: new Date(now() * 1000),
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw bearerError('GATEWAY_TOKEN_EXPIRED', 'the access token has expired');
      // The claim's name is jose's (iss, aud, nbf, exp), never the token's text.
      if (err instanceof joseErrors.JWTClaimValidationFailed)
        throw bearerError('GATEWAY_TOKEN_CLAIMS_INVALID', `the access token's ${err.claim} claim is not valid here`);
      // A kid the key set lacks, even after a refetch: a token the key manager did not sign, not an outage.
      if (err instanceof KeySetError && err.code === 'no_matching_key') {
        throw bearerError('GATEWAY_TOKEN_UNKNOWN', "the access token names no key of its key manager's key set");
      }
      if (err instanceof joseErrors.JOSEError)
        throw bearerError('GATEWAY_TOKEN_UNKNOWN', "the access token's signature does not verify with its key manager's keys");
      throw fail('GATEWAY_KEY_MANAGER_UNAVAILABLE', `the key set of key manager ${km.name} could not be fetched`, { cause: err });
    }
    const t = externalToken(km, payload, 'jwt');
    if (!t) throw bearerError('GATEWAY_TOKEN_CLAIMS_INVALID', `the access token has no ${km.claimMapping.clientId} claim`);
    return t;
  }

  async function introspect(km: KeyManagerRecord, token: string): Promise<VerifiedToken> {
    const key = createHash('sha256').update(token).digest('base64url');
    const t = now();
    let hit = introspected.get(key);
    if (!hit || hit.until <= t) {
      let body: Record<string, unknown>;
      try {
        const res = await deps.fetch(km.introspectionEndpoint!, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
            authorization: `Basic ${Buffer.from(`${encodeURIComponent(km.introspectionClient!.clientId)}:${encodeURIComponent(km.introspectionClient!.clientSecret)}`).toString('base64')}`,
          },
          body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        });
        if (res.status !== 200) throw new Error(`introspection answered ${res.status}`);
        body = (await res.json()) as Record<string, unknown>;
      } catch (err) {
        throw fail('GATEWAY_KEY_MANAGER_UNAVAILABLE', `key manager ${km.name} could not introspect the token`, { cause: err });
      }
      const active = body['active'] === true && (typeof body['exp'] !== 'number' || body['exp'] > t);
      const until = active
        ? Math.min(typeof body['exp'] === 'number' ? body['exp'] : t + INTROSPECTION_MAX_AGE, t + INTROSPECTION_MAX_AGE)
        : t + INTROSPECTION_NEGATIVE_AGE;
      hit = { claims: active ? body : null, until };
      if (introspected.size >= MAX_CACHED) introspected.delete(introspected.keys().next().value!);
      introspected.set(key, hit);
    }
    if (!hit.claims) throw bearerError('GATEWAY_TOKEN_INACTIVE', 'the key manager says the access token is not active');
    const v = externalToken(km, hit.claims, 'opaque');
    if (!v) throw bearerError('GATEWAY_TOKEN_CLAIMS_INVALID', `the introspection answer has no ${km.claimMapping.clientId} claim`);
    return v;
  }

  return {
    async resolve(token) {
      let jwt: JWTPayload | undefined;
      if (COMPACT_JWT.test(token)) {
        try {
          jwt = decodeJwt(token);
        } catch {
          throw bearerError('GATEWAY_TOKEN_MALFORMED', 'the access token is not a readable JWT');
        }
      }
      const km = owner(token, jwt);
      if (!km) throw bearerError('GATEWAY_TOKEN_NO_KEY_MANAGER', 'no enabled key manager owns this access token');
      if (km.type === 'resident') {
        // The binding is the token step's to check, for this token and every cached one alike.
        const r = await deps.verifier.verify(token, undefined, { checkCertificate: false });
        if (!r.valid) throw residentRefusal(r);
        return r.token;
      }
      return km.validation === 'jwt' ? selfValidate(km, token) : introspect(km, token);
    },
    recheck: (token) => (token.keyManager === RESIDENT_KEY_MANAGER ? deps.verifier.recheck(token).then(keptRefusal) : undefined),
  };
}
