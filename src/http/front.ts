/**
 * The request front: one small step on the raw Node listener, ahead of every handler
 * (oidc-provider's paths, the Fastify routes, later the gateway). For every request it gives a
 * request id, the FAPI interaction id (the client's when valid, else a new UUID) on every
 * response, errors included, a W3C traceparent read into the logs, timing, one access-log line
 * and the request metrics. Handlers tell it what only they know: the route template, the
 * authenticated client, the error code.
 *
 * It is on the token endpoint's hot path, so it allocates one small object per request and does
 * nothing else expensive; bench/front.ts measures what it costs.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { accessLogger, type Logger } from '../logger.ts';

/** What the front knows about one request; handlers fill in route, clientId and code. */
export interface RequestContext {
  readonly requestId: string;
  readonly interactionId: string;
  /** W3C trace context (`traceparent`), when the client sent a valid one. */
  readonly traceId: string | undefined;
  readonly parentSpanId: string | undefined;
  readonly method: string;
  /** process.hrtime.bigint() at arrival. */
  readonly started: bigint;
  /** The route template ("/open-banking/:version/register/:clientId"), never the raw path. */
  route: string | undefined;
  /** The client, once authenticated (or named by the path of a DCR management call). */
  clientId: string | undefined;
  /** The stable error code of an error answer (src/errors/codes.ts), or the OAuth error of oidc-provider's. */
  code: string | undefined;
}

/** What the front reports when a request ends (metrics). */
export type RequestObserver = (ctx: RequestContext, status: number, seconds: number) => void;

// FAPI 1.0 Part 1 §6.2.1.11: the interaction id is a UUID (RFC 4122); accept any safe token up to 64.
const INTERACTION_ID = /^[A-Za-z0-9-]{1,64}$/;
// W3C Trace Context §3.2: version-traceid-parentid-flags, lower-case hex, not all zeros.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS_32 = '0'.repeat(32);
const ZEROS_16 = '0'.repeat(16);

const contexts = new WeakMap<ServerResponse, RequestContext>();
const als = new AsyncLocalStorage<RequestContext>();

/** The context of the request `res` answers (undefined outside the front, e.g. in unit tests). */
export function requestContext(res: ServerResponse): RequestContext | undefined {
  return contexts.get(res);
}

/** The context of the request being handled on this async path, for log lines (logger.ts mixin). */
export function currentRequest(): RequestContext | undefined {
  return als.getStore();
}

/** The log fields of the request being handled on this async path (the logger's context, logger.ts). */
export const currentRequestLogFields = (): Record<string, string> => requestLogFields(currentRequest());

/** Ids for log lines: request, interaction and trace. */
export function requestLogFields(ctx: RequestContext | undefined): Record<string, string> {
  if (!ctx) return {};
  return ctx.traceId
    ? { request_id: ctx.requestId, interaction_id: ctx.interactionId, trace_id: ctx.traceId, span_id: ctx.parentSpanId! }
    : { request_id: ctx.requestId, interaction_id: ctx.interactionId };
}

function parseTraceparent(header: string | string[] | undefined): { traceId: string; parentSpanId: string } | undefined {
  if (typeof header !== 'string') return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (!m || m[1] === 'ff' || m[2] === ZEROS_32 || m[3] === ZEROS_16) return undefined;
  return { traceId: m[2]!, parentSpanId: m[3]! };
}

/** The interaction id a response carries for this request (echoed when valid). */
export function interactionIdOf(header: string | string[] | undefined): string {
  return typeof header === 'string' && INTERACTION_ID.test(header) ? header : randomUUID();
}

export interface FrontOptions {
  readonly logger: Logger;
  readonly observe?: RequestObserver;
  /** Whether to write the access-log line (the logger's level decides too). */
  readonly accessLog?: boolean;
}

/** Wraps `handler` with the front. The returned listener goes on the HTTPS server. */
export function createFront(handler: (req: IncomingMessage, res: ServerResponse) => void, opts: FrontOptions) {
  const log = accessLogger(opts.logger);
  const accessLog = opts.accessLog !== false;

  const finish = (ctx: RequestContext, res: ServerResponse) => {
    const seconds = Number(process.hrtime.bigint() - ctx.started) / 1e9;
    // A response the client never got in full (closed early) still ends here, with what was sent.
    const status = res.headersSent ? res.statusCode : 0;
    opts.observe?.(ctx, status, seconds);
    if (accessLog && log.isLevelEnabled('info')) {
      // Inside the request's context, so the logger adds its ids (logger.ts mixin) exactly once.
      als.run(ctx, () =>
        log.info(
          {
            method: ctx.method,
            route: ctx.route ?? '(unmatched)',
            status,
            duration_ms: Math.round(seconds * 1e4) / 10,
            ...(ctx.clientId === undefined ? {} : { client_id: ctx.clientId }),
            ...(ctx.code === undefined ? {} : { code: ctx.code }),
            ...(res.writableFinished ? {} : { aborted: true }),
          },
          'request',
        ),
      );
    }
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const trace = parseTraceparent(req.headers['traceparent']);
    const ctx: RequestContext = {
      requestId: randomUUID(),
      interactionId: interactionIdOf(req.headers['x-fapi-interaction-id']),
      traceId: trace?.traceId,
      parentSpanId: trace?.parentSpanId,
      method: req.method ?? 'GET',
      started: process.hrtime.bigint(),
      route: undefined,
      clientId: undefined,
      code: undefined,
    };
    contexts.set(res, ctx);
    // Set before any handler runs: every response of every route carries it, errors included.
    res.setHeader('x-fapi-interaction-id', ctx.interactionId);
    res.once('close', () => finish(ctx, res));
    als.run(ctx, handler, req, res);
  };
}
