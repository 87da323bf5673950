/**
 * The one place that turns any thrown value into an error response. Every value becomes an
 * AppError first (a stable code; unknown errors are SERVER_ERROR, with no internals), then the
 * edge picks the wire shape: RFC 6749 / RFC 7591 `{error, error_description}` for OAuth and DCR,
 * our `{code, message, traceId}` for the admin APIs.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError, fail } from './app-error.ts';
import { SharedStateUnavailableError, StorageUnavailableError } from './backends.ts';

export type WireShape = 'oauth' | 'admin';

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  /** The stable code (AppError.code, or PROVIDER_ERROR), for logs and metrics. */
  code: string;
  body: Record<string, string>;
}

interface FrameworkError {
  statusCode?: number;
  code?: string;
  validation?: unknown;
  message?: string;
  error?: unknown;
  error_description?: unknown;
  expose?: boolean;
}

/** What an error means, as an AppError; `undefined` for oidc-provider's own (already OAuth-shaped) errors. */
export function toAppError(err: unknown): AppError | { provider: { status: number; error: string; description: string } } {
  if (err instanceof AppError) return err;
  // The database is down or busy: the request may succeed if repeated; nothing was changed.
  if (err instanceof StorageUnavailableError) {
    return fail('STORAGE_UNAVAILABLE', 'the service is temporarily unavailable; try again shortly', { headers: { 'retry-after': '1' }, cause: err });
  }
  if (err instanceof SharedStateUnavailableError) {
    return fail('SHARED_STATE_UNAVAILABLE', 'the service is temporarily unavailable; try again shortly', { headers: { 'retry-after': '1' }, cause: err });
  }
  const fw = err as FrameworkError | undefined;
  // oidc-provider's errors (e.g. an expired interaction) are already OAuth-shaped and safe when exposed.
  if (fw?.expose === true && typeof fw.error === 'string' && typeof fw.statusCode === 'number' && fw.statusCode < 500) {
    return { provider: { status: fw.statusCode, error: fw.error, description: String(fw.error_description ?? fw.error) } };
  }
  switch (fw?.code) {
    case 'FST_ERR_BAD_URL':
      return fail('PATH_INVALID', 'the request path is not a valid URL');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return fail('PATH_SEGMENT_TOO_LONG', 'a segment of the request path is too long');
    default:
      break;
  }
  // Fastify's own client errors (bad JSON, body too large, unsupported content type) are the caller's fault.
  if (typeof fw?.statusCode === 'number' && fw.statusCode >= 400 && fw.statusCode < 500) {
    switch (fw.statusCode) {
      case 415:
        return fail('UNSUPPORTED_MEDIA_TYPE', 'unsupported Content-Type for this endpoint');
      case 413:
        return fail('BODY_TOO_LARGE', 'request body too large');
      case 404:
        return fail('NOT_FOUND', 'no such endpoint');
      case 405:
        return fail('METHOD_NOT_ALLOWED', 'method not allowed on this endpoint');
      default:
        return fail('MALFORMED_REQUEST', fw.validation ? `invalid request: ${fw.message ?? 'validation failed'}` : 'malformed request');
    }
  }
  return fail('SERVER_ERROR', 'the server could not process the request', { cause: err });
}

/** Maps an error to a safe response in the wire shape of the route family. */
export function toErrorResponse(err: unknown, shape: WireShape = 'oauth', traceId?: string): ErrorResponse {
  const e = toAppError(err);
  if (!(e instanceof AppError)) {
    return { status: e.provider.status, headers: {}, code: 'PROVIDER_ERROR', body: { error: e.provider.error, error_description: e.provider.description } };
  }
  const body: Record<string, string> =
    shape === 'admin' ? { code: e.code, message: e.description, ...(traceId ? { traceId } : {}) } : { error: e.error, error_description: e.description };
  return { status: e.status, headers: { ...e.headers }, code: e.code, body };
}

/** Writes the error to a raw Node response (for code that runs before any framework). */
export function sendError(res: ServerResponse, err: unknown): void {
  const out = toErrorResponse(err);
  const body = JSON.stringify(out.body);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(out.status, {
    ...out.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
  res.end(body);
}

/**
 * Node's `clientError` (a request the HTTP parser refused, or one that ran out of time): our
 * error shape instead of the framework's, then the connection is closed. `headers` are added
 * (the front's interaction id).
 */
export function writeClientError(err: { code?: string }, socket: Duplex, headers: Record<string, string> = {}): string | undefined {
  if (err.code === 'ECONNRESET' || socket.destroyed) return undefined;
  const e =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? fail('HTTP_TIMEOUT', 'the request was not received in time')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? fail('HEADERS_TOO_LARGE', 'the request headers are too large')
        : fail('HTTP_MALFORMED', 'malformed HTTP request');
  const body = JSON.stringify({ error: e.error, error_description: e.description });
  if (socket.writable && !(socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    socket.write(
      `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\n${extra}Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
  return e.code;
}
