/**
 * The shape of a guard on a route: a Fastify onRequest hook that passes or throws a coded error.
 * The admin guard (src/admin/admin-auth.ts) is one; the route modules that take it (the admin
 * APIs in admin and apim) name this type instead of the guard's module, which sits above them.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export type RouteGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
