/**
 * SQLite ConsentStore. A consent is one row (the TPP's Data and Risk as JSON text beside the
 * columns a listing filters on), its history rows in consent_events. A transition is a
 * compare-and-set on the version and writes its event in the same write-queue thunk, so both
 * commit together or not at all, and of racing transitions from one version exactly one applies.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { ConflictError } from '../ports.ts';
import type { ConsentStore } from '../ports.ts';
import type { ConsentActor, ConsentEvent, ConsentKind, ConsentQuery, ConsentRecord, ConsentStatus, VrpPayment } from '../consent-records.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';
import { rowsOf } from '../../sqlite/rows.ts';

/** Largest page ConsentStore.list returns. */
const LIST_MAX = 1000;

interface ConsentRow {
  id: string;
  kind: string;
  api_version: string;
  key_manager: string;
  client_id: string;
  status: string;
  data: string;
  risk: string | null;
  psu: string | null;
  accounts: string;
  grant_id: string | null;
  created_at: number;
  status_updated_at: number;
  expires_at: number | null;
  deleted_at: number | null;
  version: number;
}

interface EventRow {
  consent_id: string;
  at: number;
  from_status: string | null;
  to_status: string;
  actor: string;
  actor_id: string | null;
  reason: string | null;
}

const COLUMNS = `id, kind, api_version, key_manager, client_id, status, data, risk, psu, accounts, grant_id,
  created_at, status_updated_at, expires_at, deleted_at, version`;

const num = (v: number | null): number | null => (v === null ? null : Number(v));

const toConsent = (r: ConsentRow): ConsentRecord => ({
  id: r.id,
  kind: r.kind as ConsentKind,
  apiVersion: r.api_version,
  keyManager: r.key_manager,
  clientId: r.client_id,
  status: r.status as ConsentStatus,
  data: JSON.parse(r.data) as Record<string, unknown>,
  risk: r.risk === null ? null : (JSON.parse(r.risk) as Record<string, unknown>),
  psu: r.psu,
  accounts: JSON.parse(r.accounts) as string[],
  grantId: r.grant_id,
  createdAt: Number(r.created_at),
  statusUpdatedAt: Number(r.status_updated_at),
  expiresAt: num(r.expires_at),
  deletedAt: num(r.deleted_at),
  version: Number(r.version),
});

const toEvent = (r: EventRow): ConsentEvent => ({
  consentId: r.consent_id,
  at: Number(r.at),
  from: r.from_status as ConsentStatus | null,
  to: r.to_status as ConsentStatus,
  actor: r.actor as ConsentActor,
  actorId: r.actor_id,
  reason: r.reason,
});

/**
 * The listing for `query`: only present filters become predicates, so each combination has its
 * own statement, able to use the (column, created_at, id) indexes. Throws RangeError on a limit
 * outside 1..LIST_MAX or a non-integer page boundary (caller bugs, not storage failures).
 */
function listQuery(query: ConsentQuery): { key: string; text: string; values: Array<string | number> } {
  const { limit, before } = query;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_MAX) {
    throw new RangeError(`limit must be an integer from 1 to ${LIST_MAX}, got ${limit}`);
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
    where.push(`${column} = ?`);
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
    where.push('(created_at, id) < (?, ?)');
    key += 'b';
  }
  values.push(limit);
  const text = `SELECT ${COLUMNS} FROM consents ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
    ORDER BY created_at DESC, id DESC LIMIT ?`;
  return { key, text, values };
}

