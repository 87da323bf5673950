/**
 * The key manager's answer to "is this access token valid, and what does it say": for whom
 * (client, software, organisation), which scopes, which grant, bound to which certificate. One
 * check for every resource: DCR management now, the gateway and introspection of JWT access
 * tokens as well. JWT access tokens are verified here (signature by kid against the keys the
 * server publishes, current and recently retired; typ, iss, aud, exp; cnf against the presented
 * certificate); opaque ones are looked up. Either way the client must still exist and carry no
 * revocation mark, so a deleted client's self-contained tokens stop working at once. The mark is
 * read here alone: `recheck` reads it again for a token a cache kept (the gateway's).
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type Provider from 'oidc-provider';
import type { Config } from '../config/schema.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import type { Storage } from '../storage/ports.ts';
import type { SharedState } from '../shared-state/ports.ts';
import { boundTo } from '../crypto/thumbprint.ts';
import { isClientRevoked, isConsentEnded } from './revocation.ts';
import { INTENT_CLAIM, tokenRefusal } from '../consent/authorisation.ts';
import type { ConsentLookup } from './consent-binding.ts';
import { RESIDENT_KEY_MANAGER } from '../storage/catalogue-records.ts';
import { COMPACT_JWT } from '../crypto/jws-shape.ts';

/** Why a token is not valid: codes of the error catalog (src/errors/codes.ts). */
export type TokenFailure = 'TOKEN_UNKNOWN' | 'TOKEN_EXPIRED' | 'TOKEN_CLAIMS_INVALID' | 'TOKEN_REVOKED' | 'TOKEN_CERT_MISMATCH';

export interface VerifiedToken {
  readonly kind: 'access_token' | 'registration_access_token';
  readonly format: 'jwt' | 'opaque';
  /**
   * The key manager that validated the token (RESIDENT_KEY_MANAGER here; an external one's name
   * in the gateway's token resolver). With `clientId` it names the application: the same client
   * id at another key manager is another application.
   */
  readonly keyManager: string;
  readonly clientId: string;
  /** From the client's registration (OB clients); undefined for bank-internal clients. */
  readonly softwareId: string | undefined;
  readonly orgId: string | undefined;
  /**
   * The TPP's roles (AISP, PISP, CBPII, …). Resident: the software_roles of the client's software
   * statement as verified at registration, never a token claim; empty for bank-internal clients.
   * External: the claim its key manager's claim mapping names for roles, else none.
   */
  readonly roles: readonly string[];
  /** The client's key set URL (jwks_uri: the software's JWKS), for checking what it signs. */
  readonly keySetUrl: string | undefined;
  /** OB consent (intent) id of a PSU token, when it names one (`openbanking_intent_id`). */
  readonly consentId: string | undefined;
  readonly scopes: readonly string[];
  /** client_credentials: the client acts for itself; psu: a user authorised it; registration: RFC 7592 token. */
  readonly grant: 'client_credentials' | 'psu' | 'registration';
  /** The PSU (psu grant) or the client (client_credentials). */
  readonly subject: string | undefined;
  /** `x5t#S256` of the certificate the token is bound to (RFC 8705), if bound. */
  readonly certificateThumbprint: string | undefined;
  readonly issuedAt: number | undefined;
  readonly expiresAt: number | undefined;
  readonly jti: string | undefined;
  readonly audience: string | string[] | undefined;
  /** Deletes the token's record (opaque tokens); a no-op for a JWT, which has none. */
  revoke(): Promise<void>;
}

export type TokenVerification =
  | { readonly valid: true; readonly token: VerifiedToken }
  | {
      readonly valid: false;
      readonly code: TokenFailure;
      readonly description: string;
      /** For a token of a client that no longer exists: deletes the token's own record, if it has one. */
      readonly revoke?: () => Promise<void>;
    };

/** Why a token is not valid. */
export type TokenRefusal = Extract<TokenVerification, { readonly valid: false }>;

export interface VerifyOptions {
  /** Also accept RFC 7592 registration access tokens (DCR management). */
  readonly registrationTokens?: boolean;
  /**
   * Check a certificate-bound token against `certificate` (default true). A resource server that
   * asks on the client's behalf (introspection) passes false and reads `certificateThumbprint`.
   */
  readonly checkCertificate?: boolean;
}

export interface TokenVerifier {
  verify(token: string, certificate: ClientCertificate | undefined, opts?: VerifyOptions): Promise<TokenVerification>;
  /**
   * For a JWT access token `verify` passed before and a cache kept: what may have changed since,
   * its client's revocation mark (a change to the registration reaches the cache as a notice).
   * Undefined while the token still stands.
   */
  recheck(token: VerifiedToken): Promise<TokenRefusal | undefined>;
}

