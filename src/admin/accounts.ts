/**
 * The accounts that present a password to the admin APIs: each [[admin.users]] entry (scrypt
 * hash, role) and [super_admin] (the command line's account, role admin, its password configured
 * as it is sent). A console session is bound to the record it was made from (`record`: user,
 * role and password material), so removing the user or changing the password or role ends it.
 */
import type { Config } from '../config/schema.ts';
import { safeEqual } from '../crypto/compare.ts';
import { verifyPassword } from './passwords.ts';
import type { AdminRole } from './sessions.ts';

export interface Account {
  readonly role: AdminRole;
  /** What a session of this account is bound to; any change to it ends the session. */
  readonly record: string;
}

// Checked for an unknown user too, so a login takes as long whether or not the name exists.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** Basic credentials of [super_admin]: true when they match. */
export function superAdminMatches(config: Config, user: string, pass: string): boolean {
  const { username, password } = config.super_admin;
  // Both compared every time: no early exit that would time the user name.
  return [safeEqual(user, username), safeEqual(pass, password)].every(Boolean);
}

const superAdmin = (config: Config): Account => ({
  role: 'admin',
  record: JSON.stringify(['super_admin', config.super_admin.username, config.super_admin.password]),
});

/** The records `name` signs in with today, as configured in this process. */
export function accountsNamed(config: Config, name: string): Account[] {
  const users: Account[] = config.admin.users
    .filter((u) => u.username === name)
    .map((u) => ({ role: u.role, record: JSON.stringify(['user', u.username, u.role, u.password_hash]) }));
  return config.super_admin.username === name ? [...users, superAdmin(config)] : users;
}

/** The account a console login's name and password open, if any. */
export async function authenticate(config: Config, username: string, password: string): Promise<Account | undefined> {
  const user = config.admin.users.find((u) => u.username === username);
  const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
  if (user && ok) return accountsNamed(config, username)[0];
  // The command line's account logs in too (its password is configured as it is sent).
  return superAdminMatches(config, username, password) ? superAdmin(config) : undefined;
}
