/**
 * Every error the server can answer with, by a stable machine code (the way fastify has
 * FST_ERR_* and jose ERR_*). The code is what the audit trail stores, what logs and metrics count
 * and what the admin page explains; the HTTP status and the wire code (RFC 6749 / RFC 7591 / OB
 * DCR) belong to it, and the description sent with each error is written where it is thrown.
 * Codes are never renamed or reused: a program may count them. docs/errors.md is generated
 * from this table (`npm run docs:errors`) and a test keeps it current.
 */

/** The `error` member on the wire (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7591 §3.2.2, ours for the rest). */
export type WireError =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'invalid_token'
  | 'access_denied'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_software_statement'
  | 'unapproved_software_statement'
  | 'not_found'
  | 'conflict'
  | 'temporarily_unavailable'
  | 'server_error';

export interface ErrorSpec {
  readonly status: number;
  readonly error: WireError;
  /** What it means, for docs/errors.md and the admin page. */
  readonly summary: string;
  /** On an Open Banking resource API (the gateway): the OBError1 ErrorCode sent in OBErrorResponse1. */
  readonly ob?: ObErrorCode;
}

/** OBError1.ErrorCode values the gateway sends (OB Read/Write API v3.1, x-namespaced-enum). */
export type ObErrorCode =
  | 'UK.OBIE.Field.Invalid'
  | 'UK.OBIE.Field.Missing'
  | 'UK.OBIE.Field.Unexpected'
  | 'UK.OBIE.Header.Invalid'
  | 'UK.OBIE.Header.Missing'
  | 'UK.OBIE.Resource.ConsentMismatch'
  | 'UK.OBIE.Resource.NotFound'
  | 'UK.OBIE.Signature.Invalid'
  | 'UK.OBIE.Signature.Malformed'
  | 'UK.OBIE.Signature.Missing'
  | 'UK.OBIE.Signature.InvalidClaim'
  | 'UK.OBIE.Signature.MissingClaim'
  | 'UK.OBIE.Reauthenticate'
  | 'UK.OBIE.Resource.InvalidConsentStatus'
  | 'UK.OBIE.Field.InvalidDate'
  | 'UK.OBIE.Field.Expected'
  | 'UK.OBIE.Rules.FailsControlParameters'
  | 'UK.OBIE.UnexpectedError';

const e = (status: number, error: WireError, summary: string): ErrorSpec => ({ status, error, summary });
/** A gateway (OB resource API) error: its status, the OBError1 code, and what it means. */
const g = (status: number, ob: ObErrorCode, summary: string): ErrorSpec => ({
  status,
  summary,
  ob,
  // The wire error where the API keeps OAuth's shape (the DCR API published through the gateway).
  error: status === 401 ? 'invalid_token' : status === 403 ? 'access_denied' : status >= 500 || status === 429 ? 'temporarily_unavailable' : 'invalid_request',
});

/** The key set failures of one JWS check, prefixed by what was being checked. */
function keySetCodes<P extends string>(prefix: P, what: string, error: WireError) {
  return {
    [`${prefix}_KEY_SET_UNAVAILABLE`]: e(400, error, `the key set for ${what} could not be fetched (the description says why); a retry may succeed`),
    [`${prefix}_KEY_SET_NOT_ALLOWED`]: e(
      400,
      error,
      `the key set for ${what} is at a location this server may not fetch from (not in [oauth] allowed_outbound_hosts, or a redirect)`,
    ),
    [`${prefix}_KEY_SET_INVALID`]: e(400, error, `the key set for ${what} is not a valid JWKS, or too large`),
    [`${prefix}_KEY_NOT_FOUND`]: e(400, error, `no key in the key set matches the kid of ${what}`),
    [`${prefix}_SIGNATURE_INVALID`]: e(400, error, `the signature of ${what} does not verify`),
  } as Record<`${P}_${'KEY_SET_UNAVAILABLE' | 'KEY_SET_NOT_ALLOWED' | 'KEY_SET_INVALID' | 'KEY_NOT_FOUND' | 'SIGNATURE_INVALID'}`, ErrorSpec>;
}

