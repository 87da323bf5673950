/**
 * Console login and logout: `POST /admin/api/session` with a configured user's name and password
 * (under the password throttle HTTP Basic shares: per account and per client address, across all
 * workers and hosts) sets the session cookie and returns the CSRF token; `GET` tells who is logged
 * in (user null: nobody); `DELETE` logs this session out everywhere; `DELETE /admin/api/sessions`
 * ends every session of the signed-in user ("sign out everywhere").
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/schema.ts';
import { AppError, fail, adminUnauthorized } from '../errors/app-error.ts';
import { errorHandler } from '../http/error-handler.ts';
import { parseBody } from '../http/parse-body.ts';
import { authenticate, type Account } from './accounts.ts';
import { refuseCrossSite } from './cross-site.ts';
import type { PasswordThrottle } from './password-throttle.ts';
import type { ConsoleSession, Sessions } from './sessions.ts';
import type { RouteGuard } from '../http/guard.ts';

export const SESSION_PATH = '/admin/api/session';
/** Every session of the signed-in user. */
export const SESSIONS_PATH = '/admin/api/sessions';
const loginBody = z.strictObject({ username: z.string().min(1).max(100), password: z.string().min(1).max(1024) });

export function sessionRoutes(deps: { config: Config; sessions: Sessions; throttle: PasswordThrottle; requireAdmin: RouteGuard }) {
  const { config, sessions } = deps;

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(errorHandler('admin'));
    app.addHook('onRequest', async (_req, reply) => {
      reply.header('cache-control', 'no-store');
    });

    // A login is a change too: no other site's page may sign a browser in (checked before any body is read).
    app.post(SESSION_PATH, { onRequest: async (req) => refuseCrossSite(req, config.derived.baseUrl) }, async (req, reply) => {
      const b = parseBody(loginBody, req.body);
      const found: { account?: Account | undefined } = {};
      await deps.throttle.attempt(req, b.username, 'form', async () => {
        found.account = await authenticate(config, b.username, b.password);
        return found.account !== undefined;
      });
      // A form's login: no Basic challenge (a browser would open its own prompt).
      if (!found.account) throw adminUnauthorized(false);
      const { session, cookie } = await sessions.issue(b.username, found.account.role, found.account.record);
      return reply.code(201).header('set-cookie', sessions.setCookie(cookie)).send(describe(session));
    });

    // Who is signed in; nobody (user null) is an answer, not an error, so the console's first
    // look at an expired or absent session is not a failed request.
    app.get(SESSION_PATH, async (req, reply) => {
      try {
        await deps.requireAdmin(req, reply);
      } catch (err) {
        // Wrong Basic credentials stay an error; no session (or a stale one) is "nobody".
        const nobody =
          req.headers.authorization === undefined && err instanceof AppError && (err.code === 'ADMIN_UNAUTHORIZED' || err.code === 'ADMIN_SESSION_INVALID');
        if (!nobody) throw err;
        return reply.header('set-cookie', sessions.setCookie('')).send({ user: null, role: null });
      }
      return describe(sessionOf(req));
    });

    app.delete(SESSION_PATH, { onRequest: deps.requireAdmin }, async (req, reply) => {
      await sessions.revoke(sessionOf(req));
      return reply.code(200).header('set-cookie', sessions.setCookie('')).send({ loggedOut: true });
    });

    // Sign out everywhere: every session of this user, on every host; with HTTP Basic, [super_admin]'s.
    app.delete(SESSIONS_PATH, { onRequest: deps.requireAdmin }, async (req, reply) => {
      const session = (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession;
      await sessions.revokeAll(session?.user ?? config.super_admin.username);
      return reply.code(200).header('set-cookie', sessions.setCookie('')).send({ loggedOut: true, everywhere: true });
    });
  };

  function sessionOf(req: FastifyRequest): ConsoleSession {
    const s = (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession;
    if (!s) throw fail('ADMIN_SESSION_INVALID', 'this is the console session resource: log in first (HTTP Basic has no session)');
    return s;
  }

  function describe(s: ConsoleSession) {
    return {
      user: s.user,
      role: s.role,
      csrfToken: sessions.csrfToken(s),
      expiresAt: new Date(Math.min(s.seenAt + config.admin.session_idle_timeout, s.issuedAt + config.admin.session_lifetime) * 1000).toISOString(),
    };
  }
}