export interface TokenVerifierDeps {
  config: Config;
  storage: Storage;
  /** Where revocation marks are (shared by every worker and host). */
  shared: Pick<SharedState, 'has'>;
  /** The current provider (rebuilt when keys or scopes change). */
  provider: () => Provider;
  /** The published public keys, current and recently retired (the same object until they change). */
  publicJwks: () => { keys: JWK[] };
  /**
   * Re-reads the signing keys from the database. Called when a JWT names a kid this process does
   * not know (another host made a key it has not heard of: a missed notice, or two hosts creating
   * their first keys at once), at most once per cooldown.
   */
  reloadKeys?: () => Promise<unknown>;
  now?: () => number;
  /** A PSU token names its consent: it stands only while the consent does (read with its expiry applied). */
  consents?: ConsentLookup;
}

/** An opaque token model as oidc-provider finds it. */
interface OpaqueModel {
  clientId: string;
  scope?: string;
  accountId?: string;
  exp?: number;
  iat?: number;
  jti: string;
  aud?: string | string[];
  'x5t#S256'?: string;
  /** extraTokenClaims of an opaque token (the consent id of a PSU token). */
  extra?: Record<string, unknown>;
  destroy(): Promise<void>;
}

const fail = (code: TokenFailure, description: string): TokenVerification => ({ valid: false, code, description });
const noop = async () => undefined;

const REVOKED = 'the client this token was issued to no longer exists';
/** A kept token is a JWT: no record of it to delete. */
const REVOKED_KEPT: TokenRefusal = Object.freeze({ valid: false, code: 'TOKEN_REVOKED', description: REVOKED });
const CONSENT_ENDED = 'the consent this token was issued for no longer stands';
const CONSENT_ENDED_KEPT: TokenRefusal = Object.freeze({ valid: false, code: 'TOKEN_REVOKED', description: CONSENT_ENDED });

