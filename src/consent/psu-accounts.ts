/**
 * The bank accounts a customer (PSU) may choose when authorising a consent. One source per
 * deployment: in sandbox mode the demo users' accounts from the configuration (three derived from
 * the user name when none are configured, so every demo user has accounts to choose); a bank's own
 * account system plugs in behind the same interface.
 */
import { createHash } from 'node:crypto';
import type { Config } from '../config/schema.ts';

export interface PsuAccount {
  /** The public AccountId a TPP sees: stable, unique, meaningless to the customer (OB Max40Text). */
  readonly accountId: string;
  readonly nickname: string;
  readonly currency: string;
  /** OB SchemeName and Identification, as a payment's DebtorAccount names the account. */
  readonly scheme: string;
  readonly identification: string;
  /** OB AccountType (`Personal`, `Business`), when the bank says. */
  readonly type?: string;
}

export interface PsuAccountSource {
  /**
   * The accounts of `psu` (the subject the PSU signed in as), in the order the bank shows them.
   * Throws AccountSourceUnavailable when the bank's account system cannot say now.
   */
  list(psu: string): Promise<readonly PsuAccount[]>;
}

/** The bank's account system did not answer, or not in the agreed shape: nothing may be decided from it. */
export class AccountSourceUnavailable extends Error {
  override readonly name = 'AccountSourceUnavailable';
}

const DERIVED = [
  { nickname: 'Current account', currency: 'GBP' },
  { nickname: 'Savings account', currency: 'GBP' },
  { nickname: 'Euro account', currency: 'EUR' },
] as const;

/** Three accounts of a demo user, the same on every host and every start. */
function derivedAccounts(username: string): PsuAccount[] {
  return DERIVED.map((d, i) => {
    const h = createHash('sha256').update(`opendcr sandbox account\u0000${username}\u0000${i}`).digest();
    const digits = [...h.subarray(0, 14)].map((b) => String(b % 10)).join('');
    return {
      accountId: h.subarray(14, 30).toString('hex'),
      nickname: d.nickname,
      currency: d.currency,
      scheme: 'UK.OBIE.SortCodeAccountNumber',
      identification: digits,
    };
  });
}

/** The sandbox's accounts: per demo user from [[sandbox.users]]; nobody has any outside sandbox mode. */
export function sandboxAccountSource(config: Config): PsuAccountSource {
  const byUser = new Map<string, readonly PsuAccount[]>();
  if (config.server.mode === 'sandbox') {
    for (const user of config.sandbox.users) {
      byUser.set(
        user.username,
        user.accounts.length === 0
          ? derivedAccounts(user.username)
          : user.accounts.map((a) => ({
              accountId: a.account_id,
              nickname: a.nickname,
              currency: a.currency,
              scheme: a.scheme,
              identification: a.identification,
            })),
      );
    }
  }
  return { list: async (psu) => byUser.get(psu) ?? [] };
}

/** OB account identifications compare without spaces or case (sort codes are written with and without dashes too). */
const canonical = (s: string) => s.replace(/[\s-]/g, '').toUpperCase();

/** Whether an OB account reference (`{ SchemeName, Identification }`) names `account`. */
export function namesAccount(ref: unknown, account: PsuAccount): boolean {
  if (typeof ref !== 'object' || ref === null) return false;
  const r = ref as Record<string, unknown>;
  return r['SchemeName'] === account.scheme && typeof r['Identification'] === 'string' && canonical(r['Identification']) === canonical(account.identification);
}
