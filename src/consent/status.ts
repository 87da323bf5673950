/**
 * Consent statuses: the one transition table every change goes through, and the names each API
 * version uses on the wire (v4.0 sends the codes, v3.1 the words). docs/consents.md#statuses.
 */
import type { ConsentActor, ConsentKind, ConsentStatus } from '../storage/consent-records.ts';

/** What happens to a consent. */
export type ConsentEventName = 'authorise' | 'reject' | 'revoke' | 'expire' | 'consume' | 'delete';

/** The long-lived consents; every other kind is a payment consent, used once by its order. */
const LONG_LIVED: ReadonlySet<ConsentKind> = new Set(['account-access', 'funds-confirmation', 'domestic-vrp']);
export const isPaymentKind = (kind: ConsentKind): boolean => !LONG_LIVED.has(kind);

/**
 * The next status, or undefined when the event is not allowed from `from`. Rejected and deleted
 * are terminal; payment consents are consumed by their order and never revoked or expired by a
 * clock; long-lived consents (AIS, CoF, VRP) are revoked (CANC) and expire (EXPD).
 */
export function nextStatus(kind: ConsentKind, from: ConsentStatus, event: ConsentEventName): ConsentStatus | undefined {
  const payment = isPaymentKind(kind);
  switch (event) {
    case 'authorise':
      // Re-authentication of a long-lived consent keeps it AUTH (or brings a revoked one back).
      if (from === 'AWAU') return 'AUTH';
      if (!payment && (from === 'AUTH' || (from === 'CANC' && kind !== 'funds-confirmation'))) return 'AUTH';
      return undefined;
    case 'reject':
      return from === 'AWAU' || (payment && from === 'AUTH') ? 'RJCT' : undefined;
    case 'revoke':
      return !payment && from === 'AUTH' ? 'CANC' : undefined;
    case 'expire':
      return !payment && from === 'AUTH' ? 'EXPD' : undefined;
    case 'consume':
      return payment && from === 'AUTH' ? 'COND' : undefined;
    case 'delete':
      // The status is kept; the consent is marked deleted (and no longer served).
      return payment ? undefined : from;
  }
}

/** Who may cause each event. */
export const EVENT_ACTORS: Readonly<Record<ConsentEventName, readonly ConsentActor[]>> = {
  authorise: ['psu'],
  reject: ['psu', 'bank', 'system', 'staff'],
  revoke: ['psu', 'staff', 'bank'],
  expire: ['system'],
  consume: ['tpp'],
  delete: ['tpp'],
};

const V3_COMMON: Readonly<Record<ConsentStatus, string>> = {
  AWAU: 'AwaitingAuthorisation',
  AUTH: 'Authorised',
  RJCT: 'Rejected',
  // v3.1 had no word for these on long-lived consents: a revoked or expired AIS/CoF consent was
  // "Revoked" (AIS, CoF) and its tokens stopped; VRP kept "Authorised" with its tokens revoked.
  CANC: 'Revoked',
  EXPD: 'Revoked',
  COND: 'Consumed',
};

/** The status as the consent's API version names it. */
export function wireStatus(kind: ConsentKind, status: ConsentStatus, apiVersion: string): string {
  if (apiVersion !== 'v3.1') return status;
  // v3.1.11 VRP has no such word: the consent stayed Authorised and only its tokens stopped.
  if (kind === 'domestic-vrp' && (status === 'CANC' || status === 'EXPD')) return 'Authorised';
  return V3_COMMON[status];
}