/** The four ways a compact JWS body or claim can be unreadable. */
function jwsShapeCodes<P extends string>(prefix: P, what: string, error: WireError) {
  return {
    [`${prefix}_MISSING`]: e(400, error, `${what} is missing`),
    [`${prefix}_NOT_JWS`]: e(400, error, `${what} is not a compact JWS`),
    [`${prefix}_TOO_DEEP`]: e(400, error, `${what} nests JSON deeper than the server accepts (32 levels)`),
    [`${prefix}_UNDECODABLE`]: e(400, error, `the header or payload of ${what} is not base64url-encoded JSON`),
  } as Record<`${P}_${'MISSING' | 'NOT_JWS' | 'TOO_DEEP' | 'UNDECODABLE'}`, ErrorSpec>;
}

const MD = 'invalid_client_metadata';
const SS = 'invalid_software_statement';
const UNAPPROVED = 'unapproved_software_statement';

export const ERRORS = {
  // Requests in general: protocol, size and shape.
  NOT_FOUND: e(404, 'not_found', 'no such endpoint'),
  METHOD_NOT_ALLOWED: e(405, 'invalid_request', 'the method is not allowed on this endpoint'),
  BODY_TOO_LARGE: e(413, 'invalid_request', 'the request body is larger than the endpoint accepts'),
  UNSUPPORTED_MEDIA_TYPE: e(415, 'invalid_request', 'the Content-Type is not one this endpoint reads'),
  MALFORMED_REQUEST: e(400, 'invalid_request', 'the request could not be parsed (bad JSON, bad form body, invalid field)'),
  PATH_INVALID: e(400, 'invalid_request', 'the request path is not a valid URL'),
  PATH_SEGMENT_TOO_LONG: e(414, 'invalid_request', 'a segment of the request path is longer than the server accepts'),
  HTTP_MALFORMED: e(400, 'invalid_request', 'the HTTP request itself could not be parsed'),
  HTTP_TIMEOUT: e(408, 'invalid_request', "the request (headers or body) was not received within the server's limits"),
  HEADERS_TOO_LARGE: e(431, 'invalid_request', 'the request headers are larger than the server accepts'),
  JSON_TOO_DEEP: e(400, 'invalid_request', 'a JSON body or JOSE parameter nests deeper than the server accepts (32 levels)'),
  SHUTTING_DOWN: e(503, 'temporarily_unavailable', 'this instance is shutting down; retry (the load balancer sends it elsewhere)'),
  STORAGE_UNAVAILABLE: e(503, 'temporarily_unavailable', 'the database could not be reached or was busy; nothing was changed, a retry may succeed'),
  SHARED_STATE_UNAVAILABLE: e(
    503,
    'temporarily_unavailable',
    'the shared state (Redis, or its embedded or PostgreSQL form) could not be reached; the request was not let through unchecked, a retry may succeed',
  ),
  SERVER_ERROR: e(500, 'server_error', 'an unexpected error; the log has the details under the same request id'),
  PROVIDER_ERROR: e(400, 'invalid_request', 'an OAuth error raised by the protocol engine (oidc-provider); the wire error names it'),

  // Clients and their certificates.
  CLIENT_CERT_REQUIRED: e(401, 'invalid_client', 'no client (transport) certificate, or one that does not chain to the trust store'),
  CLIENT_CERT_EXPIRED: e(401, 'invalid_client', 'the client certificate is outside its validity period'),
  CLIENT_CERT_NOT_BOUND: e(401, 'invalid_client', 'the client certificate does not belong to the software the client was registered for'),
  CLIENT_CERT_CHECK_UNAVAILABLE: e(
    401,
    'invalid_client',
    'whether the certificate belongs to the software could not be checked (its key set could not be fetched)',
  ),

  // Bearer tokens at the server's own resources (DCR management); the gateway answers GATEWAY_TOKEN_* instead.
  TOKEN_MISSING: e(401, 'invalid_token', 'no access token (Authorization: Bearer <token>)'),
  TOKEN_MALFORMED: e(401, 'invalid_token', 'the Authorization header is not "Bearer <token>"'),
  TOKEN_INVALID: e(401, 'invalid_token', 'the access token is not valid for this resource (for another client, or of a kind the resource does not take)'),
  TOKEN_UNKNOWN: e(401, 'invalid_token', 'the token is not one this server issued (no such opaque token; a JWT without a valid signature by one of its keys)'),
  TOKEN_EXPIRED: e(401, 'invalid_token', 'the token has expired'),
  TOKEN_CLAIMS_INVALID: e(
    401,
    'invalid_token',
    'the JWT is signed by this server but is not an access token for its resources (typ, iss, aud or required claims)',
  ),
  TOKEN_REVOKED: e(401, 'invalid_token', 'the client the token was issued to was deleted, or its tokens revoked'),
  TOKEN_CERT_MISMATCH: e(401, 'invalid_token', 'the token is bound to another certificate than the one presented (RFC 8705), or none was presented'),

  // Administration.
  ADMIN_UNAUTHORIZED: e(401, 'invalid_client', 'administrator credentials are missing or wrong'),
  ADMIN_SESSION_INVALID: e(
    401,
    'invalid_client',
    'the console session is missing, expired (idle or lifetime), logged out (here or everywhere), or its user was removed or had the password or role changed; log in again',
  ),
  ADMIN_CSRF: e(403, 'access_denied', "a console request that changes something lacks the session's x-csrf-token"),
  ADMIN_READ_ONLY: e(403, 'access_denied', 'the console user is an auditor: reading only'),
  ADMIN_ROLE_FORBIDDEN: e(403, 'access_denied', "the console user's role does not reach this part of the admin API (customer care reaches the consents only)"),
  ADMIN_LOGIN_THROTTLED: e(
    429,
    'invalid_request',
    'too many failed administrator passwords (console login or HTTP Basic) for this account or from this address; refused, even the right one, until Retry-After',
  ),
  ADMIN_CROSS_SITE: e(
    403,
    'access_denied',
    "a change to the admin APIs that a page of another origin could have made a browser send: it must be JSON or carry X-Requested-With, and come from this server's origin",
  ),
  METRICS_FORBIDDEN: e(403, 'access_denied', 'metrics are served only to [metrics] allowed_networks (and with the [metrics] token, when one is set)'),
  SCOPE_EXISTS: e(409, 'conflict', 'a scope of that name exists'),
  SCOPE_NOT_FOUND: e(404, 'not_found', 'no scope of that name'),
  CONSENT_UNKNOWN: e(404, 'not_found', 'no consent with that id (the operations API: deleted consents are kept and found)'),
  CONSENT_NOT_STOPPABLE: e(
    409,
    'invalid_request',
    'the consent cannot be stopped in its status: a payment consent once authorised, one already rejected, revoked, expired or consumed, or one the TPP deleted',
  ),
  SCOPE_PROTECTED: e(400, 'invalid_request', 'the scope is required by OpenID Connect and cannot be deleted'),

  // The gateway: one code per step of the runtime path (docs: README "Gateway").
  GATEWAY_PATH_INVALID: g(
    400,
    'UK.OBIE.Field.Invalid',
    "the request path or query is not in the form the gateway routes: a segment that is empty, . or .., or holds (encoded or not) a character other than letters, digits and - . _ ~ ! $ & ' ( ) * + , = : @; a malformed % escape; refused before the token is read",
  ),
  GATEWAY_ROUTE_NOT_FOUND: g(404, 'UK.OBIE.Resource.NotFound', 'no published API operation matches the method and path (or the API is retired)'),
  GATEWAY_METHOD_NOT_ALLOWED: g(405, 'UK.OBIE.UnexpectedError', 'the path belongs to an API operation, but not with this method'),
  GATEWAY_API_BLOCKED: g(503, 'UK.OBIE.UnexpectedError', 'the API is blocked by the bank; no call reaches it until it is published again'),
  GATEWAY_TOKEN_REJECTED: g(
    401,
    'UK.OBIE.Reauthenticate',
    'no longer answered: the GATEWAY_TOKEN_* codes below say which check refused the token; kept so that counts recorded under it keep their meaning',
  ),
  // The token step: 401 with no body; the Bearer challenge's error_description says why (RFC 6750 §3).
  GATEWAY_TOKEN_MISSING: g(401, 'UK.OBIE.Reauthenticate', 'no Authorization header: the challenge then carries no error code (RFC 6750 §3.1)'),
  GATEWAY_TOKEN_MALFORMED: g(
    401,
    'UK.OBIE.Reauthenticate',
    'the Authorization header is not "Bearer <token>", or the token has the shape of a JWT and cannot be read as one',
  ),
  GATEWAY_TOKEN_NO_KEY_MANAGER: g(
    401,
    'UK.OBIE.Reauthenticate',
    "no enabled key manager owns the token: no external one's token handling rules match it and it is not the resident one's (its issuer, or opaque), or the key manager that would own it is disabled",
  ),
  GATEWAY_TOKEN_UNKNOWN: g(
    401,
    'UK.OBIE.Reauthenticate',
    'the key manager that owns the token does not know it: no such opaque token, or a JWT whose signature does not verify with its keys (tampered, forged, or signed with a kid not in its key set)',
  ),
  GATEWAY_TOKEN_INACTIVE: g(
    401,
    'UK.OBIE.Reauthenticate',
    "the external key manager's introspection answer says the token is not active (unknown to it, expired or revoked there)",
  ),
  GATEWAY_TOKEN_EXPIRED: g(401, 'UK.OBIE.Reauthenticate', 'the token has expired (exp, with [oauth] clock_tolerance)'),
  GATEWAY_TOKEN_CLAIMS_INVALID: g(
    401,
    'UK.OBIE.Reauthenticate',
    "the token verifies but is not an access token for this gateway: its typ, iss, aud or nbf is wrong, a required claim is missing, or it lacks the claim its key manager's claim mapping names for the client id (error_description names the claim)",
  ),
  GATEWAY_TOKEN_REVOKED: g(
    401,
    'UK.OBIE.Reauthenticate',
    'the resident client the token was issued to was deleted (its registration gone, or its revocation mark set), also for a token the gateway verified before',
  ),
  GATEWAY_TOKEN_CERT_MISMATCH: g(
    401,
    'UK.OBIE.Reauthenticate',
    'the token is bound to another certificate than the one presented, or to none (every Open Banking token must carry cnf x5t#S256, RFC 8705)',
  ),
  GATEWAY_SCOPE_MISSING: g(403, 'UK.OBIE.Resource.ConsentMismatch', 'the access token lacks a scope the operation requires'),
  GATEWAY_FLOW_MISMATCH: g(
    403,
    'UK.OBIE.Resource.ConsentMismatch',
    'the operation needs a PSU-authorised token and got a client-credentials one, or the reverse',
  ),
  GATEWAY_ROLE_MISSING: g(403, 'UK.OBIE.Resource.ConsentMismatch', "the TPP's roles (certificate or software statement) do not include one the API requires"),
  GATEWAY_CONSENT_MISMATCH: g(
    403,
    'UK.OBIE.Resource.ConsentMismatch',
    "the PSU token's consent does not open this operation: another consent type, another consent's resource, or an operation no consent opens",
  ),
  GATEWAY_CONSENT_PERMISSION: g(
    403,
    'UK.OBIE.Resource.ConsentMismatch',
    "the account access consent does not grant the permission this endpoint needs (docs/consents.md's map)",
  ),
  GATEWAY_CONSENT_ACCOUNT: g(403, 'UK.OBIE.Resource.ConsentMismatch', 'the path names an account the PSU did not choose for this consent'),
  GATEWAY_CONSENT_BODY_MISMATCH: g(
    400,
    'UK.OBIE.Resource.ConsentMismatch',
    "the body does not name the token's consent (Data.ConsentId), or the order does not repeat its consent's Initiation and Risk exactly; Path names the first field that differs",
  ),
  GATEWAY_CONSENT_STATUS: g(
    400,
    'UK.OBIE.Resource.InvalidConsentStatus',
    'the consent cannot be used for this order: already consumed, or used by another order still running',
  ),
  GATEWAY_QUERY_INVALID: g(
    400,
    'UK.OBIE.Field.InvalidDate',
    'a query parameter the consent bounds (fromBookingDateTime, toBookingDateTime) is not an ISO 8601 date-time',
  ),
  GATEWAY_VRP_LIMIT: g(
    400,
    'UK.OBIE.Rules.FailsControlParameters',
    "the VRP payment breaks its consent's control parameters (dates, largest single payment, a periodic limit, currency, authentication method, VRP type); Path names which",
  ),
  GATEWAY_NOT_SUBSCRIBED: g(403, 'UK.OBIE.Resource.ConsentMismatch', 'the application (client) is not subscribed to the API'),
  GATEWAY_SUBSCRIPTION_BLOCKED: g(403, 'UK.OBIE.Resource.ConsentMismatch', "the application's subscription to the API is blocked by the bank"),
  // The consent (intent) resources served by OpenDCR (src/consent).
  CONSENT_INVALID: g(400, 'UK.OBIE.Field.Invalid', 'the consent request does not follow its API definition or the consent rules; Errors[] name each field'),
  CONSENT_NOT_FOUND: g(400, 'UK.OBIE.Resource.NotFound', "no consent with this id exists for this application (unknown, deleted, or another application's)"),
  CONSENT_METHOD_UNSUPPORTED: g(405, 'UK.OBIE.UnexpectedError', 'the consent resource does not offer this operation here'),
  EVENTS_POLL_INVALID: g(400, 'UK.OBIE.Field.Invalid', 'the event polling request (POST /events) does not follow OBEventPolling1; Errors[] name each field'),
  EVENTS_PUSH_UNSUPPORTED: g(405, 'UK.OBIE.UnexpectedError', 'event subscriptions (real-time push) are not offered: poll POST /events for event notifications'),
  CONSENT_DEFINITION_UNREADABLE: g(500, 'UK.OBIE.UnexpectedError', "the API's stored definition could not be read to check the consent request"),
  GATEWAY_THROTTLED: g(429, 'UK.OBIE.UnexpectedError', "the plan's or the operation's request limit is reached; Retry-After says when the window ends"),
  GATEWAY_CONTENT_TYPE: g(
    415,
    'UK.OBIE.Header.Invalid',
    "a request body is not sent as a media type the operation's definition declares (application/json for OB), or is compressed",
  ),
  GATEWAY_NOT_ACCEPTABLE: g(406, 'UK.OBIE.Header.Invalid', 'the Accept header allows no media type the API answers with (application/json)'),
  GATEWAY_HEADER_MISSING: g(400, 'UK.OBIE.Header.Missing', 'a header the operation requires is missing (x-idempotency-key, x-jws-signature)'),
  GATEWAY_HEADER_INVALID: g(400, 'UK.OBIE.Header.Invalid', 'a header is malformed (x-idempotency-key longer than 40 characters, …)'),
  GATEWAY_IDEMPOTENCY_MISMATCH: g(
    400,
    'UK.OBIE.Field.Invalid',
    'the x-idempotency-key was used in the last 24 hours with another body or by another operation',
  ),
  GATEWAY_IDEMPOTENCY_IN_PROGRESS: g(
    409,
    'UK.OBIE.UnexpectedError',
    'a request with the same x-idempotency-key is still being processed; retry after the time in Retry-After',
  ),
  GATEWAY_IDEMPOTENCY_OUTCOME_UNKNOWN: g(
    409,
    'UK.OBIE.UnexpectedError',
    'the first request with this x-idempotency-key may or may not have been executed (the backend did not answer in time, the connection was cut, or the gateway stopped); it is never run again: check the resource, then use a new key',
  ),
  GATEWAY_SIGNATURE_MISSING: g(400, 'UK.OBIE.Signature.Missing', 'the operation requires an x-jws-signature header'),
  GATEWAY_SIGNATURE_MALFORMED: g(400, 'UK.OBIE.Signature.Malformed', 'x-jws-signature is not a detached JWS with b64 false and the OB protected header'),
  GATEWAY_SIGNATURE_CLAIM_INVALID: g(
    400,
    'UK.OBIE.Signature.InvalidClaim',
    'a claim of the x-jws-signature protected header (iss, iat, tan, crit, alg) is not valid',
  ),
  GATEWAY_SIGNATURE_INVALID: g(400, 'UK.OBIE.Signature.Invalid', "x-jws-signature does not verify against the body with a key of the software's key set"),
  GATEWAY_BODY_NOT_ALLOWED: g(
    400,
    'UK.OBIE.Field.Unexpected',
    "the request has a body, and the operation's definition declares none (a GET, HEAD or DELETE with a body, …)",
  ),
  GATEWAY_JSON_TOO_DEEP: g(400, 'UK.OBIE.Field.Invalid', 'the JSON request body nests arrays and objects deeper than the server accepts (32 levels)'),
  GATEWAY_BODY_TOO_LARGE: g(413, 'UK.OBIE.Field.Invalid', 'the request body is larger than [gateway] max_request_body'),
  GATEWAY_KEY_MANAGER_UNAVAILABLE: g(
    503,
    'UK.OBIE.UnexpectedError',
    'the key manager that owns the token could not be asked (its key set or introspection endpoint did not answer); a retry may succeed',
  ),
  GATEWAY_BACKEND_UNREACHABLE: g(
    502,
    'UK.OBIE.UnexpectedError',
    "the API's backend could not be reached, closed the connection, or sent a response larger than the gateway accepts",
  ),
  GATEWAY_BACKEND_TIMEOUT: g(504, 'UK.OBIE.UnexpectedError', "the API's backend did not answer within [gateway] backend_timeout"),

  // The gateway catalogue (admin APIs and CLI).
  API_NOT_FOUND: e(404, 'not_found', 'no API with that id'),
  API_EXISTS: e(409, 'conflict', 'an API with the same name and version exists, or publishing would serve a route another served API serves'),
  API_DOCUMENT_INVALID: e(
    400,
    'invalid_request',
    'the OpenAPI or Swagger document is invalid; the description lists the first problems and nothing was changed',
  ),
  API_INVALID: e(400, 'invalid_request', 'a field of the API (context, version, backend URL, plans, roles) is not valid'),
  API_LIFECYCLE_INVALID: e(409, 'conflict', "the lifecycle action is not allowed from the API's current state"),
  PLAN_NOT_FOUND: e(404, 'not_found', 'no business plan of that name'),
  PLAN_EXISTS: e(409, 'conflict', 'a business plan of that name exists'),
  PLAN_INVALID: e(400, 'invalid_request', 'a field of the business plan is not valid'),
  PLAN_IN_USE: e(409, 'conflict', 'the business plan is offered by an API or used by a subscription; the description says where'),
  PLAN_BUILT_IN: e(400, 'invalid_request', 'a built-in business plan cannot be changed or removed'),
  SUBSCRIPTION_NOT_FOUND: e(404, 'not_found', 'no subscription with that id'),
  SUBSCRIPTION_INVALID: e(400, 'invalid_request', 'the subscription change is not valid (unknown plan or key manager, a plan the API does not offer)'),
  SUBSCRIPTION_EXISTS: e(409, 'conflict', 'the application is already subscribed to the API'),
  APPLICATION_NOT_FOUND: e(404, 'not_found', 'no application (DCR registration) with that client id'),
  KEY_MANAGER_NOT_FOUND: e(404, 'not_found', 'no key manager of that name'),
  KEY_MANAGER_EXISTS: e(409, 'conflict', 'a key manager of that name exists'),
  KEY_MANAGER_INVALID: e(
    400,
    'invalid_request',
    'the key manager could not be validated: its discovery document, key set or endpoints are missing, unreachable or inconsistent (the description says which); nothing was saved',
  ),
  KEY_MANAGER_RESIDENT: e(400, 'invalid_request', 'the resident key manager can only be enabled or disabled'),
  SANDBOX_DISABLED: e(403, 'access_denied', 'production mode: nothing that issues a sandbox identity runs'),
  SANDBOX_NOT_INITIALISED: e(409, 'conflict', 'there is no sandbox directory yet: initialise it (console or `opendcr sandbox init`) first'),
  SANDBOX_UNREADABLE: e(409, 'conflict', "the sandbox directory's file cannot be read: initialise it again, replacing it (`opendcr sandbox init --force`)"),
  SANDBOX_EXISTS: e(409, 'conflict', 'the sandbox directory exists already (`opendcr sandbox init --force` replaces it and its TPPs)'),
  SANDBOX_DIRECTORY_INVALID: e(400, 'invalid_request', 'the sandbox directory could not be created: its name is not valid'),
  SANDBOX_TRUSTSTORE: e(409, 'conflict', "the sandbox directory's CAs could not be added to or removed from the trust store"),
  SANDBOX_TPP_INVALID: e(
    400,
    'invalid_request',
    'the sandbox TPP could not be created: name, roles (AISP, PISP, CBPII), redirect URIs (https) or environment invalid',
  ),
  SANDBOX_TPP_EXISTS: e(409, 'conflict', 'a sandbox TPP of that name exists already'),
  SANDBOX_TPP_NOT_FOUND: e(404, 'not_found', 'no sandbox TPP with that software_id or name'),
  SANDBOX_TPP_AMBIGUOUS: e(409, 'conflict', 'several sandbox TPPs have that name: name one by its software_id'),
  SANDBOX_TPP_REGISTERED: e(
    409,
    'conflict',
    'the sandbox TPP is registered with a server: delete the registration first, or delete the TPP anyway to forget it',
  ),
  SANDBOX_KEY_INVALID: e(409, 'conflict', 'the sandbox TPP has no such key, or it is revoked already'),

  // OB DCR: the request as a whole.
  DCR_VERSION_UNKNOWN: e(404, 'not_found', 'the path names a DCR API version this server does not serve'),
  DCR_MEDIA_TYPE: e(400, MD, 'the registration request is not sent as application/jose or application/jwt'),
  ...jwsShapeCodes('REQUEST', 'the registration request', MD),
  REQUEST_ALG_NOT_ALLOWED: e(400, MD, 'the registration request is signed with an algorithm this server does not accept'),
  REQUEST_KID_MISSING: e(400, MD, 'the registration request JWS header has no kid'),
  REQUEST_KEY_REVOKED: e(400, UNAPPROVED, "the key that signed the registration request is on the software's or organisation's revoked list"),
  REQUEST_REVOCATION_LIST_UNAVAILABLE: e(
    400,
    UNAPPROVED,
    'a revoked-keys list could not be fetched, so the signing key could not be checked; a retry may succeed',
  ),
  REQUEST_REVOCATION_LIST_NOT_ALLOWED: e(
    400,
    UNAPPROVED,
    'a revoked-keys list is at a location this server may not fetch from: a configuration problem of the bank',
  ),
  REQUEST_REVOCATION_LIST_INVALID: e(400, UNAPPROVED, 'a revoked-keys list is not a valid JWKS'),
  ...keySetCodes('REQUEST', 'the registration request (software_jwks_endpoint)', MD),
  REQUEST_ISS_MISMATCH: e(400, MD, 'iss is not the software_id of the software statement'),
  REQUEST_AUD_NOT_ALLOWED: e(400, MD, 'aud is not this server or one of its registration endpoints'),
  REQUEST_IAT_INVALID: e(400, MD, 'iat is missing or not a time (seconds since 1970, up to the year 9999)'),
  REQUEST_EXP_INVALID: e(400, MD, 'exp is missing or not a time (seconds since 1970, up to the year 9999)'),
  REQUEST_NBF_INVALID: e(400, MD, 'nbf is not a time (seconds since 1970, up to the year 9999)'),
  REQUEST_IAT_FUTURE: e(400, MD, 'iat is in the future'),
  REQUEST_NOT_YET_VALID: e(400, MD, 'nbf is in the future: the registration request is not valid yet'),
  REQUEST_EXPIRED: e(400, MD, 'the registration request has expired'),
  REQUEST_EXP_BEFORE_IAT: e(400, MD, 'exp is not after iat (or nbf)'),
  REQUEST_LIFETIME_TOO_LONG: e(400, MD, 'the registration request is valid for longer than [open_banking.dcr] request_max_lifetime (from iat, nbf or now)'),
  REQUEST_JTI_INVALID: e(400, MD, 'jti is missing or invalid'),
  REQUEST_JTI_REPLAYED: e(400, MD, 'the jti has been used before: sign a new request'),
  REQUEST_SOFTWARE_ID_MISMATCH: e(400, MD, "software_id differs from the software statement's"),

  // OB DCR: the software statement.
  ...jwsShapeCodes('SSA', 'the software statement', SS),
  SSA_ALG_NOT_ALLOWED: e(400, SS, 'the software statement is signed with an algorithm this server does not accept'),
  SSA_ISSUER_UNTRUSTED: e(400, UNAPPROVED, "the software statement's issuer is not a trusted directory"),
  SSA_ENVIRONMENT_UNKNOWN: e(400, UNAPPROVED, 'software_environment is neither "sandbox" nor "production"'),
  SSA_ENVIRONMENT_NOT_ACCEPTED: e(400, UNAPPROVED, 'this server does not accept software statements of that environment'),
  SSA_KID_MISSING: e(400, SS, 'the software statement JWS header has no kid'),
  ...keySetCodes('SSA', 'the software statement (the directory key set)', SS),
  SSA_IAT_INVALID: e(400, SS, "the software statement's iat is missing or not a time (seconds since 1970, up to the year 9999)"),
  SSA_IAT_FUTURE: e(400, SS, "the software statement's iat is in the future"),
  SSA_NOT_YET_VALID: e(400, SS, "the software statement's nbf is in the future: it is not valid yet"),
  SSA_EXPIRED: e(400, SS, 'the software statement has expired'),
  SSA_TOO_OLD: e(400, SS, 'the software statement is older than [open_banking.dcr] ssa_max_age'),
  SSA_CLAIM_MISSING: e(400, SS, 'a required claim of the software statement is missing'),
  SSA_CLAIM_INVALID: e(400, SS, 'a claim of the software statement has the wrong type or form'),
  SSA_ORG_NOT_ACTIVE: e(400, UNAPPROVED, "the organisation's status in the directory is not Active"),

  // OB DCR: client metadata.
  REDIRECT_URI_INVALID: e(
    400,
    'invalid_redirect_uri',
    'a redirect URI is not an https URL to a host other than localhost, without fragment, at most 256 characters',
  ),
  REDIRECT_URI_NOT_IN_SSA: e(400, 'invalid_redirect_uri', "a redirect URI is not one of the software statement's software_redirect_uris"),
  METADATA_ALG_MISSING: e(400, MD, 'a required signing algorithm field is missing'),
  METADATA_ALG_NOT_ALLOWED: e(400, MD, 'a signing algorithm field names an algorithm this server does not accept'),
  METADATA_AUTH_METHOD_MISSING: e(400, MD, 'token_endpoint_auth_method is missing'),
  METADATA_AUTH_METHOD_NOT_ALLOWED: e(400, MD, 'token_endpoint_auth_method is not one this server registers'),
  METADATA_SUBJECT_DN_UNEXPECTED: e(400, MD, 'a subject DN was sent for a method other than tls_client_auth'),
  METADATA_SUBJECT_DN_MISSING: e(400, MD, 'tls_client_auth needs tls_client_auth_subject_dn'),
  METADATA_SUBJECT_DN_INVALID: e(400, MD, 'the subject DN is not a valid distinguished name (or too long)'),
  METADATA_SUBJECT_DN_MISMATCH: e(400, MD, "the subject DN is not the transport certificate's (the description gives the expected one)"),
  METADATA_GRANT_TYPES_INVALID: e(400, MD, 'grant_types is not a non-empty array of strings'),
  METADATA_GRANT_TYPE_UNSUPPORTED: e(400, MD, 'a grant type is not one this server offers'),
  METADATA_GRANT_TYPES_INCONSISTENT: e(400, MD, 'refresh_token without authorization_code'),
  METADATA_CIBA_UNSUPPORTED: e(400, MD, 'a CIBA field was sent; this server does not offer CIBA'),
  METADATA_RESPONSE_TYPES_INVALID: e(400, MD, 'response_types is not an array of strings'),
  METADATA_RESPONSE_TYPE_UNSUPPORTED: e(400, MD, 'a response type other than "code id_token" or "code"'),
  METADATA_RESPONSE_TYPES_INCONSISTENT: e(400, MD, 'response_types and the authorization_code grant do not go together'),
  METADATA_SCOPE_INVALID: e(400, MD, 'scope is not a space-separated string'),
  METADATA_SCOPE_EMPTY: e(400, MD, 'scope is empty'),
  METADATA_SCOPE_NOT_OFFERED: e(400, MD, 'a scope is not offered to Open Banking clients'),
  METADATA_SCOPE_ROLE_MISSING: e(400, MD, 'a scope needs a role (AISP, PISP, CBPII) the software statement does not grant'),
  METADATA_SCOPE_TOO_LONG: e(400, MD, 'scope is longer than 256 characters'),
  METADATA_APPLICATION_TYPE_INVALID: e(400, MD, 'application_type is not one the DCR version allows'),
  METADATA_REFUSED: e(400, MD, "the key manager refused the client metadata (oidc-provider's client schema)"),
  TRANSPORT_CERT_NOT_BOUND: e(
    400,
    MD,
    "the transport certificate belongs neither to the software's key set (use:tls) nor, by its subject, to the organisation and software",
  ),
  ...keySetCodes('TRANSPORT_CERT', 'the transport certificate check (software_jwks_endpoint)', MD),

  // OB DCR: the operation.
  REGISTRATION_EXISTS: e(400, MD, 'the software already has a registration and [open_banking.dcr] single_registration_per_software is on'),
  UPDATE_SOFTWARE_MISMATCH: e(400, MD, 'the software statement of a PUT is for another software than the registration'),
  UPDATE_CLIENT_ID_MISMATCH: e(400, MD, 'client_id in a PUT body is not the one in the path'),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The codes in their table order (docs, admin page). */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** What a stored code means (its catalog summary); null for no code or one the catalog no longer has. */
export function meaningOf(code: string | null): string | null {
  return code !== null && Object.hasOwn(ERRORS, code) ? ERRORS[code as ErrorCode].summary : null;
}
