/**
 * OpenAPI 3.1 description of OUR UK Open Banking Dynamic Client Registration API (v3.1, v3.2, v3.3).
 *
 * Written from the official OBIE definitions (client-registration-api-specs v3.2/v3.3,
 * read-write-api-specs v3.1.0: swagger 2.0 + OpenAPI 3.0 files), with:
 * - FAPI 1.0 Advanced's tighter rules: signing algorithms PS256/ES256 only (no RS256/none),
 *   response_types `code` / `code id_token` only, CIBA `push` mode and user codes excluded;
 * - the fixes for the official files' known defects: request body is a compact JWS sent as
 *   `application/jose` (v3.2+) or `application/jwt` (v3.1), not `application/json`; the success
 *   response does NOT echo the request JWT's iss/iat/exp/aud/jti (the official v3.2/v3.3 201 schema
 *   marks them required, which is a bug); RegistrationError also covers the 401/415/500 codes;
 *   DELETE's 405 no longer points at the 403 response; GET/PUT/DELETE state mTLS as well as the token.
 * - leniency where real TPP clients deviate from the data dictionary (documented per claim).
 *
 * The document is self-contained (no runtime dependency on the official files) and uses
 * JSON Schema 2020-12 (the OpenAPI 3.1 default dialect), so components.schemas compile with ajv's Ajv2020.
 * What the server enforces comes from its own tables: the required claims, the WHEN conditions
 * and the response types from the metadata rules (metadata/rules.ts), the claim names, grant
 * types and application types from the version profiles (versions/). The descriptions, the
 * data-dictionary lengths and patterns, and the CIBA claims (documented per the standard, refused
 * by this server) are written here.
 */
import { claimNames, type FieldRule, METADATA_RULES, RESPONSE_TYPES } from './metadata/rules.ts';
import { versionFromPath, type DcrVersionProfile } from './versions/index.ts';
import { COMPACT_JWS_PATTERN } from '../crypto/jws-shape.ts';
import { DCR_VERSIONS } from '../config/schema.ts';

export type DcrVersion = (typeof DCR_VERSIONS)[number];

export { COMPACT_JWS_PATTERN, DCR_VERSIONS };

/** Three base64url segments; the payload segment may not be empty, the signature may (JWS only, no JWE). */

/** RFC 6749 §3.3 scope: space-delimited scope-tokens of %x21 / %x23-5B / %x5D-7E. */
export const SCOPE_STRING_PATTERN = '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+( [\\x21\\x23-\\x5B\\x5D-\\x7E]+)*$';

/** Error codes a registration endpoint answers with (RFC 7591 §3.2.2 plus RFC 6749/6750 codes). */
export const REGISTRATION_ERROR_CODES = [
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
  'invalid_request',
  'invalid_client',
  'invalid_token',
  'server_error',
] as const;

/** token_endpoint_auth_method values this server registers (all versions). */
export const TOKEN_ENDPOINT_AUTH_METHODS = ['private_key_jwt', 'tls_client_auth', 'client_secret_basic'] as const;

/** Request JWT claims that must never appear at the top level of a registration response. */
export const REQUEST_ONLY_CLAIMS = ['iss', 'iat', 'exp', 'aud', 'jti'] as const;

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });

/** Longest software_id / iss in the data dictionary: 18 in v3.1, 22 from v3.2. */
function idLength(version: DcrVersion): number {
  return version === 'v3.1' ? 18 : 22;
}

function softwareIdSchema(version: DcrVersion): Record<string, unknown> {
  const n = idLength(version);
  return {
    description: `Software id from the SSA (Base62, at most ${n} characters in ${version}). If sent in the request it must equal the SSA's software_id.`,
    type: 'string',
    minLength: 1,
    maxLength: n,
    pattern: `^[0-9a-zA-Z]{1,${n}}$`,
  };
}

const fieldRules = METADATA_RULES.filter((r): r is FieldRule => 'field' in r);

