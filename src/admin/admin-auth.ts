/**
 * Who may use the admin APIs: the administrator of [super_admin] by HTTP Basic (the command line
 * and scripts; compared in constant time, under the password throttle shared with the console's
 * login), or a console user by session cookie (src/admin/sessions.ts): the session must still
 * match the user's configured record, every state change then needs the session's x-csrf-token,
 * the session's role must be one this part of the API lets read (and, for a change, change), and
 * the session slides its idle timeout on each request. Before any credential is looked at, a
 * change a page of another origin could have made is refused (src/admin/cross-site.ts).
 *
 * Roles: `admin` changes everything; `auditor` reads everything and changes nothing;
 * `customer_care` reads and stops Open Banking consents and uses nothing else
 * (docs/consents.md#customer-care). [super_admin] by HTTP Basic is an admin.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import { adminUnauthorized, fail } from '../errors/app-error.ts';
import { cookieNamed } from '../http/cookies.ts';
import { accountsNamed, superAdminMatches } from './accounts.ts';
import { mayChallenge, refuseCrossSite } from './cross-site.ts';
import type { PasswordThrottle } from './password-throttle.ts';
import { SESSION_COOKIE, type AdminRole, type ConsoleSession, type Sessions } from './sessions.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The console session cookie of a request, if any. */
export const sessionCookie = (req: FastifyRequest): string | undefined => cookieNamed(req.headers.cookie, SESSION_COOKIE);

/** Which console roles may read a part of the admin API, and which may change it. */
export interface AdminAccess {
  readonly read: readonly AdminRole[];
  readonly change: readonly AdminRole[];
}

/** Every admin API but the consents': the administrator changes, the auditor reads. */
export const OPERATOR_ACCESS: AdminAccess = { read: ['admin', 'auditor'], change: ['admin'] };
/** The consents' API: customer care reads and stops consents too. */
export const CONSENT_ACCESS: AdminAccess = { read: ['admin', 'auditor', 'customer_care'], change: ['admin', 'customer_care'] };
/** A console user's own session (who am I, sign out): every role. */
export const SELF_ACCESS: AdminAccess = { read: ['admin', 'auditor', 'customer_care'], change: ['admin', 'auditor', 'customer_care'] };

export function createAdminGuard(deps: { config: Config; sessions?: Sessions | undefined; throttle: PasswordThrottle }, access: AdminAccess = OPERATOR_ACCESS) {
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
    if (!access.read.includes(session.role)) throw fail('ADMIN_ROLE_FORBIDDEN', `the ${session.role} role may not use this part of the console`);
    if (!SAFE.has(req.method)) {
      if (!sessions.checkCsrf(session, req.headers['x-csrf-token'] as string | undefined))
        throw fail('ADMIN_CSRF', "send the session's x-csrf-token with every change");
      if (!access.change.includes(session.role)) {
        throw session.role === 'auditor'
          ? fail('ADMIN_READ_ONLY', 'an auditor may read, not change')
          : fail('ADMIN_ROLE_FORBIDDEN', `the ${session.role} role may not change this`);
      }
    }
    (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession = session;
    reply.header('set-cookie', sessions.setCookie(sessions.touch(session)));
  };
}
