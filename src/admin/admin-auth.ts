/** HTTP Basic authentication of the administrator ([super_admin]), compared in constant time. */
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import { safeEqual } from '../oauth/accounts.ts';
import { adminUnauthorized } from '../errors/app-error.ts';

export function createAdminGuard(config: Config) {
  const { username, password } = config.super_admin;
  return async function requireAdmin(req: FastifyRequest): Promise<void> {
    const header = req.headers.authorization ?? '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) throw adminUnauthorized();
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const user = i === -1 ? decoded : decoded.slice(0, i);
    const pass = i === -1 ? '' : decoded.slice(i + 1);
    // Both compared every time: no early exit that would time the user name.
    const ok = [safeEqual(user, username), safeEqual(pass, password)].every(Boolean);
    if (!ok) throw adminUnauthorized();
  };
}
