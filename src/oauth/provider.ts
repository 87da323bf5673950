/**
 * oidc-provider configuration built from Config. oidc-provider (OpenID-certified, FAPI profiles)
 * does the protocol; this file only decides the Open Banking policy around it.
 */
import type { IncomingMessage } from 'node:http';
import Provider, { errors as oidcErrors } from 'oidc-provider';
import type { JWK } from 'jose';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import type { ClientCertificate } from '../http/client-cert.ts';
import { dnEquals, certificateSubjectDn } from '../crypto/dn.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import type { AccountService } from './accounts.ts';
import { OAUTH_ROUTES, INTERACTION_PREFIX } from './routes.ts';
import { requestContext } from '../http/front.ts';
import { checkTimeClaims } from '../crypto/time-claims.ts';
import { COMPACT_JWT } from '../crypto/jws-shape.ts';
import { INTENT_CLAIM } from '../consent/authorisation.ts';
import { consentOf, type ConsentBinding } from './consent-binding.ts';

/** The OB security profile's acr values: strong customer authentication, or an exemption applied. */
export const OB_ACR_VALUES = ['urn:openbanking:psd2:sca', 'urn:openbanking:psd2:ca'] as const;

/** The token response member OB adds when a refresh token with an end is issued (NumericDate). */
const REFRESH_TOKEN_EXPIRES_AT = 'http://openbanking.org.uk/refresh_token_expires_at';

/** Client metadata that only Open Banking (DCR-registered) clients carry. */
export const OB_CLIENT_METADATA = [
  'software_id',
  'software_statement',
  'org_id',
  'org_name',
  'software_roles',
  'software_environment',
  'software_client_name',
  'software_jwks_endpoint',
  'software_on_behalf_of_org',
  'registration_version',
  'ob_application_type',
] as const;

export interface ProviderDeps {
  config: Config;
  logger: Logger;
  adapter: (name: string) => unknown;
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  scopes: readonly string[];
  /**
   * Deleted scopes: still recognised in client metadata (so clients registered with them keep
   * working) but never granted.
   */
  retiredScopes?: readonly string[];
  accounts: AccountService;
  clientCert: (req: IncomingMessage) => ClientCertificate | undefined;
  fetch: OutboundFetch;
  /** Told every token endpoint success: grant type and the client's authentication method (metrics). */
  onTokenIssued?: ((grantType: string, authMethod: string, clientId: string | undefined) => void) | undefined;
  /**
   * RFC 7662 for JWT access tokens, which oidc-provider cannot look up: the claims to answer with
   * when the token is valid and the caller may see it, else undefined (active: false stands).
   */
  introspectJwt?: ((token: string, caller: { clientId: string; isOpenBanking: boolean }) => Promise<Record<string, unknown> | undefined>) | undefined;
  /** Open Banking consent around the protocol (consent-binding.ts). */
  consents: ConsentBinding;
}

/** A client is an Open Banking client when it was registered with a software statement. */
export function isOpenBankingClient(client: { [k: string]: unknown } | undefined): boolean {
  return Boolean(client && (client as Record<string, unknown>)['software_id']);
}

// FAPI 1.0 Advanced §5.2.2-13: a request object lives at most 60 minutes after its nbf.
const FAPI_REQUEST_OBJECT_LIFETIME = 3600;

const epochNow = () => Math.floor(Date.now() / 1000);

// Scopes that only name OpenID Connect claims or refresh tokens, never an API (see `claims` below).
const OIDC_SCOPES = new Set(['openid', 'offline_access', 'profile', 'email']);

function sanMatches(cert: ClientCertificate, property: string, expected: string): boolean {
  const san = cert.x509.subjectAltName ?? '';
  const entries = san.split(/,\s*/).map((e) => {
    const i = e.indexOf(':');
    return [e.slice(0, i), e.slice(i + 1)] as const;
  });
  const kind = (
    {
      tls_client_auth_san_dns: 'DNS',
      tls_client_auth_san_uri: 'URI',
      tls_client_auth_san_ip: 'IP Address',
      tls_client_auth_san_email: 'email',
    } as Record<string, string>
  )[property];
  return (
    Boolean(kind) && entries.some(([k, v]) => k === kind && (kind === 'DNS' || kind === 'email' ? v.toLowerCase() === expected.toLowerCase() : v === expected))
  );
}

