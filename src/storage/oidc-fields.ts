/**
 * Helpers shared by the SQL backends: which payload fields become indexed columns, and the
 * default clock. Kept here so sqlite/ and postgres/ extract exactly the same columns.
 */
import type { OidcRecord } from './ports.ts';

/** Current time in epoch seconds: the default clock of every backend. */
export const wallClockSeconds = (): number => Math.floor(Date.now() / 1000);

/** Columns lifted out of an oidc-provider payload so lookups never need JSON queries. */
export interface OidcIndexColumns {
  grantId: string | null;
  uid: string | null;
  userCode: string | null;
  clientId: string | null;
  consumedAt: number | null;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * oidc-provider puts `grantId` on tokens and codes, `uid` on Session, `userCode` on DeviceCode,
 * `clientId` on whatever it issues to a client (tokens, codes, Grant; the Client record itself
 * has `client_id`), and `consumed` on consumed codes/tokens; the backend reads them here rather
 * than asking the adapter, so every caller of the port gets the same indexes.
 */
export function indexColumnsOf(payload: Record<string, unknown>): OidcIndexColumns {
  return {
    grantId: str(payload['grantId']),
    uid: str(payload['uid']),
    userCode: str(payload['userCode']),
    clientId: str(payload['clientId']),
    consumedAt: typeof payload['consumed'] === 'number' ? payload['consumed'] : null,
  };
}

/** Builds the port record from a stored payload and its consumed column. */
export function toOidcRecord(payload: Record<string, unknown>, consumedAt: number | null): OidcRecord {
  return consumedAt === null ? { payload } : { payload, consumed: consumedAt };
}

/** Rejects limits a backend could not bind safely (listIds is for bounded admin listings). */
export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
  }
  return limit;
}
