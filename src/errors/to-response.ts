/** The one place that turns any thrown value into an RFC 6749 / RFC 7591 error body. */
import { STATUS_CODES } from 'node:http';
import { OAuthError } from './oauth-errors.ts';
import { StorageUnavailableError } from '../storage/ports.ts';

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string };
}

interface FrameworkError { statusCode?: number; code?: string; validation?: unknown; message?: string }

/** Maps an error to a safe response. Internals never leave: unknown errors become server_error. */
export function toErrorResponse(err: unknown): ErrorResponse {
  if (err instanceof OAuthError) {
    return { status: err.status, headers: { ...err.headers }, body: { error: err.error, error_description: err.description } };
  }
  // The database is down or busy: the request may succeed if repeated; nothing was changed.
  if (err instanceof StorageUnavailableError) {
    return { status: 503, headers: { 'retry-after': '1' }, body: { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; try again shortly' } };
  }
  const fw = err as FrameworkError & { error?: unknown; error_description?: unknown; expose?: boolean };
  // oidc-provider's errors (e.g. an expired interaction) are already OAuth-shaped and safe when exposed.
  if (fw?.expose === true && typeof fw.error === 'string' && typeof fw.statusCode === 'number' && fw.statusCode < 500) {
    return { status: fw.statusCode, headers: {}, body: { error: fw.error, error_description: String(fw.error_description ?? fw.error) } };
  }
  // Fastify's own client errors (bad JSON, body too large, unsupported content type) are the caller's fault.
  if (typeof fw?.statusCode === 'number' && fw.statusCode >= 400 && fw.statusCode < 500) {
    if (fw.statusCode === 415) {
      return { status: 415, headers: {}, body: { error: 'invalid_request', error_description: 'unsupported Content-Type for this endpoint' } };
    }
    if (fw.statusCode === 413) {
      return { status: 413, headers: {}, body: { error: 'invalid_request', error_description: 'request body too large' } };
    }
    if (fw.statusCode === 404) {
      return { status: 404, headers: {}, body: { error: 'not_found', error_description: 'no such endpoint' } };
    }
    if (fw.statusCode === 405) {
      return { status: 405, headers: {}, body: { error: 'invalid_request', error_description: 'method not allowed on this endpoint' } };
    }
    return { status: 400, headers: {}, body: { error: 'invalid_request', error_description: fw.validation ? `invalid request: ${fw.message ?? 'validation failed'}` : 'malformed request' } };
  }
  return { status: 500, headers: {}, body: { error: 'server_error', error_description: 'the server could not process the request' } };
}

/** Writes the error to a raw Node response (for code that runs before any framework). */
export function sendError(res: import('node:http').ServerResponse, err: unknown): void {
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
 * error shape instead of the framework's, then the connection is closed.
 */
export function writeClientError(err: { code?: string }, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, description] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request was not received in time']
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request headers are too large']
      : [400, 'malformed HTTP request'] as const;
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  if (socket.writable && !(socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** Fastify's routing errors (a path it cannot decode, a parameter over its length limit): our shape, never the path. */
export function frameworkErrorResponse(err: { code?: string }): ErrorResponse {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return { status: 400, headers: {}, body: { error: 'invalid_request', error_description: 'the request path is not a valid URL' } };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 414, headers: {}, body: { error: 'invalid_request', error_description: 'a segment of the request path is too long' } };
    default:
      return toErrorResponse(err);
  }
}
