/**
 * Console login and logout: `POST /admin/api/session` with a configured user's name and password
 * (throttled per client address across all workers and hosts) sets the session cookie and returns
 * the CSRF token; `GET` tells who is logged in (user null: nobody); `DELETE` logs out everywhere.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/schema.ts';
import { AppError, fail, adminUnauthorized } from '../errors/app-error.ts';
import { errorHandler } from '../http/error-handler.ts';
import type { SharedState } from '../shared-state/ports.ts';
import { createPeerMatcher } from '../http/trusted-peer.ts';
import { parseBody } from './parse-body.ts';
import { verifyPassword } from './passwords.ts';
import { superAdminMatches, type createAdminGuard } from './admin-auth.ts';
import type { AdminRole, ConsoleSession, Sessions } from './sessions.ts';

export const SESSION_PATH = '/admin/api/session';
const LOGIN_WINDOW = 300;
const loginBody = z.strictObject({ username: z.string().min(1).max(100), password: z.string().min(1).max(1024) });

// Checked for an unknown user too, so a login takes as long whether or not the name exists.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export function sessionRoutes(deps: { config: Config; sessions: Sessions; shared: Pick<SharedState, 'count'>; requireAdmin: ReturnType<typeof createAdminGuard> }) {
  const { config, sessions } = deps;

  async function authenticate(username: string, password: string): Promise<AdminRole | undefined> {
    const user = config.admin.users.find((u) => u.username === username);
    const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
    if (user && ok) return user.role;
    // The command line's account logs in too (its password is configured as it is sent).
    return superAdminMatches(config, username, password) ? 'admin' : undefined;
  }

  // Behind a load balancer every console user has its address: the throttle counts the client's,
  // the rightmost X-Forwarded-For hop that is not a trusted proxy (the header only survives from one).
  const isProxy = createPeerMatcher(config.apimgt.mutual_ssl.trusted_proxies);
  const clientAddress = (req: FastifyRequest): string => {
    const peer = req.socket.remoteAddress ?? 'unknown';
    if (!isProxy(peer)) return peer;
    const hops = String(req.headers['x-forwarded-for'] ?? '').split(',').map((h) => h.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!isProxy(hops[i]!)) return hops[i]!.slice(0, 64);
    return peer;
  };

  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(errorHandler('admin'));
    app.addHook('onRequest', async (_req, reply) => { reply.header('cache-control', 'no-store'); });

    app.post(SESSION_PATH, async (req, reply) => {
      const { count, resetAt } = await deps.shared.count(`admin-login:${clientAddress(req)}`, LOGIN_WINDOW);
      if (count > config.admin.login_attempts) {
        throw fail('ADMIN_LOGIN_THROTTLED', 'too many login attempts; try again later', { headers: { 'retry-after': String(Math.max(1, Math.ceil(resetAt - Date.now() / 1000))) } });
      }
      const b = parseBody(loginBody, req.body);
      const role = await authenticate(b.username, b.password);
      // A form's login: no Basic challenge (a browser would open its own prompt).
      if (!role) throw adminUnauthorized(false);
      const { session, cookie } = sessions.issue(b.username, role);
      return reply.code(201).header('set-cookie', sessions.setCookie(cookie)).send(describe(session));
    });

    // Who is signed in; nobody (user null) is an answer, not an error, so the console's first
    // look at an expired or absent session is not a failed request.
    app.get(SESSION_PATH, async (req, reply) => {
      try {
        await deps.requireAdmin(req, reply);
      } catch (err) {
        // Wrong Basic credentials stay an error; no session (or a stale one) is "nobody".
        const nobody = req.headers.authorization === undefined && err instanceof AppError && (err.code === 'ADMIN_UNAUTHORIZED' || err.code === 'ADMIN_SESSION_INVALID');
        if (!nobody) throw err;
        return reply.header('set-cookie', sessions.setCookie('')).send({ user: null, role: null });
      }
      return describe(sessionOf(req));
    });

    app.delete(SESSION_PATH, { onRequest: deps.requireAdmin as never }, async (req, reply) => {
      await sessions.revoke(sessionOf(req));
      return reply.code(200).header('set-cookie', sessions.setCookie('')).send({ loggedOut: true });
    });
  };

  function sessionOf(req: FastifyRequest): ConsoleSession {
    const s = (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession;
    if (!s) throw fail('ADMIN_SESSION_INVALID', 'this is the console session resource: log in first (HTTP Basic has no session)');
    return s;
  }

  function describe(s: ConsoleSession) {
    return {
      user: s.user, role: s.role, csrfToken: sessions.csrfToken(s),
      expiresAt: new Date(Math.min(s.seenAt + config.admin.session_idle_timeout, s.issuedAt + config.admin.session_lifetime) * 1000).toISOString(),
    };
  }
}
