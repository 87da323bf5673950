/**
 * Audit listing shared by the SQL backends: the filter checks and the WHERE clause, so sqlite/
 * and postgres/ accept the same filters and differ only in placeholder syntax.
 */
import type { AuditEvent, AuditEventType, AuditStore } from './ports.ts';

/** Every audit event type, for callers that validate user input (the CLI). */
export const AUDIT_EVENT_TYPES = ['created', 'updated', 'deleted', 'rejected'] as const satisfies readonly AuditEventType[];

/** Largest page AuditStore.list returns. */
export const AUDIT_LIST_MAX = 1000;

export type AuditFilter = Parameters<AuditStore['list']>[0];

/** A list query for one combination of filters. */
export interface AuditListQuery {
  /** Which filters are present; equal keys mean equal SQL text (cache prepared statements by it). */
  key: string;
  /** SELECT ... ORDER BY ... LIMIT, using `placeholder(n)` for the n-th (1-based) value. */
  text: string;
  values: Array<string | number>;
}

/**
 * Builds the listing for `filter`: only present filters become predicates, so each combination
 * gets its own plan that can use the (column, at) indexes. Throws RangeError on a limit outside
 * 1..AUDIT_LIST_MAX or a non-integer `since` (caller bugs, not storage failures).
 */
export function buildAuditList(filter: AuditFilter, placeholder: (n: number) => string): AuditListQuery {
  const { limit, since } = filter;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > AUDIT_LIST_MAX) {
    throw new RangeError(`limit must be an integer from 1 to ${AUDIT_LIST_MAX}, got ${limit}`);
  }
  if (since !== undefined && !Number.isSafeInteger(since)) {
    throw new RangeError(`since must be an integer (epoch seconds), got ${since}`);
  }
  const where: string[] = [];
  const values: Array<string | number> = [];
  let key = '';
  const add = (flag: string, predicate: string, value: string | number | undefined): void => {
    if (value === undefined) return;
    values.push(value);
    where.push(`${predicate} ${placeholder(values.length)}`);
    key += flag;
  };
  add('c', 'client_id =', filter.clientId);
  add('s', 'software_id =', filter.softwareId);
  add('e', 'event =', filter.event);
  add('k', 'code =', filter.code);
  add('t', 'at >=', since);
  values.push(limit);
  const text = `SELECT id, at, event, software_id, org_id, client_id, reason, code, version, method FROM audit_events
    ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
    ORDER BY at DESC, id DESC LIMIT ${placeholder(values.length)}`;
  return { key: key === '' ? 'all' : key, text, values };
}

/** An audit_events row as either driver returns it (PostgreSQL gives BIGINT/BIGSERIAL as strings). */
export interface AuditRow {
  id: number | string;
  at: number | string;
  event: AuditEventType;
  software_id: string | null;
  org_id: string | null;
  client_id: string | null;
  reason: string | null;
  code: string | null;
  version: string | null;
  method: string | null;
}

/** Row → port event; ids and epoch seconds stay far below 2^53. */
export function toAuditEvent(r: AuditRow): AuditEvent & { id: number } {
  return {
    id: Number(r.id),
    at: Number(r.at),
    event: r.event,
    softwareId: r.software_id,
    orgId: r.org_id,
    clientId: r.client_id,
    reason: r.reason,
    code: r.code,
    version: r.version,
    method: r.method,
  };
}

/** Rejections counted by code, optionally since a time and for one software; most frequent first. */
export function buildRejectionCount(filter: { since?: number; softwareId?: string }, placeholder: (n: number) => string): AuditListQuery {
  if (filter.since !== undefined && !Number.isSafeInteger(filter.since)) {
    throw new RangeError(`since must be an integer (epoch seconds), got ${filter.since}`);
  }
  const where = ["event = 'rejected'"];
  const values: Array<string | number> = [];
  let key = 'count';
  if (filter.since !== undefined) {
    values.push(filter.since);
    where.push(`at >= ${placeholder(values.length)}`);
    key += 't';
  }
  if (filter.softwareId !== undefined) {
    values.push(filter.softwareId);
    where.push(`software_id = ${placeholder(values.length)}`);
    key += 's';
  }
  const text = `SELECT code, COUNT(*) AS count FROM audit_events WHERE ${where.join(' AND ')}
    GROUP BY code ORDER BY COUNT(*) DESC, code IS NULL, code`;
  return { key, text, values };
}

/** A row of the per-bucket audit histogram as either driver returns it (PostgreSQL: BIGINT as text). */
export interface HistogramRow {
  bucket: number | string;
  event: string;
  code: string | null;
  count: number | string;
}

export function toBucket(r: HistogramRow): { bucket: number; event: AuditEventType; code: string | null; count: number } {
  return { bucket: Number(r.bucket), event: r.event as AuditEventType, code: r.code, count: Number(r.count) };
}
