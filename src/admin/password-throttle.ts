/**
 * One throttle for every way an administrator password is presented (the console's login form,
 * HTTP Basic on any admin API, on the main and the management listener): failed passwords are
 * counted per account and per client address in the shared state, so every worker and host sees
 * the same counts. Past `[admin] login_attempts` failures in one `[admin] login_window`, either count
 * locks: 429 with Retry-After, and the right password is refused too until the window ends.
 *
 * The password is checked first and counted after (a failure adds one, a success adds nothing),
 * with the same shared-state call either way, so a locked account answers a right and a wrong
 * password alike; and because the counts are atomic, however many guesses race, at most
 * `login_attempts` of them in a window could have been let in. A read before the check turns a
 * locked caller away without paying for a password hash. Every failure and every lock is logged
 * at warn with the user name and the address (never the password).
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { fail } from '../errors/app-error.ts';
import type { SharedState, WindowCount } from '../shared-state/ports.ts';
import { createPeerMatcher, normalisePeer } from '../http/trusted-peer.ts';

export type PasswordVia = 'form' | 'basic';

export interface PasswordThrottle {
  /**
   * Runs `check` (true: the password is right) under the throttle for `username` from this
   * request's client. Resolves with the check's answer; rejects with ADMIN_LOGIN_THROTTLED while
   * the account or the address is locked, whatever the answer.
   */
  attempt(req: FastifyRequest, username: string, via: PasswordVia, check: () => Promise<boolean>): Promise<boolean>;
}

/**
 * The client's address: the socket peer, or behind a trusted load balancer the rightmost
 * X-Forwarded-For hop that is not a trusted proxy (the header only survives from one).
 */
export function createClientAddress(config: Config): (req: FastifyRequest) => string {
  const isProxy = createPeerMatcher(config.apimgt.mutual_ssl.trusted_proxies);
  return (req) => {
    const peer = normalisePeer(req.socket.remoteAddress ?? 'unknown');
    if (!isProxy(peer)) return peer;
    const hops = String(req.headers['x-forwarded-for'] ?? '')
      .split(',')
      .map((h) => h.trim())
      .filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!isProxy(hops[i]!)) return normalisePeer(hops[i]!.slice(0, 64));
    return peer;
  };
}

/** The counted unit of an address: an IPv6 client holds a whole /64, so it is counted as one. */
function addressUnit(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url');

export function createPasswordThrottle(deps: { config: Config; shared: Pick<SharedState, 'count'>; logger: Pick<Logger, 'warn'> }): PasswordThrottle {
  const limit = deps.config.admin.login_attempts;
  const windowSeconds = deps.config.admin.login_window;
  const clientAddress = createClientAddress(deps.config);
  const counts = (keys: string[], by: 0 | 1) => Promise.all(keys.map((k) => deps.shared.count(k, windowSeconds, by)));

  // Locked: `limit` failures in the window (this attempt, when it fails, among them).
  function refuseIfLocked(counted: WindowCount[], pending: 0 | 1): void {
    const locked = counted.filter((c) => c.count + pending > limit);
    if (locked.length === 0) return;
    const resetAt = Math.max(...locked.map((c) => c.resetAt));
    throw fail('ADMIN_LOGIN_THROTTLED', 'too many failed administrator passwords for this account or from this address; try again later', {
      headers: { 'retry-after': String(Math.max(1, Math.ceil(resetAt - Date.now() / 1000))) },
    });
  }

  return {
    async attempt(req, username, via, check) {
      const address = clientAddress(req);
      const keys = [`admin-password:account:${digest(username)}`, `admin-password:address:${digest(addressUnit(address))}`];
      const audit = { user: username.slice(0, 100), address, via };
      refuseIfLocked(await counts(keys, 0), 1);
      const ok = await check();
      // The same call for a right and a wrong password: only what it adds differs.
      const after = await counts(keys, ok ? 0 : 1);
      if (!ok) {
        deps.logger.warn({ ...audit, failures: Math.max(...after.map((c) => c.count)) }, 'administrator password refused');
        if (after.some((c) => c.count === limit)) deps.logger.warn({ ...audit, limit, windowSeconds }, 'administrator password attempts locked');
      }
      // A right password counts as the attempt after the failures so far: refused once they reach the limit.
      refuseIfLocked(after, ok ? 1 : 0);
      return ok;
    },
  };
}
