/**
 * Admin console sessions: a cookie holding the session (id, user, role, times) under an HMAC with
 * a key kept in the database (every worker and host checks it), idle and absolute timeouts, a
 * CSRF token bound to the session (sent back in `x-csrf-token` on every state change), and logout
 * as a mark in the shared state, so a logged-out cookie is refused on every host.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SharedState } from '../shared-state/ports.ts';
import type { Storage } from '../storage/ports.ts';

export type AdminRole = 'admin' | 'auditor';

export interface ConsoleSession {
  readonly id: string;
  readonly user: string;
  readonly role: AdminRole;
  /** Epoch seconds. */
  readonly issuedAt: number;
  readonly seenAt: number;
}

export const SESSION_COOKIE = 'opendcr_admin';
const REVOKED = 'admin-session-revoked';

export interface Sessions {
  /** A new session and its cookie value. */
  issue(user: string, role: AdminRole): { session: ConsoleSession; cookie: string };
  /** The session a cookie value holds, when its MAC, idle time and lifetime hold (logout is checked by `revoked`). */
  read(cookie: string): ConsoleSession | undefined;
  /** The cookie value with `seenAt` moved to now (sliding idle timeout). */
  touch(session: ConsoleSession): string;
  csrfToken(session: ConsoleSession): string;
  checkCsrf(session: ConsoleSession, token: string | undefined): boolean;
  revoked(session: ConsoleSession): Promise<boolean>;
  revoke(session: ConsoleSession): Promise<void>;
  /** `Set-Cookie` for a cookie value (empty clears it). */
  setCookie(value: string): string;
}

export async function createSessions(opts: {
  storage: Pick<Storage, 'meta'>;
  shared: Pick<SharedState, 'mark' | 'has'>;
  idleSeconds: number;
  lifetimeSeconds: number;
  now?: () => number;
}): Promise<Sessions> {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const key = Buffer.from(await opts.storage.meta.setIfAbsent('admin_session_key', randomBytes(32).toString('base64url')), 'base64url');
  const mac = (data: string) => createHmac('sha256', key).update(data).digest('base64url');
  const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  const encode = (s: ConsoleSession) => {
    const body = Buffer.from(JSON.stringify([s.id, s.user, s.role, s.issuedAt, s.seenAt])).toString('base64url');
    return `${body}.${mac(`session:${body}`)}`;
  };

  return {
    issue(user, role) {
      const t = now();
      const session = { id: randomBytes(16).toString('base64url'), user, role, issuedAt: t, seenAt: t };
      return { session, cookie: encode(session) };
    },
    read(cookie) {
      const [body, tag, extra] = cookie.split('.');
      if (!body || !tag || extra !== undefined || body.length > 1024 || !same(tag, mac(`session:${body}`))) return undefined;
      try {
        const [id, user, role, issuedAt, seenAt] = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as [string, string, AdminRole, number, number];
        const t = now();
        if (t - seenAt >= opts.idleSeconds || t - issuedAt >= opts.lifetimeSeconds || seenAt > t + 60) return undefined;
        return { id, user, role, issuedAt, seenAt };
      } catch {
        return undefined;
      }
    },
    touch: (session) => encode({ ...session, seenAt: now() }),
    csrfToken: (session) => mac(`csrf:${session.id}`),
    checkCsrf(session, token) {
      return typeof token === 'string' && same(token, mac(`csrf:${session.id}`));
    },
    revoked: (session) => opts.shared.has(REVOKED, session.id),
    revoke: (session) => opts.shared.mark(REVOKED, session.id, session.issuedAt + opts.lifetimeSeconds + 60),
    setCookie: (value) => `${SESSION_COOKIE}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${value ? opts.idleSeconds : 0}`,
  };
}