/** Builds a configured oidc-provider instance. Cheap enough to rebuild when keys or scopes change. */
export function buildProvider(deps: ProviderDeps): Provider {
  const { config, accounts } = deps;
  const ttl = config.oauth.token_validity;
  const resource = config.derived.resource;
  const scopeList = [...deps.scopes];
  const resourceScopes = scopeList.filter((s) => s !== 'openid' && s !== 'offline_access').join(' ');
  const accessTokenFormat = config.oauth.token_generation.access_token_type;
  const signingAlg = config.oauth.token_generation.signing_algorithm;
  // One list for every JWS a client signs or asks us to sign (client assertions, request objects,
  // ID tokens, JARM, userinfo, introspection): what DCR accepts is what discovery advertises.
  const algorithms = [...config.open_banking.dcr.signing_algorithms];
  const defaultAlg = (algorithms as string[]).includes(signingAlg) ? signingAlg : algorithms[0]!;
  const certOf = (ctx: { req: IncomingMessage }) => deps.clientCert(ctx.req);
  const obAuthMethods = config.open_banking.dcr.token_endpoint_auth_methods;

  const provider = new Provider(config.derived.issuer, {
    adapter: deps.adapter as never,
    jwks: deps.jwks as never,
    cookies: { keys: deps.cookieKeys, long: { signed: true, httpOnly: true, sameSite: 'lax' }, short: { signed: true, httpOnly: true, sameSite: 'lax' } },
    clients: config.oauth.internal_clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      grant_types: c.grant_types,
      response_types: c.grant_types.includes('authorization_code') ? ['code'] : [],
      redirect_uris: c.redirect_uris,
      scope: c.scope || undefined,
      token_endpoint_auth_method: c.token_endpoint_auth_method,
    })),
    scopes: [...new Set([...scopeList, ...(deps.retiredScopes ?? [])])],
    // openbanking_intent_id stands alone (no scope names it): a TPP asks for it in the claims parameter.
    claims: { openid: ['sub'], profile: ['name'], email: ['email'], [INTENT_CLAIM]: null },
    acrValues: [...OB_ACR_VALUES],
    routes: OAUTH_ROUTES,
    discovery: {
      claim_types_supported: ['normal'],
      ...(config.open_banking.dcr.enabled ? { registration_endpoint: config.derived.registrationEndpoint } : {}),
    },
    responseTypes: ['code', 'code id_token'],
    clientAuthMethods: ['private_key_jwt', 'tls_client_auth', 'client_secret_basic', 'client_secret_post'],
    enabledJWA: {
      clientAuthSigningAlgValues: algorithms,
      idTokenSigningAlgValues: algorithms,
      requestObjectSigningAlgValues: algorithms,
      authorizationSigningAlgValues: algorithms,
      userinfoSigningAlgValues: algorithms,
      introspectionSigningAlgValues: algorithms,
    } as never,
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      id_token_signed_response_alg: defaultAlg,
      authorization_signed_response_alg: defaultAlg,
      token_endpoint_auth_method: 'private_key_jwt',
    } as never,
    extraClientMetadata: { properties: [...OB_CLIENT_METADATA] },
    clockTolerance: config.oauth.clock_tolerance,
    // Runs after the assertion's signature has been checked and before its jti is recorded.
    // oidc-provider checks iat only when exp is absent: a future iat stretched an assertion's life,
    // and its replay record then outlived what the shared state keeps (a 500). Every time claim
    // must be a time, iat and nbf not in the future, and the validity counts from now too.
    assertJwtClientAuthClaimsAndHeader: async (ctx: { oidc: { isFapi(...p: string[]): boolean; issuer: string } }, claims: Record<string, unknown>) => {
      if (ctx.oidc.isFapi('2.0') && claims['aud'] !== ctx.oidc.issuer)
        throw new oidcErrors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
      const bad = checkTimeClaims(claims, {
        now: epochNow(),
        skew: config.oauth.clock_tolerance,
        required: ['exp'],
        maxLifetime: config.oauth.client_assertion_max_lifetime,
      });
      if (bad) throw new oidcErrors.InvalidClientAuth(`client assertion: ${bad.description}`);
    },
    // PKCE (S256) for every authorization_code flow, FAPI or not.
    pkce: { required: () => true },
    rotateRefreshToken: config.oauth.token_renewal.renew_refresh_token,
    issueRefreshToken: async (ctx: unknown, client: { grantTypeAllowed(g: string): boolean }) =>
      client.grantTypeAllowed('refresh_token') && deps.consents.refreshTokenAllowed(ctx),
    extraTokenClaims: async (ctx: unknown, token: never) => deps.consents.extraTokenClaims(ctx, token),
    loadExistingGrant: (ctx: never) => deps.consents.loadExistingGrant(ctx),
    ttl: {
      AccessToken: ttl.access_token,
      ClientCredentials: ttl.client_credentials_token,
      AuthorizationCode: ttl.authorization_code,
      IdToken: ttl.id_token,
      // A consent's refresh token lives until the consent ends (OB RW profile); others as configured.
      RefreshToken: (ctx: unknown) => deps.consents.refreshTokenTtl(ctx),
      Session: ttl.session,
      Interaction: ttl.interaction,
      Grant: ttl.grant,
      PushedAuthorizationRequest: 60,
    },
    // Runs first when a code or refresh token is used: its consent must still stand (consent-binding.ts).
    findAccount: async (ctx: unknown, sub: string, token: never) => {
      await deps.consents.checkToken(ctx, sub, token);
      const account = accounts.find(sub);
      const consent = consentOf(ctx);
      if (!account || !consent) return account;
      return { ...account, claims: async () => ({ ...account.claims(), [INTENT_CLAIM]: consent.id }) };
    },
    interactions: {
      policy: deps.consents.policy(),
      url: (_ctx: unknown, interaction: { uid: string }) => `${INTERACTION_PREFIX}${interaction.uid}`,
    },
    fetch: ((url: string | URL, options: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }) =>
      deps.fetch(url, options)) as never,
    features: {
      devInteractions: { enabled: false },
      // OB names the consent in the request object's claims parameter (openbanking_intent_id).
      claimsParameter: { enabled: true },
      // Open Banking binds tokens with mTLS (cnf.x5t#S256); DPoP is not part of the profile.
      dPoP: { enabled: false },
      registration: { enabled: false },
      introspection: {
        enabled: true,
        // RFC 7662 §4: a TPP may introspect only its own tokens; bank-internal clients (the gateway) any.
        allowedPolicy: async (_ctx: unknown, caller: Record<string, unknown> & { clientId: string }, token: { clientId?: string }) =>
          !isOpenBankingClient(caller) || token.clientId === caller.clientId,
      },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: a client may revoke only tokens issued to itself; anything else is refused with an error.
        allowedPolicy: async (_ctx: unknown, caller: { clientId: string }, token: { clientId?: string }) => {
          if (token.clientId !== caller.clientId) throw new oidcErrors.InvalidRequest('client is not authorized to revoke the presented token');
          return true;
        },
      },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      jwtResponseModes: { enabled: true },
      requestObjects: {
        enabled: true,
        requireSignedRequestObject: false,
        // oidc-provider's FAPI rule (exp, aud and nbf required; at most an hour from nbf to exp),
        // plus the time claims as every JWT here: oidc-provider lets a future iat pass when exp is set.
        assertJwtClaimsAndHeader: async (ctx: { oidc: { isFapi(...p: string[]): boolean } }, claims: Record<string, unknown>) => {
          const fapi = ctx.oidc.isFapi('1.0 Final', '2.0');
          if (fapi) {
            for (const c of ['exp', 'aud', 'nbf'])
              if (claims[c] === undefined) throw new oidcErrors.InvalidRequestObject(`Request Object is missing the '${c}' claim`);
          }
          const bad = checkTimeClaims(claims, {
            now: epochNow(),
            skew: config.oauth.clock_tolerance,
            maxLifetime: fapi ? FAPI_REQUEST_OBJECT_LIFETIME : undefined,
          });
          if (bad) throw new oidcErrors.InvalidRequestObject(`Request Object: ${bad.description}`);
        },
      },
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      fapi: {
        enabled: true,
        // FAPI 1.0 Advanced for Open Banking clients; bank-internal clients are not FAPI clients.
        profile: (_ctx: unknown, client: Record<string, unknown> | undefined) => (isOpenBankingClient(client) ? '1.0 Final' : undefined),
      },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: false,
        getCertificate: (ctx: { req: IncomingMessage }) => certOf(ctx)?.pem,
        certificateAuthorized: (ctx: { req: IncomingMessage }) => certOf(ctx)?.authorized === true,
        certificateSubjectMatches: (ctx: { req: IncomingMessage }, property: string, expected: string) => {
          const cert = certOf(ctx);
          if (!cert) return false;
          if (property === 'tls_client_auth_subject_dn') {
            try {
              return dnEquals(certificateSubjectDn(cert.x509), expected);
            } catch {
              return false;
            }
          }
          return sanMatches(cert, property, expected);
        },
      },
      resourceIndicators: {
        enabled: true,
        // oidc-provider never lets one token serve both the APIs and userinfo (userinfo refuses any
        // token with an audience), so a request for OIDC scopes only (e.g. "openid") gets a
        // userinfo token; anything with an API scope gets the API resource, as OB TPPs expect.
        defaultResource: (ctx: { oidc: { params?: { scope?: unknown } } }) => {
          const requested = String(ctx.oidc.params?.scope ?? '')
            .split(' ')
            .filter(Boolean);
          return requested.length > 0 && requested.every((s) => OIDC_SCOPES.has(s)) ? undefined : resource;
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== resource) {
            throw new oidcErrors.InvalidTarget('unknown resource indicator');
          }
          return {
            scope: resourceScopes,
            audience: resource,
            accessTokenFormat: accessTokenFormat,
            ...(accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: signingAlg } } } : {}),
          };
        },
      },
    } as never,
    renderError: async (ctx: { type: string; body: string }, out: Record<string, string>) => {
      ctx.type = 'html';
      const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body><main><h1>Sorry, that did not work</h1><p>${esc(out['error'] ?? 'error')}: ${esc(out['error_description'] ?? '')}</p></main></body></html>`;
    },
  } as never);

  // TLS is terminated here, or by a trusted load balancer that sets X-Forwarded-* headers.
  provider.proxy = config.apimgt.mutual_ssl.trusted_proxies.length > 0;

  // After every protocol request: tell the request front what it should log, shape Koa's bare 404,
  // answer introspection of JWT access tokens, and advertise only the TPP auth methods.
  provider.use(async (ctx, next) => {
    await next();
    // What the request front logs and counts: the client, and the OAuth error of an error answer.
    const front = requestContext(ctx.res);
    if (front) {
      const clientId = (ctx.oidc as { client?: { clientId?: string } } | undefined)?.client?.clientId;
      if (clientId) front.clientId = clientId;
      const error = ctx.status >= 400 && ctx.body && typeof ctx.body === 'object' ? (ctx.body as { error?: unknown }).error : undefined;
      if (typeof error === 'string') front.code = `oauth:${error}`;
    }
    // A wrong method on a protocol path (GET /oauth2/token) would get Koa's text/plain 404;
    // answer like any other unknown route instead.
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.body = { error: 'not_found', error_description: 'no such endpoint' };
      ctx.status = 404;
    }
    // JWT access tokens are self-contained: oidc-provider refuses to introspect them
    // (unsupported_token_type) or finds nothing; the key manager's verifier answers instead
    // (signature, claims, client still there, not revoked). The caller was authenticated already.
    if (deps.introspectJwt && ctx.oidc?.route === 'introspection') {
      const body = ctx.body as { active?: unknown; error?: unknown } | undefined;
      const token = ctx.oidc.params?.['token'];
      const caller = (ctx.oidc as { client?: Record<string, unknown> & { clientId: string } }).client;
      const unanswered = (ctx.status === 200 && body?.active === false) || (ctx.status === 400 && body?.error === 'unsupported_token_type');
      if (unanswered && typeof token === 'string' && caller && COMPACT_JWT.test(token)) {
        const claims = await deps.introspectJwt(token, { clientId: caller.clientId, isOpenBanking: isOpenBankingClient(caller) });
        ctx.status = 200;
        ctx.body = claims ? { active: true, ...claims } : { active: false };
        if (front) front.code = undefined;
      }
    }
    // TPPs pick their token endpoint auth method from discovery, so it lists only what a TPP can
    // register (docs/dcr.md#discovery); the secret methods stay available to bank-internal clients.
    // OB RW profile: a refresh token with an end is announced with that end.
    if (ctx.oidc?.route === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && 'refresh_token' in ctx.body) {
      // Saved in this request: its lifetime (computed once, at the save) counts from now.
      const rt = ctx.oidc.entities.RefreshToken as { exp?: number; expiration?: number } | undefined;
      const exp = rt?.exp ?? (typeof rt?.expiration === 'number' ? epochNow() + rt.expiration : undefined);
      if (exp !== undefined) (ctx.body as Record<string, unknown>)[REFRESH_TOKEN_EXPIRES_AT] = exp;
    }
    if (ctx.oidc?.route === 'discovery' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      (ctx.body as Record<string, unknown>)['token_endpoint_auth_methods_supported'] = [...obAuthMethods];
    }
  });

  provider.on('server_error', (_ctx: unknown, err: Error) => deps.logger.error({ err }, 'oidc-provider server_error'));
  if (deps.onTokenIssued) {
    const issued = deps.onTokenIssued;
    provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: unknown }; client?: { clientAuthMethod?: string; clientId?: string } } }) => {
      issued(String(ctx.oidc.params?.grant_type ?? 'unknown'), ctx.oidc.client?.clientAuthMethod ?? 'none', ctx.oidc.client?.clientId);
    });
  }
  return provider;
}