/** The metadata claims the rules always require, by the version's names. */
const requiredClaims = (profile: DcrVersionProfile): string[] =>
  fieldRules.filter((r) => r.required && !r.required.when).map((r) => claimNames(r, profile)[0]!);

/**
 * The rules' "required WHEN field is value" conditions as JSON Schema if/then. `names` gives the
 * claim names a rule may be sent (or returned) under; one of them must be present.
 */
function requiredWhen(names: (rule: FieldRule) => readonly string[]): unknown[] {
  return fieldRules.flatMap((r) => {
    const when = r.required?.when;
    if (!when) return [];
    const claims = names(r);
    return [
      {
        if: { properties: { [when.field]: { const: when.is } }, required: [when.field] },
        then: claims.length > 1 ? { anyOf: claims.map((c) => ({ required: [c] })) } : { required: [claims[0]!] },
      },
    ];
  });
}

/** What this deployment accepts, so the served description matches the server (and discovery). */
export interface DcrOpenApiOptions {
  /** Request JWT, token_endpoint_auth_signing_alg, id_token / request object algorithms ([open_banking.dcr] signing_algorithms). */
  readonly signingAlgorithms?: readonly string[];
  /** Registrable token_endpoint_auth_method values ([open_banking.dcr] token_endpoint_auth_methods). */
  readonly authMethods?: readonly string[];
}

