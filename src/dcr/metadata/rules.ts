/**
 * The client metadata rules of a registration, as data: which claims are read (per DCR version),
 * which are required (always, or WHEN another field has a value), their types, what an omitted
 * claim means, the allowed values, the HTTPS URI rules, the cross-field rules, and how a
 * registration becomes the key manager's client record. interpreter.ts applies these tables and
 * openapi.ts documents the same required claims and conditions. Rules run in the order listed,
 * and the first failure is the one reported. Redirect problems are invalid_redirect_uri and
 * everything else is invalid_client_metadata. Nothing is silently "fixed".
 */
import type { X509Certificate } from 'node:crypto';
import type { Config } from '../../config/schema.ts';
import { certificateSubjectDn, DnParseError, dnEquals, parseDn } from '../../crypto/dn.ts';
import type { ErrorCode } from '../../errors/app-error.ts';
import { SCOPE_ROLES } from '../../ob/roles.ts';
import type { VerifiedSsa } from '../ssa.ts';
import type { DcrVersionProfile } from '../versions/types.ts';

/** What the rules read: the request's claims, with what is already known about the request. */
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

type Field = keyof RegistrationMetadata;
/** The fields registered so far, while the rules run. */
export type Registered = Partial<RegistrationMetadata>;

// ------------------------------------------------------------------------------- the vocabulary

/** What a refusal's description may name. */
export interface Seen {
  /** The claim as sent: the first of the rule's claim names present, else the preferred one. */
  readonly name: string;
  /** The claim name the version prefers (the first of the rule's claim names). */
  readonly preferred: string;
  readonly value: unknown;
  /** The element of an array claim that failed, as sent. */
  readonly item: unknown;
  readonly ctx: MetadataContext;
}

/** An error a rule raises: its code (codes.ts) and the description sent to the TPP. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly say: (seen: Seen) => string;
}

/** A condition on an earlier field (oidc-provider's WHEN): it was registered with the value `is`. */
export interface When {
  readonly field: Field;
  readonly is: string;
}

/** One test of a string value (or of one element of an array), with the refusal when it fails. */
export interface Check {
  readonly test: (value: string, ctx: MetadataContext) => boolean;
  readonly error: Refusal;
}

/**
 * The HTTPS URI rules the interpreter applies to each element: a non-empty string of at most
 * `maxLength` characters that parses as a URL, with the https scheme, a host that is not
 * localhost or loopback (RFC 6761 reserves localhost and *.localhost for it), and no fragment.
 * Every failure has `code`; descriptions name the element as `noun`.
 */
export interface HttpsUriRule {
  readonly code: ErrorCode;
  readonly noun: string;
  readonly maxLength: number;
}

/**
 * One field, checked in this order: presence (required, WHEN, default), type, non-empty, allowed
 * values, string checks, per-element rules, subset, cross-field rules, then the registered form
 * (an array keeps each element once; tokens are joined with spaces) and its length.
 */
export interface FieldRule {
  /** The name it is registered under. */
  readonly field: Field;
  /** The claims it is read from, the version's preferred name first; default: the field's name. */
  readonly claims?: (version: DcrVersionProfile) => readonly string[];
  /** It must be sent: always, or when the WHEN condition holds. */
  readonly required?: { readonly when?: When; readonly error: Refusal };
  /** It may only be sent when the condition holds. */
  readonly onlyWhen?: { readonly when: When; readonly error: Refusal };
  /**
   * What an omitted claim means: a value registered as it is, or one treated as if the TPP had
   * sent it (every rule below then applies to it).
   */
  readonly default?:
    | { readonly registered: (ctx: MetadataContext, got: Registered) => unknown }
    | { readonly asSent: (ctx: MetadataContext, got: Registered) => unknown };
  /**
   * `string`: a non-empty string. `strings`: an array of non-empty strings. `array`: an array, its
   * elements left to the element rules. `tokens`: a space-separated string, or an array of
   * non-empty strings where `arrayIn` says the version allows one; registered space-separated.
   */
  readonly type?: {
    readonly is: 'string' | 'strings' | 'array' | 'tokens';
    readonly arrayIn?: (version: DcrVersionProfile) => boolean;
    readonly error: Refusal;
  };
  /** An array (or the tokens) may not be empty. */
  readonly nonEmpty?: Refusal;
  /** Rewrites each element before it is checked and registered. */
  readonly normalise?: (item: string) => string;
  /** The allowed values: of the value, or of each element of an array. */
  readonly oneOf?: { readonly values: (ctx: MetadataContext) => readonly unknown[]; readonly error: Refusal };
  /** Tests of a string value, in order. */
  readonly checks?: readonly Check[];
  /** Each element is an HTTPS URI. */
  readonly httpsUri?: HttpsUriRule;
  /** Tests of each element, in order (all of them for one element before the next). */
  readonly each?: readonly Check[];
  /**
   * Each element must be one of these. They come from outside the request (the software
   * statement), so the element rules check them first.
   */
  readonly within?: { readonly values: (ctx: MetadataContext) => readonly string[]; readonly error: Refusal };
  /** Cross-field rules, over the fields registered so far with this one: the test names what is refused. */
  readonly invalidWhen?: readonly { readonly test: (got: Registered) => boolean; readonly error: Refusal }[];
  /** The longest registered value. */
  readonly maxLength?: { readonly max: number; readonly error: Refusal };
}

