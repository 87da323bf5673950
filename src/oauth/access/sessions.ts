/**
 * The customer's (PSU's) session on the bank's access dashboard: a cookie holding the session
 * (id, PSU, times) under an HMAC with a key kept in the database (every worker and host checks
 * it), idle and absolute timeouts, a CSRF token bound to the session for every form that changes
 * something, and sign-out as a mark in the shared state, so a signed-out cookie is refused on
 * every host. Its own cookie, key and path: nothing of the console's sessions or oidc-provider's.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { safeEqual } from '../../crypto/compare.ts';
import { cookieNamed } from '../../http/cookies.ts';
import type { SharedState } from '../../shared-state/ports.ts';
import type { Storage } from '../../storage/ports.ts';

export const PSU_COOKIE = 'opendcr_psu';
/** The dashboard's path: the cookie goes nowhere else. */
export const ACCESS_PATH = '/psu/access';
const SIGNED_OUT = 'psu-session-ended';

export interface PsuSession {
  readonly id: string;
  /** The customer's identifier, as the bank's sign-in gave it. */
  readonly psu: string;
  /** Epoch seconds. */
  readonly issuedAt: number;
  readonly seenAt: number;
}

export interface PsuSessions {
  issue(psu: string): { session: PsuSession; cookie: string };
  /** The session of a cookie value whose MAC and times hold (sign-out is checked by `ended`). */
  read(cookie: string | undefined): PsuSession | undefined;
  ended(session: PsuSession): Promise<boolean>;
  end(session: PsuSession): Promise<void>;
  /** The cookie value with `seenAt` moved to now (sliding idle timeout). */
  touch(session: PsuSession): string;
  csrfToken(session: PsuSession): string;
  checkCsrf(session: PsuSession, token: unknown): boolean;
  /** `Set-Cookie` for a value (empty clears it). */
  setCookie(value: string): string;
  /** An HMAC under the sessions' key, for the sign-in's own signed state. */
  mac(data: string): string;
}

export async function createPsuSessions(opts: {
  storage: Pick<Storage, 'meta'>;
  shared: Pick<SharedState, 'mark' | 'has'>;
  idleSeconds: number;
  lifetimeSeconds: number;
  /** Epoch seconds. */
  now: () => number;
}): Promise<PsuSessions> {
  const { now } = opts;
  const key = Buffer.from(await opts.storage.meta.setIfAbsent('psu_session_key', randomBytes(32).toString('base64url')), 'base64url');
  const mac = (data: string) => createHmac('sha256', key).update(data).digest('base64url');
  const encode = (s: PsuSession) => {
    const body = Buffer.from(JSON.stringify([s.id, s.psu, s.issuedAt, s.seenAt])).toString('base64url');
    return `${body}.${mac(`session:${body}`)}`;
  };
  return {
    issue(psu) {
      const t = now();
      const session = { id: randomBytes(16).toString('base64url'), psu, issuedAt: t, seenAt: t };
      return { session, cookie: encode(session) };
    },
    read(cookie) {
      if (cookie === undefined) return undefined;
      const [body, tag, extra] = cookie.split('.');
      if (!body || !tag || extra !== undefined || body.length > 2048 || !safeEqual(tag, mac(`session:${body}`))) return undefined;
      try {
        const [id, psu, issuedAt, seenAt] = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as [string, string, number, number];
        const t = now();
        if (typeof id !== 'string' || typeof psu !== 'string' || !Number.isSafeInteger(issuedAt) || !Number.isSafeInteger(seenAt)) return undefined;
        if (t - seenAt >= opts.idleSeconds || t - issuedAt >= opts.lifetimeSeconds || seenAt > t + 60) return undefined;
        return { id, psu, issuedAt, seenAt };
      } catch {
        return undefined;
      }
    },
    ended: (session) => opts.shared.has(SIGNED_OUT, session.id),
    end: (session) => opts.shared.mark(SIGNED_OUT, session.id, session.issuedAt + opts.lifetimeSeconds + 60),
    touch: (session) => encode({ ...session, seenAt: now() }),
    csrfToken: (session) => mac(`csrf:${session.id}`),
    checkCsrf: (session, token) => typeof token === 'string' && safeEqual(token, mac(`csrf:${session.id}`)),
    setCookie: (value) => `${PSU_COOKIE}=${value}; Path=${ACCESS_PATH}; Secure; HttpOnly; SameSite=Strict; Max-Age=${value ? opts.idleSeconds : 0}`,
    mac,
  };
}

/** The PSU cookie of a Cookie header. */
export const psuCookie = (header: string | undefined): string | undefined => cookieNamed(header, PSU_COOKIE);
