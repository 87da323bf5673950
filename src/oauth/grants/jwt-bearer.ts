/**
 * RFC 7523 §2.1 JWT bearer authorization grant (urn:ietf:params:oauth:grant-type:jwt-bearer),
 * which oidc-provider does not ship. The assertion is verified with jose against the configured
 * trusted issuer's keys; aud, iss, exp, iat and a single-use jti are all required.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify, errors as joseErrors, type JWTVerifyGetKey, type JSONWebKeySet } from 'jose';
import type Provider from 'oidc-provider';
import { errors as oidcErrors } from 'oidc-provider';
import type { Config } from '../../config/schema.ts';
import type { OneTimeIds } from '../replay.ts';
import { providerCall } from '../unavailable.ts';
import { checkTimeClaims, replayExpiry } from '../../crypto/time-claims.ts';
import type { JwksCache } from '../../crypto/jwks.ts';
import type { ClientCertificate } from '../../http/client-cert.ts';
import type { IncomingMessage } from 'node:http';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

interface Issuer {
  issuer: string;
  keys: JWTVerifyGetKey;
  subjectClaim: string;
}

/**
 * The trusted issuers' key sets: inline ones, or remote ones through the server's shared key set
 * cache (the same allow-listed fetch, max-age, cooldown and stale rules as the directory's).
 */
export function createTrustedIssuers(config: Config, keySets: JwksCache): Map<string, Issuer> {
  const out = new Map<string, Issuer>();
  for (const t of config.oauth.grant_type.jwt_bearer.trusted_issuers) {
    const keys = t.jwks ? createLocalJWKSet(t.jwks as unknown as JSONWebKeySet) : keySets.keySet(t.jwks_url!);
    out.set(t.issuer, { issuer: t.issuer, keys, subjectClaim: t.subject_claim });
  }
  return out;
}

type Ctx = {
  req: IncomingMessage;
  oidc: {
    params: Record<string, string | undefined>;
    client: { clientId: string; scope?: string; tlsClientCertificateBoundAccessTokens?: boolean };
    provider: Provider;
    entity(name: string, v: unknown): void;
  };
  body: unknown;
};

/** Registers the grant on a provider instance. */
export function registerJwtBearerGrant(
  provider: Provider,
  deps: {
    config: Config;
    issuers: Map<string, Issuer>;
    replay: OneTimeIds;
    scopes: readonly string[];
    clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
  },
): void {
  const { config } = deps;
  const { InvalidGrant, InvalidRequest, InvalidScope } = oidcErrors as unknown as {
    InvalidGrant: new (d: string) => Error;
    InvalidRequest: new (d: string) => Error;
    InvalidScope: new (d: string, s: string) => Error;
  };
  const tokenEndpoint = `${config.derived.issuer}/oauth2/token`;
  const audiences = [tokenEndpoint, config.derived.issuer, `${config.derived.baseUrl}/oauth2/token`];
  const resource = config.derived.resource;
  const maxLifetime = config.oauth.grant_type.jwt_bearer.max_lifetime;

  const handler = async (ctx: Ctx) => {
    const { params, client } = ctx.oidc;
    const assertion = params['assertion'];
    if (!assertion) throw new InvalidRequest('missing required parameter "assertion"');

    let iss: unknown;
    try {
      ({ iss } = decodeJwt(assertion));
    } catch {
      throw new InvalidGrant('assertion is not a valid JWT');
    }
    const issuer = typeof iss === 'string' ? deps.issuers.get(iss) : undefined;
    if (!issuer) throw new InvalidGrant('assertion issuer is not trusted');

    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, issuer.keys, {
        issuer: issuer.issuer,
        audience: audiences,
        algorithms: ['PS256', 'ES256'],
        clockTolerance: config.oauth.clock_tolerance,
        maxTokenAge: maxLifetime,
        requiredClaims: ['exp', 'iat', 'jti', issuer.subjectClaim],
      }));
    } catch (err) {
      const why =
        err instanceof joseErrors.JWTExpired
          ? 'assertion has expired'
          : err instanceof joseErrors.JWTClaimValidationFailed
            ? `assertion claim "${err.claim}" is invalid`
            : err instanceof joseErrors.JOSEAlgNotAllowed
              ? 'assertion signing algorithm is not allowed'
              : err instanceof joseErrors.JWKSNoMatchingKey
                ? 'no key of the issuer matches the assertion'
                : 'assertion signature or format is invalid';
      throw new InvalidGrant(why);
    }
    const sub = payload[issuer.subjectClaim];
    if (typeof sub !== 'string' || !sub) throw new InvalidGrant(`assertion claim "${issuer.subjectClaim}" is invalid`);
    // jose has checked types, exp, nbf and iat's age; the rules every JWT here follows as well
    // (a time is a sane NumericDate, the validity counts from iat, nbf and now).
    const bad = checkTimeClaims(payload as Record<string, unknown>, {
      now: Math.floor(Date.now() / 1000),
      skew: config.oauth.clock_tolerance,
      required: ['exp', 'iat'],
      maxLifetime,
    });
    if (bad) throw new InvalidGrant(bad.kind === 'too_long' ? 'assertion lifetime is too long' : `assertion claim "${bad.claim}" is invalid`);
    // The shared state takes ids of bounded length: a longer or non-string jti is the client's error, not ours.
    const jti = payload.jti;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) throw new InvalidGrant('assertion claim "jti" is invalid');
    // RFC 7523 §3: the jti must not be replayed; kept until the assertion expires, shared by all workers.
    const first = await providerCall(() => deps.replay.remember(`jwt-bearer:${issuer.issuer}`, jti, replayExpiry(payload.exp!, config.oauth.clock_tolerance)));
    if (!first) throw new InvalidGrant('assertion has already been used (jti replay)');

    const allowed = new Set((client.scope ?? deps.scopes.join(' ')).split(' '));
    const requested = (params['scope'] ?? '').split(' ').filter(Boolean);
    for (const s of requested) {
      if (!allowed.has(s) || !deps.scopes.includes(s)) throw new InvalidScope('requested scope is not allowed', s);
    }
    const resourceScopes = requested.filter((s) => s !== 'openid');

    const grant = new provider.Grant({ accountId: sub, clientId: client.clientId });
    if (resourceScopes.length) grant.addResourceScope(resource, resourceScopes.join(' '));
    const grantId = await grant.save();

    const info = {
      scope: resourceScopes.join(' '),
      audience: resource,
      accessTokenFormat: config.oauth.token_generation.access_token_type,
      ...(config.oauth.token_generation.access_token_type === 'jwt' ? { jwt: { sign: { alg: config.oauth.token_generation.signing_algorithm } } } : {}),
    };
    const token = new provider.AccessToken({
      accountId: sub,
      client: client as never,
      grantId,
      gty: 'jwt_bearer',
      scope: resourceScopes.join(' ') || undefined,
    } as never);
    (token as unknown as { resourceServer: unknown }).resourceServer = new provider.ResourceServer(resource, info);

    if (client.tlsClientCertificateBoundAccessTokens) {
      const cert = deps.clientCert(ctx.req);
      if (!cert) throw new InvalidGrant('mutual TLS client certificate not provided');
      (token as unknown as { setThumbprint(k: string, v: string): void }).setThumbprint('x5t', cert.pem);
    }

    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      expires_in: (token as unknown as { expiration: number }).expiration,
      token_type: 'Bearer',
      scope: resourceScopes.join(' ') || undefined,
    };
  };

  provider.registerGrantType(JWT_BEARER, handler as never, ['assertion', 'scope'] as never);
}