/** Claims this server refuses outright: every claim whose name starts with `prefix`. */
export interface RefusedClaims {
  readonly refusePrefix: string;
  readonly error: Refusal;
}

export type MetadataRule = FieldRule | RefusedClaims;

/** The claims a field is read from in `version`, preferred first. */
export const claimNames = (rule: FieldRule, version: DcrVersionProfile): readonly string[] => rule.claims?.(version) ?? [rule.field];

// ------------------------------------------------------------------------------- the values

/** Grant types this server offers (of those a version defines). */
export const SUPPORTED_GRANTS: readonly string[] = ['client_credentials', 'authorization_code', 'refresh_token'];
/** FAPI 1.0 Advanced §5.2.2: "code id_token", or "code" with JARM. */
export const RESPONSE_TYPES: readonly string[] = ['code', 'code id_token'];

const refuse = (code: ErrorCode, say: (seen: Seen) => string): Refusal => ({ code, say });
const signingAlgorithms = (ctx: MetadataContext): readonly string[] => ctx.config.open_banking.dcr.signing_algorithms;
const hasGrant = (got: Registered, grant: string) => got.grant_types?.includes(grant) === true;
const TLS_CLIENT_AUTH: When = { field: 'token_endpoint_auth_method', is: 'tls_client_auth' };

const ALG_MISSING = refuse('METADATA_ALG_MISSING', (s) => `${s.name} is required`);
const ALG_NOT_ALLOWED = refuse(
  'METADATA_ALG_NOT_ALLOWED',
  (s) => `${s.name} must be ${signingAlgorithms(s.ctx).join(' or ')} (FAPI 1.0 Advanced), not ${JSON.stringify(s.value)?.slice(0, 40)}`,
);
const AUTH_METHOD_MISSING = refuse('METADATA_AUTH_METHOD_MISSING', () => 'token_endpoint_auth_method is required');
const DN_MISSING = refuse('METADATA_SUBJECT_DN_MISSING', (s) => `${s.preferred} is required for tls_client_auth`);
const GRANT_TYPES_INVALID = refuse('METADATA_GRANT_TYPES_INVALID', () => 'grant_types must be a non-empty array');
const APPLICATION_TYPE_INVALID = refuse(
  'METADATA_APPLICATION_TYPE_INVALID',
  (s) => `application_type must be one of: ${s.ctx.version.applicationTypes.join(', ')}`,
);
const REDIRECT_URIS_INVALID = refuse('REDIRECT_URI_INVALID', () => 'redirect_uris must be a non-empty array');

/** A signing algorithm field: one of [open_banking.dcr] signing_algorithms (FAPI 1.0 Advanced §8.6). */
const algorithm = (field: Field, when?: When): FieldRule => ({
  field,
  required: when ? { when, error: ALG_MISSING } : { error: ALG_MISSING },
  oneOf: { values: signingAlgorithms, error: ALG_NOT_ALLOWED },
});

/** A scope the roles of the software statement allow: openid always, an OB scope with its role. */
const allowedByRoles = (scope: string, ctx: MetadataContext) => {
  const role = SCOPE_ROLES[scope];
  return scope === 'openid' || (role !== undefined && ctx.ssa.claims.software_roles.includes(role));
};

const isDn = (value: string) => {
  try {
    parseDn(value);
    return true;
  } catch (err) {
    if (err instanceof DnParseError) return false;
    throw err;
  }
};

// ------------------------------------------------------------------------------- the table

