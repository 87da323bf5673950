/**
 * Typed errors carrying their OAuth / RFC 7591 meaning. Only errors/to-response.ts turns them
 * into response bodies; anything that is not an OAuthError goes out as 500 server_error.
 */

export const ERROR_CODES = [
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_token',
  'insufficient_scope',
  'access_denied',
  'not_found',
  'conflict',
  'unsupported_media_type',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_software_statement',
  'unapproved_software_statement',
  'temporarily_unavailable',
  'server_error',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class OAuthError extends Error {
  override readonly name: string = 'OAuthError';
  readonly error: ErrorCode;
  readonly status: number;
  /** Extra response headers (e.g. WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(error: ErrorCode, status: number, description: string, opts: { cause?: unknown; headers?: Record<string, string> } = {}) {
    super(description, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.error = error;
    this.status = status;
    this.headers = opts.headers ?? {};
  }

  /** The error_description sent to the caller: always safe, written for the person fixing the request. */
  get description(): string {
    return this.message;
  }
}

const make = (error: ErrorCode, status: number) =>
  (description: string, opts?: { cause?: unknown; headers?: Record<string, string> }) => new OAuthError(error, status, description, opts);

export const invalidRequest = make('invalid_request', 400);
export const invalidClient = make('invalid_client', 401);
export const invalidGrant = make('invalid_grant', 400);
export const invalidScope = make('invalid_scope', 400);
export const notFound = make('not_found', 404);
export const conflict = make('conflict', 409);
export const unsupportedMediaType = make('unsupported_media_type', 415);
export const temporarilyUnavailable = make('temporarily_unavailable', 503);

// RFC 7591 §3.2.2 registration errors (OB DCR uses these four codes, all 400).
export const invalidClientMetadata = make('invalid_client_metadata', 400);
export const invalidRedirectUri = make('invalid_redirect_uri', 400);
export const invalidSoftwareStatement = make('invalid_software_statement', 400);
export const unapprovedSoftwareStatement = make('unapproved_software_statement', 400);

/**
 * RFC 6750 §3.1: 401 with a Bearer challenge. With no credentials at all the challenge carries no
 * error code; with bad ones it says invalid_token.
 */
export function invalidToken(description: string, opts: { credentialsPresent: boolean }): OAuthError {
  const challenge = opts.credentialsPresent
    ? `Bearer realm="opendcr", error="invalid_token", error_description="${description.replace(/["\\]/g, '')}"`
    : 'Bearer realm="opendcr"';
  return new OAuthError('invalid_token', 401, description, { headers: { 'www-authenticate': challenge } });
}

/** 401 for a missing or untrusted transport (mTLS client) certificate. */
export const clientCertificateRequired = (description = 'a client (transport) certificate issued by a trusted CA is required over mutual TLS') =>
  new OAuthError('invalid_client', 401, description);

/** 401 with a Basic challenge, for the admin APIs. */
export const adminUnauthorized = () =>
  new OAuthError('invalid_client', 401, 'administrator credentials are missing or wrong', {
    headers: { 'www-authenticate': 'Basic realm="opendcr-admin", charset="UTF-8"' },
  });
