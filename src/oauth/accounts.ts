/**
 * Accounts (PSUs) known to the key manager. In sandbox mode these are the demo users from config;
 * subjects asserted through the jwt-bearer grant by a trusted issuer are accepted as they are.
 */
import { safeEqual } from '../crypto/compare.ts';
import type { Config } from '../config/schema.ts';

export interface Account {
  accountId: string;
  claims(): Record<string, unknown>;
}

export interface AccountService {
  /** Checks a demo user's password in constant time; undefined when wrong or unknown. */
  authenticate(username: string, password: string): string | undefined;
  find(accountId: string): Account | undefined;
  displayName(accountId: string): string;
}

export function createAccountService(config: Config): AccountService {
  const users = config.server.mode === 'sandbox' ? config.sandbox.users : [];
  const byName = new Map(users.map((u) => [u.username, u]));
  return {
    authenticate(username, password) {
      const user = byName.get(username);
      // Compare even for unknown users so timing does not reveal which names exist.
      const ok = safeEqual(user?.password ?? '\u0000unknown', password);
      return user && ok ? user.username : undefined;
    },
    find(accountId) {
      const user = byName.get(accountId);
      return {
        accountId,
        claims: () => (user ? { sub: accountId, name: user.name || undefined, email: user.email || undefined } : { sub: accountId }),
      };
    },
    displayName(accountId) {
      return byName.get(accountId)?.name || accountId;
    },
  };
}