function schemas(version: DcrVersion, opts: DcrOpenApiOptions): Record<string, unknown> {
  const profile = versionFromPath(version)!;
  const v31 = version === 'v3.1';
  const v33 = version === 'v3.3';
  const n = idLength(version);
  const [dnClaim, ...dnAliases] = claimNames(fieldRules.find((r) => r.field === 'tls_client_auth_subject_dn')!, profile);

  const dnSchema = {
    description:
      'Subject DN of the certificate the client presents at the token endpoint with tls_client_auth (RFC 8705 §2.1.2). ' +
      'Compared as a parsed DN, not as a string. Data dictionary: string(128).',
    type: 'string',
    minLength: 1,
  };

  // ---------------------------------------------------------------- request (JWS payload) claims
  const requestProperties: Record<string, unknown> = {
    iss: {
      description:
        `Issuer of the request: the SSA's software_id (data dictionary: ^[0-9a-zA-Z]{1,${n}}$). ` +
        'Checked by equality with the SSA software_id rather than by pattern (some clients use longer ids).',
      type: 'string',
      minLength: 1,
    },
    iat: { description: 'Issued at, seconds since the epoch. Not in the future (small clock skew allowed).', type: 'integer', minimum: 0 },
    exp: { description: 'Expiry, seconds since the epoch; after iat. Lifetimes of at least one hour are accepted.', type: 'integer', minimum: 0 },
    aud: {
      description:
        'The ASPSP: its OB organisation id (data dictionary: ^[0-9a-zA-Z]{1,18}$), the issuer URL or the registration endpoint URL (configurable allow-list).',
      type: 'string',
      minLength: 1,
    },
    jti: {
      description: 'Unique id of the request (data dictionary: UUID v4). Replay-checked per iss; the UUID format is not enforced.',
      type: 'string',
      minLength: 1,
    },
    client_id: {
      description: 'Optional requested client id; on PUT, if present, it must equal the path ClientId.',
      type: 'string',
      minLength: 1,
      maxLength: 36,
    },
    software_statement: ref('SoftwareStatement'),
    software_id: softwareIdSchema(version),
    redirect_uris: {
      description: "Subset of the SSA's software_redirect_uris (exact match). If omitted, the SSA's list is registered.",
      ...ref('RedirectUris'),
    },
    token_endpoint_auth_method: {
      description: v31
        ? 'v3.1 data dictionary: private_key_jwt, tls_client_auth, client_secret_basic, client_secret_post. This server registers the listed methods.'
        : 'Data dictionary: private_key_jwt, client_secret_jwt, client_secret_basic, client_secret_post, tls_client_auth. This server registers the listed methods.',
      ...ref('TokenEndpointAuthMethod'),
    },
    token_endpoint_auth_signing_alg: {
      description: v31
        ? 'Required for private_key_jwt (the v3.1 dictionary marks it always required; it is only enforced for *_jwt methods).'
        : 'Required for private_key_jwt / client_secret_jwt.',
      ...ref('SigningAlgorithm'),
    },
    grant_types: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: {
        type: 'string',
        enum: [...profile.grantTypes],
      },
      ...(v33
        ? { description: `${CIBA_GRANT} is defined by v3.3 (with the backchannel_* claims); a server without CIBA rejects it with invalid_client_metadata.` }
        : {}),
    },
    response_types: {
      description:
        'Defaults to ["code id_token"]. Any other value (e.g. "token", "id_token") is rejected with invalid_client_metadata (FAPI 1.0 Advanced §5.2.2).',
      ...ref('ResponseTypes'),
    },
    scope: v31
      ? {
          description:
            'v3.1: an array of scopes (openid, accounts, payments, fundsconfirmations), each at most 32 characters. If omitted, derived from the SSA roles.',
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 32 },
        }
      : {
          description:
            'Space-separated scopes (openid, accounts, payments, fundsconfirmations), allowed by the SSA roles. If omitted, derived from the SSA roles.',
          ...ref('ScopeString'),
        },
    application_type: ref('ApplicationType'),
    id_token_signed_response_alg: ref('SigningAlgorithm'),
    request_object_signing_alg: ref('SigningAlgorithm'),
    [dnClaim!]: { ...dnSchema, maxLength: 128 },
  };
  for (const alias of dnAliases) {
    requestProperties[alias] = { ...dnSchema, maxLength: 128, description: `Accepted as an alias of ${dnClaim} (RFC 8705 name, used from v3.2).` };
  }
  if (v33) {
    requestProperties.backchannel_token_delivery_mode = {
      description: `FAPI-CIBA: poll or ping (push is not allowed). Required iff grant_types contains ${CIBA_GRANT}.`,
      type: 'string',
      enum: ['poll', 'ping'],
    };
    requestProperties.backchannel_client_notification_endpoint = {
      description: 'HTTPS URL; required iff the CIBA grant is registered and the delivery mode is not poll.',
      type: 'string',
      format: 'uri',
      pattern: '^https://',
      minLength: 1,
      maxLength: 256,
    };
    requestProperties.backchannel_authentication_request_signing_alg = {
      description: 'Required iff the CIBA grant is registered.',
      ...ref('SigningAlgorithm'),
    };
    requestProperties.backchannel_user_code_parameter_supported = {
      description: 'Only with the CIBA grant; if present it must be false.',
      const: false,
    };
  }

  const requestConditions = requiredWhen((rule) => claimNames(rule, profile));
  if (v33) {
    const hasCiba = { properties: { grant_types: { type: 'array', contains: { const: CIBA_GRANT } } }, required: ['grant_types'] };
    requestConditions.push(
      {
        if: hasCiba,
        then: { required: ['backchannel_token_delivery_mode', 'backchannel_authentication_request_signing_alg'] },
        else: {
          not: {
            anyOf: [
              { required: ['backchannel_token_delivery_mode'] },
              { required: ['backchannel_client_notification_endpoint'] },
              { required: ['backchannel_authentication_request_signing_alg'] },
              { required: ['backchannel_user_code_parameter_supported'] },
            ],
          },
        },
      },
      {
        if: { properties: { backchannel_token_delivery_mode: { const: 'ping' } }, required: ['backchannel_token_delivery_mode'] },
        then: { required: ['backchannel_client_notification_endpoint'] },
      },
    );
  }

  const OBClientRegistrationRequest = {
    title: `OBClientRegistration1 (${version}) request claims`,
    description:
      'Claims of the registration request JWT (the payload of the compact JWS sent to POST /register and PUT /register/{ClientId}). ' +
      "Documented for reference: the body on the wire is the JWS string, signed (PS256/ES256) with a key from the SSA's software_jwks_endpoint. " +
      'PUT carries all claims, not a delta. Unknown claims are ignored.',
    type: 'object',
    required: ['iss', 'iat', 'exp', 'aud', 'jti', 'software_statement', ...requiredClaims(profile)],
    properties: requestProperties,
    allOf: requestConditions,
  };

  // ---------------------------------------------------------------- response body
  const responseProperties: Record<string, unknown> = {
    client_id: { description: 'Generated client identifier, immutable (data dictionary string(36)).', type: 'string', minLength: 1, maxLength: 36 },
    client_id_issued_at: { description: 'Seconds since the epoch (RFC 7591 §3.2.1), a JSON integer; kept across PUT.', type: 'integer', minimum: 0 },
    client_secret: { description: 'Only for client_secret_* methods (data dictionary string(36)).', type: 'string', minLength: 1, maxLength: 36 },
    client_secret_expires_at: { description: 'Seconds since the epoch; 0 = never. Present whenever client_secret is.', type: 'integer', minimum: 0 },
    redirect_uris: ref('RedirectUris'),
    token_endpoint_auth_method: ref('TokenEndpointAuthMethod'),
    token_endpoint_auth_signing_alg: ref('SigningAlgorithm'),
    tls_client_auth_subject_dn: dnSchema,
    grant_types: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', enum: ['client_credentials', 'authorization_code', 'refresh_token'] },
    },
    response_types: ref('ResponseTypes'),
    // Echoed from the SSA: today's directory issues 22-character ids, also to v3.1 clients.
    software_id: softwareIdSchema('v3.3'),
    scope: {
      description: 'Granted scopes, space-separated, never empty (a string in every version, v3.1 included).',
      ...ref('ScopeString'),
    },
    software_statement: { description: 'The original SSA, returned on every success response (GET included).', ...ref('SoftwareStatement') },
    application_type: ref('ApplicationType'),
    id_token_signed_response_alg: { description: 'A single string, never an array.', ...ref('SigningAlgorithm') },
    request_object_signing_alg: { description: 'A single string, never an array.', ...ref('SigningAlgorithm') },
    jwks_uri: { description: "The SSA's software_jwks_endpoint.", type: 'string', format: 'uri' },
    registration_access_token: {
      description: 'RFC 7592 extension: bearer token accepted by GET/PUT/DELETE /register/{ClientId}.',
      type: 'string',
      minLength: 1,
    },
    registration_client_uri: { description: 'RFC 7592 extension: URL of this registration.', type: 'string', format: 'uri' },
    // Flattened SSA claims (the spec says the response includes the SSA's claims as top-level members).
    software_client_id: { type: 'string' },
    software_client_name: { type: 'string' },
    software_client_description: { type: 'string' },
    software_client_uri: { type: 'string' },
    software_logo_uri: { type: 'string' },
    software_policy_uri: { type: 'string' },
    software_tos_uri: { type: 'string' },
    software_version: { description: 'Max42Text; some directories send a JSON number.', anyOf: [{ type: 'string' }, { type: 'number' }] },
    software_roles: { type: 'array', items: { type: 'string' } },
    software_redirect_uris: { type: 'array', items: { type: 'string' } },
    software_jwks_endpoint: { type: 'string', format: 'uri' },
    software_jwks_revoked_endpoint: { type: 'string' },
    software_environment: { type: 'string' },
    software_mode: { type: 'string' },
    software_on_behalf_of_org: { type: 'string' },
    org_id: { type: 'string' },
    org_name: { type: 'string' },
    org_status: { type: 'string' },
    org_jwks_endpoint: { type: 'string' },
    org_jwks_revoked_endpoint: { type: 'string' },
    org_contacts: { type: 'array', items: { type: 'object' } },
    organisation_competent_authority_claims: { description: 'An object (an array in early drafts).', anyOf: [{ type: 'object' }, { type: 'array' }] },
  };
  if (v31) {
    responseProperties.tls_client_auth_dn = { ...dnSchema, description: 'v3.1 name of tls_client_auth_subject_dn (either may be returned).' };
  }

  const OBClientRegistrationResponse = {
    title: `Client registration (${version}) response`,
    description:
      'Body of 201 (POST) and 200 (GET, PUT): the registered client metadata plus the original software_statement and the flattened SSA claims. ' +
      'Other members may be present (clients must tolerate them), but never the request JWT claims iss/iat/exp/aud/jti.',
    type: 'object',
    required: [
      'client_id',
      'client_id_issued_at',
      'redirect_uris',
      'token_endpoint_auth_method',
      'grant_types',
      'response_types',
      'scope',
      'software_statement',
      'application_type',
      'id_token_signed_response_alg',
      'request_object_signing_alg',
    ],
    properties: responseProperties,
    dependentRequired: { client_secret: ['client_secret_expires_at'] },
    // Returned under the registered name (a v3.1 client may also find its own name).
    allOf: requiredWhen((rule) => [rule.field, ...claimNames(rule, profile).filter((c) => c !== rule.field)]),
    not: {
      description: 'must not echo the request JWT claims iss, iat, exp, aud or jti',
      anyOf: REQUEST_ONLY_CLAIMS.map((claim) => ({ required: [claim] })),
    },
  };

  return {
    CompactJws: {
      description: 'A compact-serialised JWS (three base64url segments). The registration request body.',
      type: 'string',
      pattern: COMPACT_JWS_PATTERN,
      contentMediaType: 'application/jwt',
    },
    SoftwareStatement: {
      description: 'Software Statement Assertion: a compact JWS signed by the Open Banking Directory (PS256/ES256).',
      type: 'string',
      pattern: COMPACT_JWS_PATTERN,
    },
    SigningAlgorithm: {
      description:
        'JWS algorithms this server accepts: FAPI 1.0 Advanced §8.6 allows PS256 and ES256 (the official enum also lists RS256, which is rejected); the list is the one discovery advertises.',
      type: 'string',
      enum: [...(opts.signingAlgorithms ?? ['PS256', 'ES256'])],
    },
    TokenEndpointAuthMethod: { type: 'string', enum: [...(opts.authMethods ?? TOKEN_ENDPOINT_AUTH_METHODS)] },
    ApplicationType: { type: 'string', enum: [...profile.applicationTypes] },
    ResponseTypes: {
      type: 'array',
      minItems: 1,
      uniqueItems: true,
      items: { type: 'string', enum: [...RESPONSE_TYPES] },
    },
    RedirectUris: {
      type: 'array',
      minItems: 1,
      items: {
        description: 'https, no fragment, at most 256 characters; host not localhost/loopback.',
        type: 'string',
        format: 'uri',
        pattern: '^https://[^#]+$',
        minLength: 1,
        maxLength: 256,
      },
    },
    ScopeString: { type: 'string', minLength: 1, maxLength: 256, pattern: SCOPE_STRING_PATTERN },
    OBClientRegistrationRequest,
    OBClientRegistrationResponse,
    RegistrationError: {
      description: 'RFC 7591 §3.2.2 error body (also used for 401/403/415/500 so every error is JSON).',
      type: 'object',
      required: ['error', 'error_description'],
      properties: {
        error: { type: 'string', enum: [...REGISTRATION_ERROR_CODES] },
        error_description: { type: 'string', minLength: 1, maxLength: 500 },
      },
      additionalProperties: false,
    },
  };
}

