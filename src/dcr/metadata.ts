/**
 * Client metadata rules (OB DCR digest §2.2) as data plus a small interpreter, and the mapping
 * from a validated request to the key manager's client record. Redirect problems are
 * invalid_redirect_uri; everything else invalid_client_metadata. Nothing is silently "fixed".
 */
import type { X509Certificate } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import { fail } from '../errors/app-error.ts';
import { parseDn, dnEquals, DnParseError } from '../crypto/dn.ts';
import { certificateSubjectDn } from '../crypto/dn.ts';
import type { VerifiedSsa } from './ssa.ts';
import type { DcrVersionProfile } from './versions/types.ts';
import { SCOPE_ROLES } from '../ob/roles.ts';

const SUPPORTED_GRANTS = new Set(['client_credentials', 'authorization_code', 'refresh_token']);
const RESPONSE_TYPES = new Set(['code', 'code id_token']);

export interface MetadataContext {
  config: Config;
  version: DcrVersionProfile;
  ssa: VerifiedSsa;
  claims: Record<string, unknown>;
  /** The transport certificate presented on this request. */
  certificate: X509Certificate;
  /** Scopes the key manager currently offers. */
  availableScopes: readonly string[];
}

/** The validated registration, ready to become a client. */
export interface RegistrationMetadata {
  redirect_uris: string[];
  token_endpoint_auth_method: string;
  token_endpoint_auth_signing_alg?: string;
  tls_client_auth_subject_dn?: string;
  grant_types: string[];
  response_types: string[];
  scope: string;
  application_type: string;
  id_token_signed_response_alg: string;
  request_object_signing_alg: string;
}

const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function checkRedirectUri(uri: unknown): string {
  if (typeof uri !== 'string' || uri.length === 0) throw fail('REDIRECT_URI_INVALID', 'redirect_uris must contain URL strings');
  if (uri.length > 256) throw fail('REDIRECT_URI_INVALID', 'a redirect URI may be at most 256 characters');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw fail('REDIRECT_URI_INVALID', `redirect URI ${uri.slice(0, 256)} is not a valid URL`);
  }
  if (url.protocol !== 'https:') throw fail('REDIRECT_URI_INVALID', `redirect URI ${uri} must use https`);
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  // RFC 6761 reserves localhost and *.localhost for loopback; loopback addresses are the same thing.
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\./.test(host)) {
    throw fail('REDIRECT_URI_INVALID', `redirect URI ${uri} must not point at localhost`);
  }
  if (uri.includes('#')) throw fail('REDIRECT_URI_INVALID', `redirect URI ${uri} must not contain a fragment`);
  return uri;
}

function redirectUris(ctx: MetadataContext): string[] {
  const registered = ctx.ssa.claims.software_redirect_uris;
  registered.forEach(checkRedirectUri);
  const requested = ctx.claims['redirect_uris'];
  // OB: omitted means the whole SSA list is requested.
  if (requested === undefined) return [...registered];
  if (!Array.isArray(requested) || requested.length === 0) throw fail('REDIRECT_URI_INVALID', 'redirect_uris must be a non-empty array');
  const uris = requested.map(checkRedirectUri);
  for (const u of uris) {
    if (!registered.includes(u)) throw fail('REDIRECT_URI_NOT_IN_SSA', `redirect URI ${u} is not one of the software statement's software_redirect_uris`);
  }
  return [...new Set(uris)];
}

function algorithm(ctx: MetadataContext, name: string, required: boolean): string | undefined {
  const v = ctx.claims[name];
  if (v === undefined) {
    if (required) throw fail('METADATA_ALG_MISSING', `${name} is required`);
    return undefined;
  }
  const allowed = ctx.config.open_banking.dcr.signing_algorithms as string[];
  if (typeof v !== 'string' || !allowed.includes(v)) {
    throw fail('METADATA_ALG_NOT_ALLOWED', `${name} must be ${allowed.join(' or ')} (FAPI 1.0 Advanced), not ${JSON.stringify(v)?.slice(0, 40)}`);
  }
  return v;
}

function authMethod(ctx: MetadataContext): string {
  const v = ctx.claims['token_endpoint_auth_method'];
  if (!str(v)) throw fail('METADATA_AUTH_METHOD_MISSING', 'token_endpoint_auth_method is required');
  const allowed = ctx.config.open_banking.dcr.token_endpoint_auth_methods as string[];
  if (!ctx.version.authMethods.includes(v) || !allowed.includes(v)) {
    throw fail('METADATA_AUTH_METHOD_NOT_ALLOWED', `token_endpoint_auth_method must be one of: ${allowed.join(', ')}`);
  }
  return v;
}

