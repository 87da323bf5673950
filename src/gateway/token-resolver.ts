/**
 * Which key manager owns a token, and what it says (gateway.md §2 step 4). The token handling
 * options of each enabled external key manager decide first (REFERENCE: a regular expression of
 * an opaque token; JWT: its `iss`; CUSTOM: `claim=value` of a JWT); the resident key manager owns
 * its own JWTs and the opaque tokens nobody else claims. A disabled key manager owns nothing.
 * External JWTs are self-validated (signature by `kid` from the key manager's key set, refetched
 * on an unknown kid with a cooldown and served from memory while the host is down; iss, aud,
 * exp/nbf with the configured skew); opaque ones are introspected (RFC 7662), the answer cached
 * by the SHA-256 of the whole token for at most its lifetime and a minute.
 */
import { createHash } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config/schema.ts';
import { fail } from '../errors/app-error.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import type { JwksCache } from '../crypto/jwks.ts';
import type { TokenVerifier, VerifiedToken } from '../oauth/token-verifier.ts';
import type { KeyManagerRecord } from '../storage/catalogue-records.ts';

export type Resolution = { valid: true; token: VerifiedToken } | { valid: false; description: string };

export interface TokenResolver {
  resolve(token: string, certificate: ClientCertificate): Promise<Resolution>;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const INTROSPECTION_MAX_AGE = 60;
const INTROSPECTION_NEGATIVE_AGE = 10;
const MAX_CACHED = 50_000;
/** Longest opaque token a REFERENCE pattern is tried on (opaque tokens are tens of characters). */
const MAX_REFERENCE_LENGTH = 512;
const noop = async () => undefined;
const invalid = (description: string): Resolution => ({ valid: false, description });

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

  async function selfValidate(km: KeyManagerRecord, token: string): Promise<Resolution> {
    try {
      const { payload } = await jwtVerify(token, deps.keySets.keySet(km.jwksUri!), {
        issuer: km.issuer,
        ...(km.audience ? { audience: km.audience } : {}),
        algorithms: ['PS256', 'ES256'],
        clockTolerance: deps.config.oauth.clock_tolerance,
        requiredClaims: ['exp'],
        currentDate: new Date(now() * 1000),
      });
      const t = externalToken(km, payload, 'jwt');
      return t ? { valid: true, token: t } : invalid(`the access token has no ${km.claimMapping.clientId} claim`);
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return invalid('the access token has expired');
      if (err instanceof joseErrors.JOSEError) return invalid("the access token does not verify with its key manager's keys");
      throw fail('GATEWAY_KEY_MANAGER_UNAVAILABLE', `the key set of key manager ${km.name} could not be fetched`, { cause: err });
    }
  }

  async function introspect(km: KeyManagerRecord, token: string): Promise<Resolution> {
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
    if (!hit.claims) return invalid('the key manager says the access token is not active');
    const v = externalToken(km, hit.claims, 'opaque');
    return v ? { valid: true, token: v } : invalid(`the introspection answer has no ${km.claimMapping.clientId}`);
  }

  return {
    async resolve(token, certificate) {
      let jwt: JWTPayload | undefined;
      if (JWT_SHAPE.test(token)) {
        try {
          jwt = decodeJwt(token);
        } catch {
          return invalid('the access token is not a readable JWT');
        }
      }
      const km = owner(token, jwt);
      if (!km) return invalid('no enabled key manager owns this access token');
      if (km.type === 'resident') {
        const r = await deps.verifier.verify(token, certificate);
        return r.valid ? { valid: true, token: r.token } : invalid(r.description);
      }
      return km.validation === 'jwt' ? selfValidate(km, token) : introspect(km, token);
    },
  };
}
