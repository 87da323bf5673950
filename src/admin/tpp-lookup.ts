/**
 * Finding a TPP's applications for bank staff: by its client id, software id or organisation id
 * (exactly), or by its name as its software statement gives it (`software_client_name`, any part,
 * any case). The names live inside the stored SSAs, so a name search reads the registrations a
 * page at a time, up to a bound, and says when it stopped there.
 */
import { decodeJwt } from 'jose';
import type { RegistrationRecord, RegistrationStore } from '../storage/ports.ts';

/** Most registrations a name search reads. */
export const NAME_SCAN_MAX = 20_000;
const PAGE = 500;

export interface TppSummary {
  readonly clientId: string;
  readonly softwareId: string;
  readonly orgId: string;
  /** The SSA's software_client_name; null when it has none. */
  readonly name: string | null;
}

export interface TppLookup {
  /** The client ids of the applications `text` names (at most `limit`), and whether the name search stopped at its bound. */
  find(text: string, limit: number): Promise<{ clientIds: string[]; truncated: boolean }>;
  /** The application of `clientId`, when it is a registration of this server. */
  describe(clientId: string): Promise<TppSummary | undefined>;
}

function nameOf(r: RegistrationRecord): string | null {
  try {
    const name = decodeJwt(r.softwareStatement)['software_client_name'];
    return typeof name === 'string' ? name : null;
  } catch {
    return null;
  }
}

const summary = (r: RegistrationRecord): TppSummary => ({ clientId: r.clientId, softwareId: r.softwareId, orgId: r.orgId, name: nameOf(r) });

export function createTppLookup(store: Pick<RegistrationStore, 'list' | 'get'>): TppLookup {
  return {
    async find(text, limit) {
      const found = new Set<string>();
      // A client id the server does not know (another key manager's) still names its consents.
      found.add(text);
      for (const r of (await store.list({ search: text, limit, offset: 0 })).items) found.add(r.clientId);
      const needle = text.toLocaleLowerCase('en');
      let truncated = false;
      for (let offset = 0; found.size < limit; offset += PAGE) {
        if (offset >= NAME_SCAN_MAX) {
          truncated = true;
          break;
        }
        const { items } = await store.list({ limit: PAGE, offset });
        for (const r of items) if (nameOf(r)?.toLocaleLowerCase('en').includes(needle)) found.add(r.clientId);
        if (items.length < PAGE) break;
      }
      return { clientIds: [...found].slice(0, limit), truncated };
    },
    async describe(clientId) {
      const r = await store.get(clientId);
      return r ? summary(r) : undefined;
    },
  };
}