function responses(): Record<string, unknown> {
  const json = (schema: string) => ({ 'application/json': { schema: ref(schema) } });
  const interactionId = { $ref: '#/components/headers/XFapiInteractionId' };
  const errorResponse = (description: string) => ({ description, headers: { 'x-fapi-interaction-id': interactionId }, content: json('RegistrationError') });
  return {
    ClientRegistration: {
      description: 'The registered client.',
      headers: { 'Cache-Control': { $ref: '#/components/headers/CacheControl' }, 'x-fapi-interaction-id': interactionId },
      content: json('OBClientRegistrationResponse'),
    },
    ClientDeleted: { description: 'Client deleted; its tokens are revoked.', headers: { 'x-fapi-interaction-id': interactionId } },
    BadRequest: errorResponse(
      'Request failed due to client error: malformed JWS, bad signature or algorithm, invalid claims (invalid_client_metadata), ' +
        'redirect URIs (invalid_redirect_uri), SSA problems (invalid_software_statement / unapproved_software_statement).',
    ),
    UnauthorizedMtls: {
      ...errorResponse('No client (transport) certificate, or one not issued by a trusted CA (when the certificate is optional at the TLS layer).'),
      headers: {
        'x-fapi-interaction-id': interactionId,
        'WWW-Authenticate': { description: 'Challenge, if any (RFC 7235).', required: false, schema: { type: 'string' } },
      },
    },
    Unauthorized: {
      ...errorResponse(
        'Missing, empty, malformed, expired or revoked bearer token, token not bound to the presented certificate, ' +
          'or unknown/deleted ClientId (the presented token is then revoked).',
      ),
      headers: {
        'x-fapi-interaction-id': interactionId,
        'WWW-Authenticate': {
          description: 'RFC 6750 §3 Bearer challenge; carries error="invalid_token" when credentials were presented.',
          required: true,
          schema: { type: 'string', pattern: '^Bearer( .*)?$' },
        },
      },
    },
    ForbiddenRegistration: errorResponse('The TPP is not permitted to register (e.g. certificate roles do not cover the SSA roles).'),
    Forbidden: errorResponse('The access token was issued to a different client than ClientId.'),
    UnsupportedMediaType: errorResponse('Content-Type is neither application/jose nor application/jwt.'),
    ServerError: errorResponse('Unexpected failure (error server_error; no internals in the description).'),
  };
}

