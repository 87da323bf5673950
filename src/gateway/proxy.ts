/**
 * The last step of an API call: forward it to the API's backend over a keep-alive pool (undici)
 * and stream the answer back. Bodies stream both ways under size limits; hop-by-hop headers are
 * dropped (RFC 9110 §7.6.1); waits are bounded (connect, response headers, gaps in the body).
 * An unreachable backend is 502, a slow one 504, both as coded errors; once the response has
 * started, a failure can only cut the connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { Pool } from 'undici';
import { AppError, fail } from '../errors/app-error.ts';

export interface ProxyLimits {
  connectTimeoutMs: number;
  timeoutMs: number;
  connections: number;
  keepAliveMs: number;
  maxRequestBody: number;
  maxResponseBody: number;
}

export interface ForwardTarget {
  /** `https://backend:8443` */
  origin: string;
  /** Path and query on the backend. */
  path: string;
  /** Request headers to send, already filtered (requestHeaders). */
  headers: Record<string, string | string[]>;
}

/**
 * A whole backend answer (for calls whose response is kept for idempotent replay); `notExecuted`
 * when the backend said it did nothing with the call (NOT_EXECUTED_HEADER).
 */
export interface BufferedAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  notExecuted: boolean;
}

export interface BackendProxy {
  /** Streams the request (or `body`, already read) to the backend and its answer back. */
  forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, body?: Buffer): Promise<void>;
  /** Sends a request with a read body and reads the whole answer (at most max_response_body). */
  exchange(method: string, target: ForwardTarget, body: Buffer): Promise<BufferedAnswer>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** Headers minus hop-by-hop ones (and those the Connection header names) and minus `drop`. */
export function passHeaders(headers: IncomingMessage['headers'], drop: ReadonlySet<string>): Record<string, string | string[]> {
  const named = new Set(
    String(headers['connection'] ?? '')
      .toLowerCase()
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean),
  );
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name) || drop.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * A backend's word that it did nothing with a call (any value; e.g. a 503 before it touched
 * anything): the gateway then frees the call's x-idempotency-key for a retry instead of keeping
 * the answer. Never passed to the caller.
 */
export const NOT_EXECUTED_HEADER = 'x-opendcr-not-executed';

const FROM_BACKEND_DROPPED: ReadonlySet<string> = new Set(['x-fapi-interaction-id', NOT_EXECUTED_HEADER]);

/** A backend's response headers minus hop-by-hop ones and its interaction id (the front sets the caller's). */
const responseHeaders = (headers: IncomingMessage['headers']) => passHeaders(headers, FROM_BACKEND_DROPPED);

/** Passes bytes through until `max`, then fails with `error`. */
function limiter(max: number, error: () => Error): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(error());
      else done(null, chunk);
    },
  });
}

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** Failures that happen before a request leaves: no connection (refused, no route, no name, TLS refused). */
const NEVER_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
const TLS_REFUSED = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|UNABLE_TO_)/;

/**
 * False only when a backend call failed before its request could have reached the backend; a
 * timeout, a cut connection or an oversized answer may follow a request the backend acted on.
 */
export function mayHaveReachedBackend(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NEVER_SENT.has(code) || TLS_REFUSED.test(code))) return false;
  }
  return true;
}

export function createBackendProxy(limits: ProxyLimits): BackendProxy {
  const pools = new Map<string, Pool>();
  const pool = (origin: string): Pool => {
    let p = pools.get(origin);
    if (!p) {
      p = new Pool(origin, {
        connections: limits.connections,
        keepAliveTimeout: limits.keepAliveMs,
        keepAliveMaxTimeout: limits.keepAliveMs,
        connectTimeout: limits.connectTimeoutMs,
        headersTimeout: limits.timeoutMs,
        bodyTimeout: limits.timeoutMs,
        maxResponseSize: limits.maxResponseBody,
      });
      pools.set(origin, p);
    }
    return p;
  };

  const backendError = (err: unknown): never => {
    if (err instanceof AppError) throw err;
    const cause = err as { code?: string; cause?: unknown };
    if (cause.cause instanceof AppError) throw cause.cause;
    if (TIMEOUTS.has(cause.code ?? '')) throw fail('GATEWAY_BACKEND_TIMEOUT', 'the API backend did not answer in time', { cause: err });
    throw fail('GATEWAY_BACKEND_UNREACHABLE', 'the API backend could not be reached', { cause: err });
  };

  const tooLarge = () => fail('GATEWAY_BODY_TOO_LARGE', `the request body is larger than ${limits.maxRequestBody} bytes`);

  return {
    async forward(req, res, target, read) {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limits.maxRequestBody) throw tooLarge();
      const hasBody = read !== undefined || req.headers['transfer-encoding'] !== undefined || declared > 0;
      // The caller hanging up stops the backend call too.
      const abort = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) abort.abort();
      };
      res.once('close', onClose);
      // undici writes the body straight into the response (no intermediate stream); the pool's
      // maxResponseSize bounds it.
      let started = false;
      try {
        await pool(target.origin).stream(
          {
            method: req.method as 'GET',
            path: target.path,
            headers: target.headers,
            body: read ?? (hasBody ? req.pipe(limiter(limits.maxRequestBody, tooLarge)) : null),
            signal: abort.signal,
          },
          ({ statusCode, headers }) => {
            if (Number(headers['content-length'] ?? 0) > limits.maxResponseBody) {
              throw fail('GATEWAY_BACKEND_UNREACHABLE', 'the API backend answered with a body larger than the gateway accepts');
            }
            res.writeHead(statusCode, responseHeaders(headers));
            started = true;
            return res;
          },
        );
      } catch (err) {
        // Once the response has started, all that is left is to cut it (the access log shows the status).
        if (started) res.destroy();
        else backendError(err);
      } finally {
        res.off('close', onClose);
      }
    },
    async exchange(method, target, body) {
      try {
        const answer = await pool(target.origin).request({ method: method as 'POST', path: target.path, headers: target.headers, body });
        // maxResponseSize on the pool bounds this read.
        const bytes = Buffer.from(await answer.body.arrayBuffer());
        const headers = responseHeaders(answer.headers);
        delete headers['content-length'];
        return { status: answer.statusCode, headers, body: bytes, notExecuted: answer.headers[NOT_EXECUTED_HEADER] !== undefined };
      } catch (err) {
        return backendError(err);
      }
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close().catch(() => undefined)));
      pools.clear();
    },
  };
}
