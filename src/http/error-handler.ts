/**
 * The Fastify error handler, in the wire shape of a route family: every error becomes an AppError
 * (errors/to-response.ts), the request front learns its code (access log, metrics), and a server
 * error is logged with its cause. Registered once for the app (OAuth shape) and again by the admin
 * APIs (admin shape, with the interaction id as traceId).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { toErrorResponse, type WireShape } from '../errors/to-response.ts';
import { requestContext } from './front.ts';

export function errorHandler(shape: WireShape) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    const ctx = requestContext(reply.raw);
    const out = toErrorResponse(err, shape, ctx?.interactionId);
    if (ctx) ctx.code = out.code;
    if (out.status >= 500) req.log.error({ err }, 'request failed');
    return reply
      .code(out.status)
      .headers({ ...out.headers, 'cache-control': 'no-store' })
      .send(out.body);
  };
}