export function createTokenVerifier(deps: TokenVerifierDeps): TokenVerifier {
  const { config } = deps;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  // One key resolver per published key set: jose then imports each key once.
  const resolvers = new WeakMap<{ keys: JWK[] }, ReturnType<typeof createLocalJWKSet>>();
  const resolver = () => {
    const jwks = deps.publicJwks();
    let r = resolvers.get(jwks);
    if (!r) {
      r = createLocalJWKSet(jwks);
      resolvers.set(jwks, r);
    }
    return r;
  };

  // An unknown kid reloads the keys at most this often (a flood of forged kids cannot make every
  // request read the database).
  const RELOAD_COOLDOWN_MS = 5000;
  let reloadedAt = 0;

  async function verifyJwt(token: string, retried = false): Promise<{ payload: JWTPayload } | TokenVerification> {
    try {
      const { payload } = await jwtVerify(token, resolver(), {
        issuer: config.derived.issuer,
        audience: config.derived.resource,
        typ: 'at+jwt',
        algorithms: ['PS256', 'ES256'],
        clockTolerance: config.oauth.clock_tolerance,
        requiredClaims: ['exp', 'iat', 'client_id', 'sub'],
        currentDate: new Date(now() * 1000),
      });
      if (typeof payload['client_id'] !== 'string') return fail('TOKEN_CLAIMS_INVALID', 'client_id is not a string');
      return { payload };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) return fail('TOKEN_EXPIRED', 'the access token has expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) return fail('TOKEN_CLAIMS_INVALID', `the access token's ${err.claim} claim is not valid here`);
      if (err instanceof joseErrors.JWKSNoMatchingKey && !retried && deps.reloadKeys && Date.now() - reloadedAt >= RELOAD_COOLDOWN_MS) {
        reloadedAt = Date.now();
        await deps.reloadKeys();
        return verifyJwt(token, true);
      }
      return fail('TOKEN_UNKNOWN', 'the access token is not one this server issued');
    }
  }

  async function findOpaque(
    token: string,
    registrationTokens: boolean,
  ): Promise<{ model: OpaqueModel; kind: VerifiedToken['kind']; grant: VerifiedToken['grant'] } | undefined> {
    const provider = deps.provider();
    const cc = (await provider.ClientCredentials.find(token)) as unknown as OpaqueModel | undefined;
    if (cc) return { model: cc, kind: 'access_token', grant: 'client_credentials' };
    const at = (await provider.AccessToken.find(token)) as unknown as OpaqueModel | undefined;
    if (at) return { model: at, kind: 'access_token', grant: 'psu' };
    if (!registrationTokens) return undefined;
    const rat = (await provider.RegistrationAccessToken.find(token)) as unknown as OpaqueModel | undefined;
    return rat ? { model: rat, kind: 'registration_access_token', grant: 'registration' } : undefined;
  }

  return {
    async verify(token, certificate, opts = {}) {
      let found: Omit<VerifiedToken, 'keyManager' | 'softwareId' | 'orgId' | 'roles' | 'keySetUrl'>;
      if (COMPACT_JWT.test(token)) {
        const result = await verifyJwt(token);
        if ('valid' in result) return result;
        const p = result.payload;
        const clientId = p['client_id'] as string;
        const cnf = p['cnf'] as Record<string, unknown> | undefined;
        found = {
          kind: 'access_token',
          format: 'jwt',
          clientId,
          scopes: typeof p['scope'] === 'string' ? p['scope'].split(' ').filter(Boolean) : [],
          // oidc-provider issues client_credentials tokens about the client itself.
          grant: p.sub === clientId ? 'client_credentials' : 'psu',
          subject: p.sub,
          certificateThumbprint: typeof cnf?.['x5t#S256'] === 'string' ? cnf['x5t#S256'] : undefined,
          issuedAt: p.iat,
          expiresAt: p.exp,
          jti: p.jti,
          audience: p.aud,
          consentId: typeof p[INTENT_CLAIM] === 'string' ? p[INTENT_CLAIM] : undefined,
          revoke: noop,
        };
      } else {
        const hit = await findOpaque(token, opts.registrationTokens === true);
        if (!hit) return fail('TOKEN_UNKNOWN', 'the access token is unknown or has expired');
        const m = hit.model;
        found = {
          kind: hit.kind,
          format: 'opaque',
          clientId: m.clientId,
          scopes: (m.scope ?? '').split(' ').filter(Boolean),
          grant: hit.grant,
          subject: hit.grant === 'psu' ? m.accountId : hit.grant === 'client_credentials' ? m.clientId : undefined,
          certificateThumbprint: m['x5t#S256'],
          issuedAt: m.iat,
          expiresAt: m.exp,
          jti: m.jti,
          audience: m.aud,
          consentId: typeof m.extra?.[INTENT_CLAIM] === 'string' ? m.extra[INTENT_CLAIM] : undefined,
          revoke: () => m.destroy(),
        };
      }

      if (opts.checkCertificate !== false && found.certificateThumbprint !== undefined && !boundTo(found.certificateThumbprint, certificate?.x509)) {
        return fail('TOKEN_CERT_MISMATCH', 'the access token is bound to another client certificate');
      }
      // A deleted client's tokens: its record is gone and (for JWTs, which no store holds) a
      // revocation mark stands until the last of them has expired.
      const [client, revoked] = await Promise.all([deps.storage.oidc.find('Client', found.clientId), isClientRevoked(deps.shared, found.clientId)]);
      const isStatic = config.oauth.internal_clients.some((c) => c.client_id === found.clientId);
      if (revoked || (!client && !isStatic)) {
        return { valid: false, code: 'TOKEN_REVOKED', description: REVOKED, revoke: found.revoke };
      }
      // A PSU token stands only while its consent does: read from the database (expiry applied now),
      // so a revocation mark lost with the shared state lets nothing through.
      if (found.consentId !== undefined && found.grant === 'psu') {
        const consent = deps.consents ? await deps.consents.current(found.consentId) : undefined;
        if (tokenRefusal(consent, { clientId: found.clientId, subject: found.subject }) !== undefined) {
          return { valid: false, code: 'TOKEN_REVOKED', description: CONSENT_ENDED, revoke: found.revoke };
        }
      }
      const meta = client?.payload ?? {};
      return {
        valid: true,
        token: {
          ...found,
          keyManager: RESIDENT_KEY_MANAGER,
          softwareId: typeof meta['software_id'] === 'string' ? meta['software_id'] : undefined,
          orgId: typeof meta['org_id'] === 'string' ? meta['org_id'] : undefined,
          keySetUrl: typeof meta['jwks_uri'] === 'string' ? meta['jwks_uri'] : undefined,
          roles: Array.isArray(meta['software_roles']) ? meta['software_roles'].filter((r): r is string => typeof r === 'string') : [],
        },
      };
    },

    recheck: async (token) => {
      const [client, consent] = await Promise.all([
        isClientRevoked(deps.shared, token.clientId),
        token.consentId === undefined ? false : isConsentEnded(deps.shared, token.consentId),
      ]);
      return client ? REVOKED_KEPT : consent ? CONSENT_ENDED_KEPT : undefined;
    },
  };
}

/**
 * RFC 7662 §2.2 claims for a valid JWT access token, or undefined (active: false). RFC 7662 §4 and
 * the introspection policy of oidc-provider's config: an Open Banking client may introspect only
 * its own tokens; a bank-internal client (the gateway) any. The resource server asks for the
 * client, so the certificate binding is reported (cnf), not checked.
 */
export async function introspectJwt(
  verifier: TokenVerifier,
  token: string,
  caller: { clientId: string; isOpenBanking: boolean },
): Promise<Record<string, unknown> | undefined> {
  const result = await verifier.verify(token, undefined, { checkCertificate: false });
  if (!result.valid) return undefined;
  const t = result.token;
  if (caller.isOpenBanking && t.clientId !== caller.clientId) return undefined;
  return {
    client_id: t.clientId,
    ...(t.scopes.length ? { scope: t.scopes.join(' ') } : {}),
    token_type: 'Bearer',
    ...(t.subject === undefined ? {} : { sub: t.subject }),
    ...(t.audience === undefined ? {} : { aud: t.audience }),
    ...(t.issuedAt === undefined ? {} : { iat: t.issuedAt }),
    ...(t.expiresAt === undefined ? {} : { exp: t.expiresAt }),
    ...(t.jti === undefined ? {} : { jti: t.jti }),
    ...(t.certificateThumbprint === undefined ? {} : { cnf: { 'x5t#S256': t.certificateThumbprint } }),
  };
}
