/**
 * What the SQL consent stores share: the listing's filter checks and WHERE clause, and the row
 * and event mapping, so sqlite/ and postgres/ accept the same filters and read the same records,
 * differing only in placeholder syntax and how each driver hands over BIGINT and JSON columns.
 */
import type {
  ConsentActor,
  ConsentDayCount,
  ConsentEvent,
  EventNotice,
  ConsentKind,
  ConsentQuery,
  ConsentRecord,
  ConsentStatus,
  VrpPayment,
} from './consent-records.ts';

/** Largest page ConsentStore.list returns. */
export const CONSENT_LIST_MAX = 1000;
/** Most client ids one listing may name. */
export const CONSENT_CLIENT_IDS_MAX = 200;

export const CONSENT_COLUMNS = `id, kind, api_version, key_manager, client_id, status, data, risk, psu, accounts, grant_id,
  created_at, status_updated_at, expires_at, deleted_at, version, api_context`;

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
  for (const [name, v] of [
    ['createdFrom', query.createdFrom],
    ['createdTo', query.createdTo],
  ] as const) {
    if (v !== undefined && !Number.isSafeInteger(v)) throw new RangeError(`${name} must be an integer (epoch milliseconds), got ${v}`);
  }
  if (query.clientIds !== undefined && query.clientIds.length > CONSENT_CLIENT_IDS_MAX) {
    throw new RangeError(`clientIds holds at most ${CONSENT_CLIENT_IDS_MAX} ids, got ${query.clientIds.length}`);
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
  add('i', 'id', query.id);
  add('c', 'client_id', query.clientId);
  if (query.clientIds !== undefined) {
    if (query.clientIds.length === 0) where.push('1 = 0');
    else {
      const first = values.length + 1;
      values.push(...query.clientIds);
      where.push(`client_id IN (${query.clientIds.map((_, i) => placeholder(first + i, 'text')).join(', ')})`);
    }
    key += `C${query.clientIds.length}`;
  }
  if (query.createdFrom !== undefined) {
    values.push(query.createdFrom);
    where.push(`created_at >= ${placeholder(values.length, 'bigint')}`);
    key += 'f';
  }
  if (query.createdTo !== undefined) {
    values.push(query.createdTo);
    where.push(`created_at < ${placeholder(values.length, 'bigint')}`);
    key += 'u';
  }
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

export const NOTICE_COLUMNS = 'jti, key_manager, client_id, type, consent_id, at, body';

/** An event notice row as either driver returns it. */
export interface EventNoticeRow {
  jti: string;
  key_manager: string;
  client_id: string;
  type: string;
  consent_id: string;
  at: number | string;
  body: string;
}

export const noticeValues = (n: EventNotice): Array<string | number> => [n.jti, n.keyManager, n.clientId, n.type, n.consentId, n.at, JSON.stringify(n.claims)];

export const toEventNotice = (r: EventNoticeRow): EventNotice => ({
  jti: r.jti,
  keyManager: r.key_manager,
  clientId: r.client_id,
  type: r.type,
  consentId: r.consent_id,
  at: Number(r.at),
  claims: JSON.parse(r.body) as Record<string, unknown>,
});

/** Most notices one read or removal handles. */
export const NOTICES_MAX = 1000;

/** A day's count of history rows as either driver returns it. */
export interface ConsentDayCountRow {
  day: number | string;
  from_status: string | null;
  to_status: string;
  actor: string;
  n: number | string;
}

const DAY_MS = 86_400_000;

/** The figures' query: history rows at or after $1, by UTC day, change and actor (integer division is the same in both dialects). */
export const consentDayCountsSql = (p1: string) => `SELECT (at / ${DAY_MS}) * ${DAY_MS} AS day, from_status, to_status, actor, count(*) AS n
  FROM consent_events WHERE at >= ${p1}
  GROUP BY (at / ${DAY_MS}) * ${DAY_MS}, from_status, to_status, actor ORDER BY day`;

export const toConsentDayCount = (r: ConsentDayCountRow): ConsentDayCount => ({
  day: Number(r.day),
  from: r.from_status as ConsentStatus | null,
  to: r.to_status as ConsentStatus,
  actor: r.actor as ConsentActor,
  count: Number(r.n),
});

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
  api_context: string | null;
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
  apiContext: r.api_context,
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
  r.apiContext,
];
