/**
 * How the gateway answers a refused call: the OB OBErrorResponse1 body (our code, the interaction
 * id, the OB error code), except 401, which has no body and a Bearer challenge (RFC 6750 §3: the
 * error's own challenge when it carries one, saying why the token was refused); the built-in DCR
 * API in its own RFC 7591 shape. A refusal is sent once the caller has sent its whole request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, fail } from '../errors/app-error.ts';
import { ERRORS } from '../errors/codes.ts';
import { sendError, toAppError } from '../errors/to-response.ts';

/** The challenge of a 401 whose error carries none (a client certificate refused). */
const DEFAULT_CHALLENGE = 'Bearer realm="opendcr", error="invalid_token"';

/** The OBErrorResponse1 body (OB Read/Write API): our code, the interaction id, the OB error code. */
export function obErrorBody(err: AppError, interactionId: string): string {
  const ob = ERRORS[err.code].ob ?? 'UK.OBIE.UnexpectedError';
  return JSON.stringify({
    Code: err.code,
    Id: interactionId,
    Message: err.description,
    Errors: [{ ErrorCode: ob, Message: err.description, ...(err.field === undefined ? {} : { Path: err.field }) }],
  });
}

/** Answers `err` in the OB shape; returns its code (the access log's and the metrics'). */
export function sendObError(res: ServerResponse, err: unknown, interactionId: string): string {
  const mapped = toAppError(err);
  const e = mapped instanceof AppError ? mapped : fail('SERVER_ERROR', 'the gateway could not process the request');
  if (res.headersSent) {
    res.destroy();
    return e.code;
  }
  const headers: Record<string, string | number> = { ...e.headers, 'cache-control': 'no-store' };
  // RFC 6750 §3.1 / OB: 401 carries a challenge and no body.
  if (e.status === 401) {
    res.writeHead(401, { 'www-authenticate': DEFAULT_CHALLENGE, ...headers, 'content-length': 0 });
    res.end();
    return e.code;
  }
  const body = obErrorBody(e, interactionId);
  res.writeHead(e.status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  return e.code;
}

/** An error on the DCR API, in its own RFC 7591 shape; returns its code. */
export function sendOAuthError(res: ServerResponse, err: unknown): string {
  sendError(res, err);
  const e = toAppError(err);
  return e instanceof AppError ? e.code : 'PROVIDER_ERROR';
}

/**
 * Runs `answer` once the caller has sent its whole request: a refusal sent mid-upload would reach
 * most clients as a cut connection. The rest of the body is read and dropped (never kept); the
 * server's request_timeout bounds how long that may take.
 */
export function afterRequestBody(req: IncomingMessage, answer: () => void): void {
  if (req.complete || req.destroyed) {
    answer();
    return;
  }
  let done = false;
  const once = () => {
    if (!done) {
      done = true;
      answer();
    }
  };
  req.once('end', once);
  req.once('close', once);
  req.resume();
}
