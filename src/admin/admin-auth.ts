/**
 * Who may use the admin APIs: the administrator of [super_admin] by HTTP Basic (the command line
 * and scripts; compared in constant time), or a console user by session cookie (src/admin/sessions.ts):
 * every state change then needs the session's x-csrf-token, an auditor may only read, and the
 * session slides its idle timeout on each request.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import { safeEqual } from '../oauth/accounts.ts';
import { adminUnauthorized, fail } from '../errors/app-error.ts';
import { SESSION_COOKIE, type ConsoleSession, type Sessions } from './sessions.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Sent by the console's scripts: a 401 then carries no Basic challenge (no browser prompt). */
export const CONSOLE_HEADER = 'x-opendcr-console';

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

/** Basic credentials of [super_admin]: true when they match. */
export function superAdminMatches(config: Config, user: string, pass: string): boolean {
  const { username, password } = config.super_admin;
  // Both compared every time: no early exit that would time the user name.
  return [safeEqual(user, username), safeEqual(pass, password)].every(Boolean);
}

export function createAdminGuard(config: Config, sessions?: Sessions) {
  return async function requireAdmin(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = req.headers.authorization;
    const cookie = sessions ? sessionCookie(req) : undefined;
    if (header !== undefined || cookie === undefined || !sessions) {
      const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
      if (!m) throw adminUnauthorized(req.headers[CONSOLE_HEADER] === undefined);
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (!superAdminMatches(config, i === -1 ? decoded : decoded.slice(0, i), i === -1 ? '' : decoded.slice(i + 1))) throw adminUnauthorized();
      return;
    }
    const session = sessions.read(cookie);
    if (!session || await sessions.revoked(session)) throw fail('ADMIN_SESSION_INVALID', 'log in to the console again');
    if (!SAFE.has(req.method)) {
      if (!sessions.checkCsrf(session, req.headers['x-csrf-token'] as string | undefined)) throw fail('ADMIN_CSRF', 'send the session\'s x-csrf-token with every change');
      if (session.role !== 'admin') throw fail('ADMIN_READ_ONLY', 'an auditor may read, not change');
    }
    (req as FastifyRequest & { consoleSession?: ConsoleSession }).consoleSession = session;
    reply.header('set-cookie', sessions.setCookie(sessions.touch(session)));
  };
}
