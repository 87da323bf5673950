/**
 * Who may use the admin APIs: the administrator of [super_admin] by HTTP Basic (the command line
 * and scripts; compared in constant time, under the password throttle shared with the console's
 * login), or a console user by session cookie (src/admin/sessions.ts): the session must still
 * match the user's configured record, every state change then needs the session's x-csrf-token,
 * an auditor may only read, and the session slides its idle timeout on each request. Before any
 * credential is looked at, a change a page of another origin could have made is refused
 * (src/admin/cross-site.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import { adminUnauthorized, fail } from '../errors/app-error.ts';
import { accountsNamed, superAdminMatches } from './accounts.ts';
import { mayChallenge, refuseCrossSite } from './cross-site.ts';
import type { PasswordThrottle } from './password-throttle.ts';
import { SESSION_COOKIE, type ConsoleSession, type Sessions } from './sessions.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The console session cookie of a request, if any. */
export function sessionCookie(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === SESSION_COOKIE) return part.slice(i + 1).trim();
  }
  return undefined;
}

export function createAdminGuard(deps: { config: Config; sessions?: Sessions | undefined; throttle: PasswordThrottle }) {
  const { config, sessions, throttle } = deps;
  return async function requireAdmin(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    refuseCrossSite(req, config.derived.baseUrl);
    const header = req.headers.authorization;
    const cookie = sessions ? sessionCookie(req) : undefined;
    if (header !== undefined || cookie === undefined || !sessions) {
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
      if (!m) throw adminUnauthorized(mayChallenge(req));
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const [user, pass] = i === -1 ? [decoded, ''] : [decoded.slice(0, i), decoded.slice(i + 1)];
      if (!(await throttle.attempt(req, user, 'basic', async () => superAdminMatches(config, user, pass)))) throw adminUnauthorized(mayChallenge(req));
      return;
    }
    const session = sessions.read(cookie);
    const current = session
      ? accountsNamed(config, session.user)
          .filter((a) => a.role === session.role)
          .map((a) => a.record)
      : [];
    if (!session || !sessions.boundTo(session, current) || (await sessions.revoked(session))) {
      throw fail('ADMIN_SESSION_INVALID', 'log in to the console again');
    }
    if (!SAFE.has(req.method)) {
      if (!sessions.checkCsrf(session, req.headers['x-csrf-token'] as string | undefined))
        throw fail('ADMIN_CSRF', "send the session's x-csrf-token with every change");
      if (session.role !== 'admin') throw fail('ADMIN_READ_ONLY', 'an auditor may read, not change');
    }
    (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession = session;
    reply.header('set-cookie', sessions.setCookie(sessions.touch(session)));
  };
}