function subjectDn(ctx: MetadataContext, method: string): string | undefined {
  const name = ctx.version.subjectDnClaims.find((n) => ctx.claims[n] !== undefined);
  const v = name ? ctx.claims[name] : undefined;
  if (method !== 'tls_client_auth') {
    if (v !== undefined) throw fail('METADATA_SUBJECT_DN_UNEXPECTED', `${name} is only used with token_endpoint_auth_method tls_client_auth`);
    return undefined;
  }
  if (!str(v)) throw fail('METADATA_SUBJECT_DN_MISSING', `${ctx.version.subjectDnClaims[0]} is required for tls_client_auth`);
  if (v.length > 512) throw fail('METADATA_SUBJECT_DN_INVALID', `${name} is longer than 512 characters`);
  try {
    parseDn(v);
  } catch (err) {
    if (err instanceof DnParseError) throw fail('METADATA_SUBJECT_DN_INVALID', `${name} is not a valid distinguished name`);
    throw err;
  }
  // RFC 8705 §2.1.2: the registered DN is the one the client will present; compared parsed, not as strings.
  // The expected value is the caller's own certificate subject (nothing secret), written the way
  // it must be registered: RFC 4514, most specific first, types outside RFC 4514 as dotted OIDs
  // (TPP tooling often drops organizationIdentifier, 2.5.4.97).
  const expected = certificateSubjectDn(ctx.certificate);
  if (!dnEquals(v, expected)) {
    throw fail('METADATA_SUBJECT_DN_MISMATCH', `${name} does not match the subject of the transport certificate presented; expected "${expected}"`);
  }
  return v;
}

function grantTypes(ctx: MetadataContext): string[] {
  const v = ctx.claims['grant_types'];
  if (!Array.isArray(v) || v.length === 0 || !v.every(str)) throw fail('METADATA_GRANT_TYPES_INVALID', 'grant_types must be a non-empty array');
  for (const g of v) {
    if (!ctx.version.grantTypes.includes(g) || !SUPPORTED_GRANTS.has(g)) {
      throw fail(
        'METADATA_GRANT_TYPE_UNSUPPORTED',
        `grant type ${g.slice(0, 80)} is not supported; use client_credentials, authorization_code and refresh_token`,
      );
    }
  }
  if (v.includes('refresh_token') && !v.includes('authorization_code')) {
    throw fail('METADATA_GRANT_TYPES_INCONSISTENT', 'the refresh_token grant requires the authorization_code grant');
  }
  for (const k of Object.keys(ctx.claims)) {
    if (k.startsWith('backchannel_')) throw fail('METADATA_CIBA_UNSUPPORTED', `${k} is only used with the CIBA grant, which this server does not offer`);
  }
  return [...new Set(v)];
}

function responseTypes(ctx: MetadataContext, grants: string[]): string[] {
  const v = ctx.claims['response_types'];
  const hasCode = grants.includes('authorization_code');
  if (v === undefined) return hasCode ? ['code id_token'] : [];
  if (!Array.isArray(v) || !v.every(str)) throw fail('METADATA_RESPONSE_TYPES_INVALID', 'response_types must be an array of strings');
  // Token order within one response type is free ("id_token code" is "code id_token").
  const normalised = v.map((t) => t.split(' ').filter(Boolean).sort().join(' '));
  for (let i = 0; i < normalised.length; i++) {
    if (!RESPONSE_TYPES.has(normalised[i]!)) {
      throw fail(
        'METADATA_RESPONSE_TYPE_UNSUPPORTED',
        `response type ${JSON.stringify(v[i]).slice(0, 60)} is not supported; FAPI allows "code id_token" and "code" (with JARM)`,
      );
    }
  }
  if (normalised.length > 0 && !hasCode) throw fail('METADATA_RESPONSE_TYPES_INCONSISTENT', 'response_types require the authorization_code grant');
  if (normalised.length === 0 && hasCode) throw fail('METADATA_RESPONSE_TYPES_INCONSISTENT', 'the authorization_code grant requires response_types');
  return [...new Set(normalised)];
}

