/**
 * Open Banking consents (intents) as stored: what a TPP asked for, whose application asked, its
 * status and every change of it (docs/consents.md). Plain data: the stores persist it, the consent
 * service (src/consent) decides the transitions.
 */

/** The consent resources OpenDCR serves, one per OB intent type. */
export type ConsentKind =
  | 'account-access'
  | 'domestic-payment'
  | 'domestic-scheduled-payment'
  | 'domestic-standing-order'
  | 'international-payment'
  | 'international-scheduled-payment'
  | 'international-standing-order'
  | 'funds-confirmation'
  | 'domestic-vrp';

export const CONSENT_KINDS: readonly ConsentKind[] = [
  'account-access',
  'domestic-payment',
  'domestic-scheduled-payment',
  'domestic-standing-order',
  'international-payment',
  'international-scheduled-payment',
  'international-standing-order',
  'funds-confirmation',
  'domestic-vrp',
];

/**
 * OBInternalConsentStatus1Code (v4.0): awaiting authorisation, authorised, rejected, cancelled
 * (revoked at the bank), expired, consumed (a payment consent used by its order). v3.1 names are
 * mapped at the edge (src/consent/status.ts).
 */
export type ConsentStatus = 'AWAU' | 'AUTH' | 'RJCT' | 'CANC' | 'EXPD' | 'COND';
export const CONSENT_STATUSES: readonly ConsentStatus[] = ['AWAU', 'AUTH', 'RJCT', 'CANC', 'EXPD', 'COND'];

/** Who caused a change: the TPP, the customer (PSU), the bank's rules, a sweeper or clock, bank staff. */
export type ConsentActor = 'tpp' | 'psu' | 'bank' | 'system' | 'staff';
export const CONSENT_ACTORS: readonly ConsentActor[] = ['tpp', 'psu', 'bank', 'system', 'staff'];

export interface ConsentRecord {
  /** The ConsentId the bank generated (at most 128 characters). */
  id: string;
  kind: ConsentKind;
  /** The OB API version family the consent was created through: `v3.1` or `v4.0`. */
  apiVersion: string;
  /** The application: the key manager that issued the TPP's token, and its client id. */
  keyManager: string;
  clientId: string;
  status: ConsentStatus;
  /** The request's `Data` as the TPP sent it (Permissions, Initiation, ControlParameters, ...). */
  data: Record<string, unknown>;
  /** The request's `Risk`, when the type has one. */
  risk: Record<string, unknown> | null;
  /** The PSU who authorised it (bound at authorisation; null until then). */
  psu: string | null;
  /** The account ids the PSU selected (AIS), or the debtor account (PIS, VRP, CoF). */
  accounts: string[];
  /** The OAuth grant the authorisation created; revoked with the consent. */
  grantId: string | null;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds of the last status change (OB StatusUpdateDateTime). */
  statusUpdatedAt: number;
  /** Epoch milliseconds after which the consent is expired (ExpirationDateTime, ValidToDateTime), or null. */
  expiresAt: number | null;
  /** Epoch milliseconds when the TPP deleted it; a deleted consent is kept for its history and never served again. */
  deletedAt: number | null;
  /** Bumped by every change; a transition names the version it read (compare-and-set). */
  version: number;
  /** The context of the API it was created through (`/open-banking/v4.0/aisp`); null for consents stored before it was kept. */
  apiContext: string | null;
}

/** One row of a consent's history. */
export interface ConsentEvent {
  consentId: string;
  /** Epoch milliseconds. */
  at: number;
  /** The status before (null for the creation). */
  from: ConsentStatus | null;
  to: ConsentStatus;
  actor: ConsentActor;
  /** Who exactly, when known: a client id, a PSU id, a staff user name. */
  actorId: string | null;
  /** An OBExternalStatusReason1Code or a short reason (`deleted`, `TKXP`, `U036`, ...). */
  reason: string | null;
}

/** What a transition may change besides the status. */
export interface ConsentChange {
  status: ConsentStatus;
  psu?: string | null;
  accounts?: string[];
  grantId?: string | null;
  deletedAt?: number | null;
  /** Epoch milliseconds; becomes statusUpdatedAt. */
  at: number;
}

/** Filters of a listing; all optional, combined with AND. Newest first. */
export interface ConsentQuery {
  /** This one consent (with the other filters, it must match them too). */
  id?: string;
  clientId?: string;
  /** Any of these client ids (at most CONSENT_CLIENT_IDS_MAX; an empty list matches nothing). */
  clientIds?: readonly string[];
  keyManager?: string;
  psu?: string;
  status?: ConsentStatus;
  kind?: ConsentKind;
  /** Created at or after (epoch milliseconds). */
  createdFrom?: number;
  /** Created before (epoch milliseconds). */
  createdTo?: number;
  /** Include deleted consents (default false). */
  deleted?: boolean;
  /** At most this many (1–1000). */
  limit: number;
  /** Only consents created before this one (by createdAt, then id): the next page. */
  before?: { createdAt: number; id: string };
}

/**
 * An event notice for a TPP (OB Event Notification API): a security event token's claims, kept
 * from the change that caused it until the TPP acknowledges it.
 */
export interface EventNotice {
  /** The SET's jti: unique, at most 128 characters. */
  jti: string;
  /** The application told: the key manager and client id of the consent's TPP. */
  keyManager: string;
  clientId: string;
  /** The event type URN (`urn:uk:org:openbanking:events:consent-authorization-revoked`). */
  type: string;
  consentId: string;
  /** Epoch milliseconds: the time of the event. */
  at: number;
  /** The SET's claims but `iat` (set when it is signed for delivery). */
  claims: Record<string, unknown>;
}

/** Consent history rows of one day (UTC), one status change and actor, counted (the dashboard's figures). */
export interface ConsentDayCount {
  /** The UTC day, as epoch milliseconds of its midnight. */
  day: number;
  from: ConsentStatus | null;
  to: ConsentStatus;
  actor: ConsentActor;
  count: number;
}

/** A VRP payment counted against its consent's periodic limits (the ledger). */
export interface VrpPayment {
  consentId: string;
  /** The gateway's id of the payment (one per accepted call). */
  paymentId: string;
  /** The amount in units of 10^-5 of its currency, as a decimal integer string (no float ever). */
  units: string;
  currency: string;
  /** Epoch milliseconds: when it was counted. */
  at: number;
}
