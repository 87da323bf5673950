/**
 * What the SQL consent stores share: the listing's filter checks and WHERE clause, and the row
 * and event mapping, so sqlite/ and postgres/ accept the same filters and read the same records,
 * differing only in placeholder syntax and how each driver hands over BIGINT and JSON columns.
 */
import type { ConsentActor, ConsentEvent, ConsentKind, ConsentQuery, ConsentRecord, ConsentStatus, VrpPayment } from './consent-records.ts';

/** Largest page ConsentStore.list returns. */
export const CONSENT_LIST_MAX = 1000;

export const CONSENT_COLUMNS = `id, kind, api_version, key_manager, client_id, status, data, risk, psu, accounts, grant_id,
  created_at, status_updated_at, expires_at, deleted_at, version`;

/** A list query for one combination of filters. */
export interface ConsentListQuery {
  /** Which filters are present; equal keys mean equal SQL text (cache prepared statements by it). */
  key: string;
  text: string;
  values: Array<string | number>;
}

/**
 * The listing for `query`: only present filters become predicates, so each combination has its
 * own statement, able to use the (column, created_at, id) indexes. `placeholder(n, type)` spells
 * the n-th (1-based) value, with its SQL type where the driver needs one. Throws RangeError on a
 * limit outside 1..CONSENT_LIST_MAX or a non-integer page boundary (caller bugs, not storage failures).
 */
export function buildConsentList(query: ConsentQuery, placeholder: (n: number, type?: 'bigint' | 'text') => string): ConsentListQuery {
  const { limit, before } = query;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > CONSENT_LIST_MAX) {
    throw new RangeError(`limit must be an integer from 1 to ${CONSENT_LIST_MAX}, got ${limit}`);
  }
  if (before !== undefined && !Number.isSafeInteger(before.createdAt)) {
    throw new RangeError(`before.createdAt must be an integer (epoch milliseconds), got ${before.createdAt}`);
  }
  const where: string[] = [];
  const values: Array<string | number> = [];
  let key = '';
  const add = (flag: string, column: string, value: string | undefined): void => {
    if (value === undefined) return;
    values.push(value);
    where.push(`${column} = ${placeholder(values.length)}`);
    key += flag;
  };
  add('c', 'client_id', query.clientId);
  add('k', 'key_manager', query.keyManager);
  add('p', 'psu', query.psu);
  add('s', 'status', query.status);
  add('t', 'kind', query.kind);
  if (query.deleted !== true) {
    where.push('deleted_at IS NULL');
    key += 'l';
  }
  if (before !== undefined) {
    values.push(before.createdAt, before.id);
    where.push(`(created_at, id) < (${placeholder(values.length - 1, 'bigint')}, ${placeholder(values.length, 'text')})`);
    key += 'b';
  }
  values.push(limit);
  const text = `SELECT ${CONSENT_COLUMNS} FROM consents ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
    ORDER BY created_at DESC, id DESC LIMIT ${placeholder(values.length)}`;
  return { key, text, values };
}

/** A consents row as either driver returns it: BIGINTs as numbers or strings, accounts as JSON text or parsed. */
export interface ConsentRow {
  id: string;
  kind: string;
  api_version: string;
  key_manager: string;
  client_id: string;
  status: string;
  data: string;
  risk: string | null;
  psu: string | null;
  accounts: string | string[];
  grant_id: string | null;
  created_at: number | string;
  status_updated_at: number | string;
  expires_at: number | string | null;
  deleted_at: number | string | null;
  version: number;
}

export interface ConsentEventRow {
  consent_id: string;
  at: number | string;
  from_status: string | null;
  to_status: string;
  actor: string;
  actor_id: string | null;
  reason: string | null;
}

export interface VrpPaymentRow {
  consent_id: string;
  payment_id: string;
  units: string;
  currency: string;
  at: number | string;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

/** Row → record; epoch milliseconds stay far below 2^53. */
export const toConsent = (r: ConsentRow): ConsentRecord => ({
  id: r.id,
  kind: r.kind as ConsentKind,
  apiVersion: r.api_version,
  keyManager: r.key_manager,
  clientId: r.client_id,
  status: r.status as ConsentStatus,
  data: JSON.parse(r.data) as Record<string, unknown>,
  risk: r.risk === null ? null : (JSON.parse(r.risk) as Record<string, unknown>),
  psu: r.psu,
  accounts: typeof r.accounts === 'string' ? (JSON.parse(r.accounts) as string[]) : r.accounts,
  grantId: r.grant_id,
  createdAt: Number(r.created_at),
  statusUpdatedAt: Number(r.status_updated_at),
  expiresAt: num(r.expires_at),
  deletedAt: num(r.deleted_at),
  version: Number(r.version),
});

export const toConsentEvent = (r: ConsentEventRow): ConsentEvent => ({
  consentId: r.consent_id,
  at: Number(r.at),
  from: r.from_status as ConsentStatus | null,
  to: r.to_status as ConsentStatus,
  actor: r.actor as ConsentActor,
  actorId: r.actor_id,
  reason: r.reason,
});

export const toVrpPayment = (r: VrpPaymentRow): VrpPayment => ({
  consentId: r.consent_id,
  paymentId: r.payment_id,
  units: r.units,
  currency: r.currency,
  at: Number(r.at),
});

/** A record's values in CONSENT_COLUMNS order, without the version (a new consent is version 1). */
export const consentValues = (r: ConsentRecord): Array<string | number | null> => [
  r.id,
  r.kind,
  r.apiVersion,
  r.keyManager,
  r.clientId,
  r.status,
  JSON.stringify(r.data),
  r.risk === null ? null : JSON.stringify(r.risk),
  r.psu,
  JSON.stringify(r.accounts),
  r.grantId,
  r.createdAt,
  r.statusUpdatedAt,
  r.expiresAt,
  r.deletedAt,
];