function scope(ctx: MetadataContext): string {
  const roles = new Set(ctx.ssa.claims.software_roles);
  const offered = new Set(ctx.availableScopes);
  const allowed = (s: string) => s === 'openid' || (SCOPE_ROLES[s] !== undefined && roles.has(SCOPE_ROLES[s]!));
  const v = ctx.claims['scope'];
  let requested: string[];
  if (v === undefined) {
    // OB: omitted means the defaults the roles allow.
    requested = ['openid', ...Object.keys(SCOPE_ROLES).filter(allowed)].filter((s) => offered.has(s));
  } else if (typeof v === 'string') {
    requested = v.split(' ').filter(Boolean);
  } else if (ctx.version.scopeMayBeArray && Array.isArray(v) && v.every(str)) {
    requested = v;
  } else {
    throw fail('METADATA_SCOPE_INVALID', 'scope must be a space-separated string');
  }
  if (requested.length === 0) throw fail('METADATA_SCOPE_EMPTY', 'scope must not be empty');
  for (const s of requested) {
    if (!offered.has(s) || (s !== 'openid' && SCOPE_ROLES[s] === undefined))
      throw fail('METADATA_SCOPE_NOT_OFFERED', `scope ${s.slice(0, 64)} is not offered to Open Banking clients`);
    if (!allowed(s)) throw fail('METADATA_SCOPE_ROLE_MISSING', `scope ${s} needs the ${SCOPE_ROLES[s]} role, which the software statement does not grant`);
  }
  const joined = [...new Set(requested)].join(' ');
  if (joined.length > 256) throw fail('METADATA_SCOPE_TOO_LONG', 'scope is longer than 256 characters');
  return joined;
}

function applicationType(ctx: MetadataContext): string {
  const v = ctx.claims['application_type'];
  if (!str(v) || !ctx.version.applicationTypes.includes(v)) {
    throw fail('METADATA_APPLICATION_TYPE_INVALID', `application_type must be one of: ${ctx.version.applicationTypes.join(', ')}`);
  }
  return v;
}

/**
 * The rules, in the order their errors are reported. Each reads the request and returns the value
 * to register.
 */
export function validateMetadata(ctx: MetadataContext): RegistrationMetadata {
  const redirect_uris = redirectUris(ctx);
  const token_endpoint_auth_method = authMethod(ctx);
  const token_endpoint_auth_signing_alg = algorithm(ctx, 'token_endpoint_auth_signing_alg', token_endpoint_auth_method === 'private_key_jwt');
  const tls_client_auth_subject_dn = subjectDn(ctx, token_endpoint_auth_method);
  const grant_types = grantTypes(ctx);
  const response_types = responseTypes(ctx, grant_types);
  const scopeValue = scope(ctx);
  const application_type = applicationType(ctx);
  const id_token_signed_response_alg = algorithm(ctx, 'id_token_signed_response_alg', true)!;
  const request_object_signing_alg = algorithm(ctx, 'request_object_signing_alg', true)!;
  return {
    redirect_uris,
    token_endpoint_auth_method,
    ...(token_endpoint_auth_signing_alg ? { token_endpoint_auth_signing_alg } : {}),
    ...(tls_client_auth_subject_dn ? { tls_client_auth_subject_dn } : {}),
    grant_types,
    response_types,
    scope: scopeValue,
    application_type,
    id_token_signed_response_alg,
    request_object_signing_alg,
  };
}

/** The key manager's client record for a registration (oidc-provider metadata + OB extras). */
export function toClientMetadata(m: RegistrationMetadata, ssa: VerifiedSsa, version: DcrVersionProfile): Record<string, unknown> {
  const s = ssa.claims;
  return {
    redirect_uris: m.redirect_uris,
    token_endpoint_auth_method: m.token_endpoint_auth_method,
    ...(m.token_endpoint_auth_signing_alg ? { token_endpoint_auth_signing_alg: m.token_endpoint_auth_signing_alg } : {}),
    ...(m.tls_client_auth_subject_dn ? { tls_client_auth_subject_dn: m.tls_client_auth_subject_dn } : {}),
    grant_types: m.grant_types,
    response_types: m.response_types,
    scope: m.scope,
    // oidc-provider knows "web" and "native"; the OB value is kept in ob_application_type.
    application_type: 'web',
    ob_application_type: m.application_type,
    id_token_signed_response_alg: m.id_token_signed_response_alg,
    request_object_signing_alg: m.request_object_signing_alg,
    authorization_signed_response_alg: m.id_token_signed_response_alg,
    jwks_uri: s.software_jwks_endpoint,
    // FAPI: every Open Banking access token is bound to the transport certificate (RFC 8705 §3).
    tls_client_certificate_bound_access_tokens: true,
    ...(typeof s['software_client_name'] === 'string' ? { client_name: s['software_client_name'] } : {}),
    software_id: s.software_id,
    software_statement: ssa.raw,
    org_id: s.org_id,
    ...(typeof s['org_name'] === 'string' ? { org_name: s['org_name'] } : {}),
    software_roles: s.software_roles,
    software_environment: s.software_environment,
    software_jwks_endpoint: s.software_jwks_endpoint,
    registration_version: version.id,
  };
}