/** Open Banking consents and their history, keyed by consent id. */
export function createSqliteConsentStore(db: DatabaseSync, write: Write = guard): ConsentStore {
  const insert = db.prepare(`INSERT INTO consents (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
    ON CONFLICT (id) DO NOTHING`);
  const insertEvent = db.prepare(`INSERT INTO consent_events (consent_id, seq, at, from_status, to_status, actor, actor_id, reason)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
  const get = rowsOf<ConsentRow>(db.prepare(`SELECT ${COLUMNS} FROM consents WHERE id = ?`));
  // Each optional field of the change comes with a flag: 1 sets it (null included), 0 keeps it.
  const transition = rowsOf<ConsentRow>(
    db.prepare(`UPDATE consents SET status = ?3,
      psu = CASE WHEN ?4 = 1 THEN ?5 ELSE psu END,
      accounts = CASE WHEN ?6 = 1 THEN ?7 ELSE accounts END,
      grant_id = CASE WHEN ?8 = 1 THEN ?9 ELSE grant_id END,
      deleted_at = CASE WHEN ?10 = 1 THEN ?11 ELSE deleted_at END,
      status_updated_at = ?12, version = version + 1
    WHERE id = ?1 AND version = ?2
    RETURNING ${COLUMNS}`),
  );
  const history = rowsOf<EventRow>(
    db.prepare(`SELECT consent_id, at, from_status, to_status, actor, actor_id, reason FROM consent_events
    WHERE consent_id = ? ORDER BY seq`),
  );
  const payments = rowsOf<{ consent_id: string; payment_id: string; units: string; currency: string; at: number }>(
    db.prepare('SELECT consent_id, payment_id, units, currency, at FROM consent_vrp_payments WHERE consent_id = ? AND at >= ? ORDER BY at, payment_id'),
  );
  const insertPayment = db.prepare(`INSERT INTO consent_vrp_payments (consent_id, payment_id, units, currency, at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (consent_id, payment_id) DO NOTHING`);
  const deletePayment = db.prepare('DELETE FROM consent_vrp_payments WHERE consent_id = ? AND payment_id = ?');
  // At most 128 filter combinations, each prepared on first use.
  const listings = new Map<string, StatementSync>();

  // The write queue and a unit of work run inside a transaction already; a store built over
  // plain guard() takes one itself, so a consent and its event never commit apart.
  const atomically = <T>(fn: () => T): T => {
    if (db.isTransaction) return fn();
    db.exec('BEGIN IMMEDIATE');
    try {
      const value = fn();
      db.exec('COMMIT');
      return value;
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw err;
    }
  };
  const addEvent = (consentId: string, seq: number, e: ConsentEvent): void => {
    insertEvent.run(consentId, seq, e.at, e.from, e.to, e.actor, e.actorId, e.reason);
  };
  const flag = (v: unknown): number => (v === undefined ? 0 : 1);

  return {
    create: (r, event) =>
      write('consents.create', () =>
        atomically(() => {
          const { changes } = insert.run(
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
          );
          if (Number(changes) === 0) throw new ConflictError(`consent "${r.id}" already exists`);
          addEvent(r.id, 1, event);
        }),
      ),
    get: (id) =>
      guard('consents.get', () => {
        const row = get.get(id);
        return row === undefined ? undefined : toConsent(row);
      }),
    transition: async (id, version, change, event) => {
      if (!Number.isSafeInteger(version)) throw new RangeError(`version must be an integer, got ${version}`);
      return write('consents.transition', () =>
        atomically(() => {
          const row = transition.get(
            id,
            version,
            change.status,
            flag(change.psu),
            change.psu ?? null,
            flag(change.accounts),
            change.accounts === undefined ? null : JSON.stringify(change.accounts),
            flag(change.grantId),
            change.grantId ?? null,
            flag(change.deletedAt),
            change.deletedAt ?? null,
            change.at,
          );
          if (row === undefined) return undefined;
          const changed = toConsent(row);
          addEvent(id, changed.version, event);
          return changed;
        }),
      );
    },
    history: (id) => guard('consents.history', () => history.all(id).map(toEvent)),
    // A unit of work runs in the write queue's transaction: units take turns, no row lock needed.
    vrpPayments: (consentId, since) =>
      guard('consents.vrpPayments', () =>
        payments
          .all(consentId, since)
          .map((r): VrpPayment => ({ consentId: r.consent_id, paymentId: r.payment_id, units: r.units, currency: r.currency, at: Number(r.at) })),
      ),
    addVrpPayment: (p) =>
      write('consents.addVrpPayment', () => {
        const { changes } = insertPayment.run(p.consentId, p.paymentId, p.units, p.currency, p.at);
        if (Number(changes) === 0) throw new ConflictError(`VRP payment "${p.paymentId}" is already counted`);
      }),
    removeVrpPayment: (consentId, paymentId) => write('consents.removeVrpPayment', () => Number(deletePayment.run(consentId, paymentId).changes) > 0),
    list: async (query) => {
      const q = listQuery(query); // throws RangeError on a bad limit: a caller bug
      return guard('consents.list', () => {
        let stmt = listings.get(q.key);
        if (stmt === undefined) {
          stmt = db.prepare(q.text);
          listings.set(q.key, stmt);
        }
        return rowsOf<ConsentRow>(stmt)
          .all(...q.values)
          .map(toConsent);
      });
    },
  };
}