function requestBody(version: DcrVersion): Record<string, unknown> {
  const media = {
    schema: ref('CompactJws'),
    'x-jws-payload-schema': ref('OBClientRegistrationRequest'),
  };
  return {
    description:
      `The registration request JWT: a compact JWS whose payload is OBClientRegistrationRequest. ` +
      `Official media type: ${version === 'v3.1' ? 'application/jwt' : 'application/jose'}; both are accepted (parameters such as charset are ignored).`,
    required: true,
    content: version === 'v3.1' ? { 'application/jwt': media, 'application/jose': media } : { 'application/jose': media, 'application/jwt': media },
  };
}

export function dcrOpenApi(version: DcrVersion, baseUrl: string, opts: DcrOpenApiOptions = {}): Record<string, unknown> {
  if (!DCR_VERSIONS.includes(version)) throw new TypeError(`unsupported DCR version: ${String(version)}`);
  const base = baseUrl.replace(/\/+$/, '');
  const mtlsOnly = [{ mutualTLS: [] }];
  const mtlsAndBearer = [{ mutualTLS: [], bearerAuth: [] }];
  const params = [{ $ref: '#/components/parameters/ClientId' }, { $ref: '#/components/parameters/XFapiInteractionId' }];
  const tags = ['Client Registration'];

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Dynamic Client Registration API (OpenDCR)',
      description:
        `UK Open Banking Dynamic Client Registration ${version} as implemented by OpenDCR: the OBIE definition with FAPI 1.0 Advanced rules ` +
        '(PS256/ES256 only, response types code / code id_token) and the known defects of the official files fixed ' +
        '(JWS request body, no request JWT claims in responses, JSON error bodies everywhere, mTLS on every operation).',
      version: `${version}.0`,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: `${base}/open-banking/${version}` }],
    tags: [{ name: 'Client Registration' }],
    paths: {
      '/register': {
        post: {
          operationId: 'registerClient',
          summary: 'Register a client by way of a Software Statement Assertion',
          description: 'Mutual TLS only (no bearer token). Responds 201 with the client metadata.',
          tags,
          parameters: [{ $ref: '#/components/parameters/XFapiInteractionId' }],
          security: mtlsOnly,
          requestBody: requestBody(version),
          responses: {
            '201': responseRef('ClientRegistration'),
            '400': responseRef('BadRequest'),
            '401': responseRef('UnauthorizedMtls'),
            '403': responseRef('ForbiddenRegistration'),
            '415': responseRef('UnsupportedMediaType'),
            '500': responseRef('ServerError'),
          },
        },
      },
      '/register/{ClientId}': {
        parameters: params,
        get: {
          operationId: 'getClient',
          summary: 'Get a client by way of Client ID',
          description: 'Bearer token (client-credentials access token of this client, no scope needed, or its registration access token) over mTLS.',
          tags,
          security: mtlsAndBearer,
          responses: {
            '200': responseRef('ClientRegistration'),
            '401': responseRef('Unauthorized'),
            '403': responseRef('Forbidden'),
            '500': responseRef('ServerError'),
          },
        },
        put: {
          operationId: 'updateClient',
          summary: 'Update a client by way of Client ID',
          description:
            'Bearer token over mTLS. The body carries all claims (not a delta); the SSA must be for the same software. ' +
            'client_id and client_id_issued_at are kept; existing tokens stay valid.',
          tags,
          security: mtlsAndBearer,
          requestBody: requestBody(version),
          responses: {
            '200': responseRef('ClientRegistration'),
            '400': responseRef('BadRequest'),
            '401': responseRef('Unauthorized'),
            '403': responseRef('Forbidden'),
            '415': responseRef('UnsupportedMediaType'),
            '500': responseRef('ServerError'),
          },
        },
        delete: {
          operationId: 'deleteClient',
          summary: 'Delete a client by way of Client ID',
          description: 'Bearer token over mTLS. Deletes the client and revokes its tokens; afterwards the management endpoints answer 401.',
          tags,
          security: mtlsAndBearer,
          responses: {
            '204': responseRef('ClientDeleted'),
            '401': responseRef('Unauthorized'),
            '403': responseRef('Forbidden'),
            '500': responseRef('ServerError'),
          },
        },
      },
    },
    components: {
      schemas: schemas(version, opts),
      responses: responses(),
      parameters: {
        ClientId: { name: 'ClientId', in: 'path', required: true, description: 'The client ID', schema: { type: 'string', minLength: 1, maxLength: 36 } },
        XFapiInteractionId: {
          name: 'x-fapi-interaction-id',
          in: 'header',
          required: false,
          description: 'FAPI interaction id; echoed in the response (a UUID is generated when absent).',
          schema: { type: 'string', minLength: 1 },
        },
      },
      headers: {
        XFapiInteractionId: { description: "The caller's x-fapi-interaction-id, or a generated UUID.", required: false, schema: { type: 'string' } },
        CacheControl: { description: 'no-store on responses carrying client secrets or tokens.', required: false, schema: { type: 'string' } },
      },
      securitySchemes: {
        mutualTLS: {
          type: 'mutualTLS',
          description: 'TLS client (transport) certificate issued by a trusted CA (OB / OBWAC / eIDAS QWAC); bound to the SSA at registration.',
        },
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A client-credentials access token issued to the same client as ClientId (no scope needed; certificate-bound, RFC 8705), ' +
            'or the registration_access_token returned at registration.',
        },
      },
    },
  };
}
