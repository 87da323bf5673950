/**
 * Admin console sessions: a cookie holding the session (id, user, role, times) under an HMAC with
 * a key kept in the database (every worker and host checks it), idle and absolute timeouts, a
 * CSRF token bound to the session (sent back in `x-csrf-token` on every state change), and logout
 * as a mark in the shared state, so a logged-out cookie is refused on every host.
 *
 * A session is also bound to the user's record as it was at login (`record`, kept in the cookie
 * only as its MAC): the host checking a request compares it with the record it is configured
 * with, so removing the user or changing the password or role ends every session of that user
 * once a host runs with the new configuration. "Sign out everywhere" moves the user's session
 * generation (a counter in the database, read at login) and marks the old generation ended in
 * the shared state, which every host checks with the logout mark.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '../crypto/compare.ts';
import type { SharedState } from '../shared-state/ports.ts';
import type { Storage } from '../storage/ports.ts';

/** The console roles (src/admin/admin-auth.ts says what each may do). */
export type AdminRole = 'admin' | 'auditor' | 'customer_care';

export interface ConsoleSession {
  readonly id: string;
  readonly user: string;
  readonly role: AdminRole;
  /** Epoch seconds. */
  readonly issuedAt: number;
  readonly seenAt: number;
  /** MAC of the user's record at login. */
  readonly record: string;
  /** The user's session generation at login; "sign out everywhere" ends every older one. */
  readonly generation: number;
}

export const SESSION_COOKIE = 'opendcr_admin';
const REVOKED = 'admin-session-revoked';
const ENDED = 'admin-session-generation-ended';

export interface Sessions {
  /** A new session of the account whose record is `record`, and its cookie value. */
  issue(user: string, role: AdminRole, record: string): Promise<{ session: ConsoleSession; cookie: string }>;
  /** The session a cookie value holds, when its MAC, idle time and lifetime hold (logout is checked by `revoked`). */
  read(cookie: string): ConsoleSession | undefined;
  /** True when the session was made from one of these records (the user's records as configured now). */
  boundTo(session: ConsoleSession, records: readonly string[]): boolean;
  /** The cookie value with `seenAt` moved to now (sliding idle timeout). */
  touch(session: ConsoleSession): string;
  csrfToken(session: ConsoleSession): string;
  checkCsrf(session: ConsoleSession, token: string | undefined): boolean;
  /** Logged out, or ended by "sign out everywhere" (on any host). */
  revoked(session: ConsoleSession): Promise<boolean>;
  revoke(session: ConsoleSession): Promise<void>;
  /** Ends every session of `user`, on every host ("sign out everywhere"). */
  revokeAll(user: string): Promise<void>;
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
  const encode = (s: ConsoleSession) => {
    const body = Buffer.from(JSON.stringify([s.id, s.user, s.role, s.issuedAt, s.seenAt, s.record, s.generation])).toString('base64url');
    return `${body}.${mac(`session:${body}`)}`;
  };
  const recordMac = (user: string, role: AdminRole, record: string) => mac(`record:${JSON.stringify([user, role, record])}`);
  // The database's name for a user's generation: any user name fits.
  const generationName = (user: string) => `admin_session_generation:${createHash('sha256').update(user, 'utf8').digest('base64url')}`;
  const generationOf = async (user: string) => Number((await opts.storage.meta.get(generationName(user))) ?? 0);
  const ended = (user: string, generation: number) => JSON.stringify([user, generation]);

  return {
    async issue(user, role, record) {
      const t = now();
      const session = {
        id: randomBytes(16).toString('base64url'),
        user,
        role,
        issuedAt: t,
        seenAt: t,
        record: recordMac(user, role, record),
        generation: await generationOf(user),
      };
      return { session, cookie: encode(session) };
    },
    read(cookie) {
      const [body, tag, extra] = cookie.split('.');
      if (!body || !tag || extra !== undefined || body.length > 1024 || !safeEqual(tag, mac(`session:${body}`))) return undefined;
      try {
        const [id, user, role, issuedAt, seenAt, record, generation] = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as [
          string,
          string,
          AdminRole,
          number,
          number,
          string,
          number,
        ];
        const t = now();
        if (t - seenAt >= opts.idleSeconds || t - issuedAt >= opts.lifetimeSeconds || seenAt > t + 60) return undefined;
        // A cookie from before sessions were bound to a record has none: it is not a session now.
        if (typeof record !== 'string' || !Number.isSafeInteger(generation)) return undefined;
        return { id, user, role, issuedAt, seenAt, record, generation };
      } catch {
        return undefined;
      }
    },
    boundTo(session, records) {
      // Every record compared, in constant time each.
      return records.map((r) => safeEqual(session.record, recordMac(session.user, session.role, r))).includes(true);
    },
    touch: (session) => encode({ ...session, seenAt: now() }),
    csrfToken: (session) => mac(`csrf:${session.id}`),
    checkCsrf(session, token) {
      return typeof token === 'string' && safeEqual(token, mac(`csrf:${session.id}`));
    },
    async revoked(session) {
      const marks = await Promise.all([opts.shared.has(REVOKED, session.id), opts.shared.has(ENDED, ended(session.user, session.generation))]);
      return marks.includes(true);
    },
    revoke: (session) => opts.shared.mark(REVOKED, session.id, session.issuedAt + opts.lifetimeSeconds + 60),
    async revokeAll(user) {
      // A login that read the old generation before this moved it is ended with the rest.
      const next = await opts.storage.meta.increment(generationName(user));
      await opts.shared.mark(ENDED, ended(user, next - 1), now() + opts.lifetimeSeconds + 60);
    },
    setCookie: (value) => `${SESSION_COOKIE}=${value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=${value ? opts.idleSeconds : 0}`,
  };
}
