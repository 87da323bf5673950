/**
 * The bank's own account system as the source of the accounts a customer may choose on the
 * consent page (`[psu.account_source]`, docs/consents.md#the-customers-accounts): one HTTPS GET
 * per customer, through the outbound allow-list (mutual TLS when configured, bounded in time and
 * size), whose answer must be `{ "accounts": [ { accountId, schemeName, identification, name,
 * currency, type? } ] }`. An answer is kept a short while for the consent pages of that customer
 * (the page and its form read the same list) and for nothing else; a failure is never kept.
 */
import { z } from 'zod';
import type { OutboundFetch } from '../http/outbound.ts';
import { AccountSourceUnavailable, type PsuAccount, type PsuAccountSource } from './psu-accounts.ts';

const ACCOUNTS_MAX = 100;
/** Customers whose accounts are kept at once; the oldest goes first. */
const KEPT_MAX = 10_000;

const answer = z.object({
  accounts: z
    .array(
      z.object({
        accountId: z.string().regex(/^[A-Za-z0-9._~-]{1,40}$/),
        schemeName: z.string().min(1).max(40),
        identification: z.string().min(1).max(256),
        name: z.string().min(1).max(70),
        currency: z.string().regex(/^[A-Z]{3}$/),
        type: z.string().min(1).max(40).optional(),
      }),
    )
    .max(ACCOUNTS_MAX),
});

export interface BankAccountSourceOptions {
  /** With `{psu}` where the customer's id goes. */
  readonly url: string;
  readonly fetch: OutboundFetch;
  /** The Authorization header to send, when the bank wants one. */
  readonly authorization?: string | undefined;
  readonly cacheSeconds: number;
  /** Epoch milliseconds. */
  readonly now: () => number;
}

export function bankAccountSource(opts: BankAccountSourceOptions): PsuAccountSource {
  const kept = new Map<string, { at: number; accounts: readonly PsuAccount[] }>();
  return {
    async list(psu) {
      const hit = kept.get(psu);
      if (hit && opts.now() - hit.at < opts.cacheSeconds * 1000) return hit.accounts;
      let body: unknown;
      try {
        const res = await opts.fetch(opts.url.replaceAll('{psu}', encodeURIComponent(psu)), {
          headers: { accept: 'application/json', ...(opts.authorization ? { authorization: opts.authorization } : {}) },
        });
        if (res.status !== 200) throw new AccountSourceUnavailable(`the account system answered ${res.status}`);
        body = await res.json();
      } catch (err) {
        if (err instanceof AccountSourceUnavailable) throw err;
        throw new AccountSourceUnavailable(err instanceof Error ? err.message : 'the account system could not be reached', { cause: err });
      }
      const parsed = answer.safeParse(body);
      if (!parsed.success) throw new AccountSourceUnavailable('the account system answered in another shape than agreed');
      const accounts = parsed.data.accounts.map((a) => ({
        accountId: a.accountId,
        nickname: a.name,
        currency: a.currency,
        scheme: a.schemeName,
        identification: a.identification,
        ...(a.type === undefined ? {} : { type: a.type }),
      }));
      if (opts.cacheSeconds > 0) {
        kept.delete(psu);
        kept.set(psu, { at: opts.now(), accounts });
        if (kept.size > KEPT_MAX) kept.delete(kept.keys().next().value!);
      }
      return accounts;
    },
  };
}