export const METADATA_RULES: readonly MetadataRule[] = [
  {
    field: 'redirect_uris',
    // OB DCR: omitted means the whole list of the software statement is requested.
    default: { registered: (ctx) => [...ctx.ssa.claims.software_redirect_uris] },
    type: { is: 'array', error: REDIRECT_URIS_INVALID },
    nonEmpty: REDIRECT_URIS_INVALID,
    httpsUri: { code: 'REDIRECT_URI_INVALID', noun: 'redirect URI', maxLength: 256 },
    within: {
      values: (ctx) => ctx.ssa.claims.software_redirect_uris,
      error: refuse('REDIRECT_URI_NOT_IN_SSA', (s) => `redirect URI ${String(s.item)} is not one of the software statement's software_redirect_uris`),
    },
  },
  {
    field: 'token_endpoint_auth_method',
    required: { error: AUTH_METHOD_MISSING },
    type: { is: 'string', error: AUTH_METHOD_MISSING },
    // Defined by the version and enabled by [open_banking.dcr] token_endpoint_auth_methods.
    oneOf: {
      values: (ctx) => ctx.version.authMethods.filter((m) => (ctx.config.open_banking.dcr.token_endpoint_auth_methods as string[]).includes(m)),
      error: refuse(
        'METADATA_AUTH_METHOD_NOT_ALLOWED',
        (s) => `token_endpoint_auth_method must be one of: ${s.ctx.config.open_banking.dcr.token_endpoint_auth_methods.join(', ')}`,
      ),
    },
  },
  // Required only for private_key_jwt (OB DCR v3.2 made it conditional); kept when sent with another method.
  algorithm('token_endpoint_auth_signing_alg', { field: 'token_endpoint_auth_method', is: 'private_key_jwt' }),
  {
    field: 'tls_client_auth_subject_dn',
    // OB DCR v3.1 called it tls_client_auth_dn; v3.2 took the RFC 8705 name.
    claims: (version) => version.subjectDnClaims,
    onlyWhen: {
      when: TLS_CLIENT_AUTH,
      error: refuse('METADATA_SUBJECT_DN_UNEXPECTED', (s) => `${s.name} is only used with token_endpoint_auth_method tls_client_auth`),
    },
    required: { when: TLS_CLIENT_AUTH, error: DN_MISSING },
    type: { is: 'string', error: DN_MISSING },
    checks: [
      { test: (dn) => dn.length <= 512, error: refuse('METADATA_SUBJECT_DN_INVALID', (s) => `${s.name} is longer than 512 characters`) },
      { test: isDn, error: refuse('METADATA_SUBJECT_DN_INVALID', (s) => `${s.name} is not a valid distinguished name`) },
      // RFC 8705 §2.1.2: the registered DN is the one the client will present, compared parsed,
      // not as strings. The expected value is the caller's own certificate subject (nothing
      // secret), written the way it must be registered: RFC 4514, most specific first, types
      // outside RFC 4514 as dotted OIDs (TPP tooling often drops organizationIdentifier, 2.5.4.97).
      {
        test: (dn, ctx) => dnEquals(dn, certificateSubjectDn(ctx.certificate)),
        error: refuse(
          'METADATA_SUBJECT_DN_MISMATCH',
          (s) => `${s.name} does not match the subject of the transport certificate presented; expected "${certificateSubjectDn(s.ctx.certificate)}"`,
        ),
      },
    ],
  },
  {
    field: 'grant_types',
    required: { error: GRANT_TYPES_INVALID },
    type: { is: 'strings', error: GRANT_TYPES_INVALID },
    nonEmpty: GRANT_TYPES_INVALID,
    oneOf: {
      values: (ctx) => ctx.version.grantTypes.filter((g) => SUPPORTED_GRANTS.includes(g)),
      error: refuse(
        'METADATA_GRANT_TYPE_UNSUPPORTED',
        (s) => `grant type ${String(s.item).slice(0, 80)} is not supported; use client_credentials, authorization_code and refresh_token`,
      ),
    },
    invalidWhen: [
      {
        test: (got) => hasGrant(got, 'refresh_token') && !hasGrant(got, 'authorization_code'),
        error: refuse('METADATA_GRANT_TYPES_INCONSISTENT', () => 'the refresh_token grant requires the authorization_code grant'),
      },
    ],
  },
  // OB DCR v3.3's backchannel_* claims belong to the CIBA grant, which this server does not offer.
  {
    refusePrefix: 'backchannel_',
    error: refuse('METADATA_CIBA_UNSUPPORTED', (s) => `${s.name} is only used with the CIBA grant, which this server does not offer`),
  },
  {
    field: 'response_types',
    // OB DCR: omitted means "code id_token" (with the authorization_code grant; none without it).
    default: { registered: (_ctx, got) => (hasGrant(got, 'authorization_code') ? ['code id_token'] : []) },
    type: { is: 'strings', error: refuse('METADATA_RESPONSE_TYPES_INVALID', () => 'response_types must be an array of strings') },
    // Token order within one response type is free ("id_token code" is "code id_token").
    normalise: (type) => type.split(' ').filter(Boolean).sort().join(' '),
    oneOf: {
      values: () => RESPONSE_TYPES,
      error: refuse(
        'METADATA_RESPONSE_TYPE_UNSUPPORTED',
        (s) => `response type ${JSON.stringify(s.item).slice(0, 60)} is not supported; FAPI allows "code id_token" and "code" (with JARM)`,
      ),
    },
    invalidWhen: [
      {
        test: (got) => got.response_types!.length > 0 && !hasGrant(got, 'authorization_code'),
        error: refuse('METADATA_RESPONSE_TYPES_INCONSISTENT', () => 'response_types require the authorization_code grant'),
      },
      {
        test: (got) => got.response_types!.length === 0 && hasGrant(got, 'authorization_code'),
        error: refuse('METADATA_RESPONSE_TYPES_INCONSISTENT', () => 'the authorization_code grant requires response_types'),
      },
    ],
  },
  {
    field: 'scope',
    // OB DCR: omitted means the defaults the roles allow (of the scopes the key manager offers).
    default: {
      asSent: (ctx) => ['openid', ...Object.keys(SCOPE_ROLES).filter((s) => allowedByRoles(s, ctx))].filter((s) => ctx.availableScopes.includes(s)).join(' '),
    },
    // OB DCR v3.1 sent an array of scopes; later versions a space-separated string.
    type: {
      is: 'tokens',
      arrayIn: (version) => version.scopeMayBeArray,
      error: refuse('METADATA_SCOPE_INVALID', () => 'scope must be a space-separated string'),
    },
    nonEmpty: refuse('METADATA_SCOPE_EMPTY', () => 'scope must not be empty'),
    each: [
      {
        test: (s, ctx) => ctx.availableScopes.includes(s) && (s === 'openid' || SCOPE_ROLES[s] !== undefined),
        error: refuse('METADATA_SCOPE_NOT_OFFERED', (s) => `scope ${String(s.item).slice(0, 64)} is not offered to Open Banking clients`),
      },
      {
        test: allowedByRoles,
        error: refuse(
          'METADATA_SCOPE_ROLE_MISSING',
          (s) => `scope ${String(s.item)} needs the ${SCOPE_ROLES[String(s.item)]} role, which the software statement does not grant`,
        ),
      },
    ],
    maxLength: { max: 256, error: refuse('METADATA_SCOPE_TOO_LONG', () => 'scope is longer than 256 characters') },
  },
  {
    field: 'application_type',
    required: { error: APPLICATION_TYPE_INVALID },
    oneOf: { values: (ctx) => ctx.version.applicationTypes, error: APPLICATION_TYPE_INVALID },
  },
  algorithm('id_token_signed_response_alg'),
  algorithm('request_object_signing_alg'),
];

