/**
 * The one error type every module throws for a request it refuses: a stable code from the
 * catalog (codes.ts), which fixes the HTTP status and the wire error code, and a description
 * written for the person fixing the request. Only errors/to-response.ts turns it into a body;
 * anything that is not an AppError goes out as 500 server_error.
 */
import { ERRORS, type ErrorCode, type WireError } from './codes.ts';

export type { ErrorCode, WireError } from './codes.ts';

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  /** The `error` member on the wire. */
  readonly error: WireError;
  /** Extra response headers (e.g. WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>>;
  /** The request field at fault, as a JSON path (`Data.Initiation.InstructedAmount`), for answers that name one (OB's `Path`). */
  readonly field: string | undefined;

  constructor(code: ErrorCode, description: string, opts: { cause?: unknown; headers?: Record<string, string>; field?: string } = {}) {
    super(description, opts.cause === undefined ? undefined : { cause: opts.cause });
    const spec = ERRORS[code];
    this.code = code;
    this.status = spec.status;
    this.error = spec.error;
    this.headers = opts.headers ?? {};
    this.field = opts.field;
  }

  /** The error_description sent to the caller: always safe, written for the person fixing the request. */
  get description(): string {
    return this.message;
  }
}

/** `throw fail('REQUEST_KID_MISSING', 'the registration request JWS header must carry …')`. */
export function fail(code: ErrorCode, description: string, opts?: { cause?: unknown; headers?: Record<string, string>; field?: string }): AppError {
  return new AppError(code, description, opts);
}

/** The codes answered with a Bearer challenge: the server's own resources' and the gateway's. */
export type BearerErrorCode = Extract<ErrorCode, `TOKEN_${string}` | `GATEWAY_TOKEN_${string}`>;

/** RFC 6750 §3: error_description holds %x20-21 / %x23-5B / %x5D-7E only. */
const NOT_IN_CHALLENGE = /[^\x20\x21\x23-\x5B\x5D-\x7E]/g;

/**
 * RFC 6750 §3.1: 401 with a Bearer challenge. With no credentials at all the challenge carries no
 * error code; with bad ones it says invalid_token, and the description says why.
 */
export function bearerError(code: BearerErrorCode, description: string): AppError {
  const challenge =
    code === 'TOKEN_MISSING' || code === 'GATEWAY_TOKEN_MISSING'
      ? 'Bearer realm="opendcr"'
      : `Bearer realm="opendcr", error="invalid_token", error_description="${description.replace(NOT_IN_CHALLENGE, '')}"`;
  return new AppError(code, description, { headers: { 'www-authenticate': challenge } });
}

/** 401 for a missing or untrusted transport (mTLS client) certificate. */
export const clientCertificateRequired = () =>
  fail('CLIENT_CERT_REQUIRED', 'a client (transport) certificate issued by a trusted CA is required over mutual TLS');

/** 401 with a Basic challenge, for the admin APIs. */
export const adminUnauthorized = (challenge = true) =>
  fail('ADMIN_UNAUTHORIZED', 'administrator credentials are missing or wrong', {
    // No Basic challenge for the console's own requests: a browser would open its login prompt.
    headers: challenge ? { 'www-authenticate': 'Basic realm="opendcr-admin", charset="UTF-8"' } : {},
  });