// ------------------------------------------------------------------------------- the client record

/**
 * Where a member of the client record comes from: a registered field (left out when not
 * registered), a claim of the software statement (with `onlyText`, left out unless it is a
 * string), a fixed value, the software statement as sent, or the DCR version.
 */
export type ClientSource =
  | { readonly from: 'registration'; readonly field: Field }
  | { readonly from: 'ssa'; readonly claim: string; readonly onlyText?: true }
  | { readonly from: 'fixed'; readonly value: unknown }
  | { readonly from: 'software_statement' }
  | { readonly from: 'version' };

const registered = (field: Field): ClientSource => ({ from: 'registration', field });
const ssa = (claim: string, onlyText?: true): ClientSource => (onlyText ? { from: 'ssa', claim, onlyText } : { from: 'ssa', claim });

/** The key manager's client record (oidc-provider client metadata plus the OB extras), member by member. */
export const CLIENT_RECORD: readonly (readonly [string, ClientSource])[] = [
  ['redirect_uris', registered('redirect_uris')],
  ['token_endpoint_auth_method', registered('token_endpoint_auth_method')],
  ['token_endpoint_auth_signing_alg', registered('token_endpoint_auth_signing_alg')],
  ['tls_client_auth_subject_dn', registered('tls_client_auth_subject_dn')],
  ['grant_types', registered('grant_types')],
  ['response_types', registered('response_types')],
  ['scope', registered('scope')],
  // oidc-provider knows "web" and "native"; the OB value is kept in ob_application_type.
  ['application_type', { from: 'fixed', value: 'web' }],
  ['ob_application_type', registered('application_type')],
  ['id_token_signed_response_alg', registered('id_token_signed_response_alg')],
  ['request_object_signing_alg', registered('request_object_signing_alg')],
  ['authorization_signed_response_alg', registered('id_token_signed_response_alg')],
  ['jwks_uri', ssa('software_jwks_endpoint')],
  // FAPI: every Open Banking access token is bound to the transport certificate (RFC 8705 §3).
  ['tls_client_certificate_bound_access_tokens', { from: 'fixed', value: true }],
  ['client_name', ssa('software_client_name', true)],
  ['software_id', ssa('software_id')],
  ['software_statement', { from: 'software_statement' }],
  ['org_id', ssa('org_id')],
  ['org_name', ssa('org_name', true)],
  ['software_roles', ssa('software_roles')],
  ['software_environment', ssa('software_environment')],
  ['software_jwks_endpoint', ssa('software_jwks_endpoint')],
  ['registration_version', { from: 'version' }],
];
