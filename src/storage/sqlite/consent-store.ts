/**
 * SQLite ConsentStore. A consent is one row (the TPP's Data and Risk as JSON text beside the
 * columns a listing filters on), its history rows in consent_events. A transition is a
 * compare-and-set on the version and writes its event in the same write-queue thunk, so both
 * commit together or not at all, and of racing transitions from one version exactly one applies.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { ConflictError } from '../ports.ts';
import type { ConsentStore } from '../ports.ts';
import type { ConsentEvent } from '../consent-records.ts';
import {
  buildConsentList,
  consentDayCountsSql,
  NOTICE_COLUMNS,
  NOTICES_MAX,
  noticeValues,
  toEventNotice,
  type EventNoticeRow,
  consentValues,
  CONSENT_COLUMNS as COLUMNS,
  toConsent,
  toConsentDayCount,
  toConsentEvent as toEvent,
  toVrpPayment,
  type ConsentDayCountRow,
  type ConsentEventRow as EventRow,
  type ConsentRow,
  type VrpPaymentRow,
} from '../consent-query.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';
import { rowsOf } from '../../sqlite/rows.ts';

/** Open Banking consents and their history, keyed by consent id. */
export function createSqliteConsentStore(db: DatabaseSync, write: Write = guard): ConsentStore {
  const insert = db.prepare(`INSERT INTO consents (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)
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
  const payments = rowsOf<VrpPaymentRow>(
    db.prepare('SELECT consent_id, payment_id, units, currency, at FROM consent_vrp_payments WHERE consent_id = ? AND at >= ? ORDER BY at, payment_id'),
  );
  const insertPayment = db.prepare(`INSERT INTO consent_vrp_payments (consent_id, payment_id, units, currency, at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (consent_id, payment_id) DO NOTHING`);
  const deletePayment = db.prepare('DELETE FROM consent_vrp_payments WHERE consent_id = ? AND payment_id = ?');
  const insertNotice = db.prepare(`INSERT INTO event_notices (${NOTICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`);
  const notices = rowsOf<EventNoticeRow>(
    db.prepare(`SELECT ${NOTICE_COLUMNS} FROM event_notices WHERE key_manager = ? AND client_id = ? ORDER BY at, jti LIMIT ?`),
  );
  const removeNotice = db.prepare('DELETE FROM event_notices WHERE key_manager = ? AND client_id = ? AND jti = ?');
  const noticesBefore = db.prepare('DELETE FROM event_notices WHERE at < ?');
  const dayCounts = rowsOf<ConsentDayCountRow>(db.prepare(consentDayCountsSql('?')));
  // One statement per filter combination (and length of a client id list), prepared on first use.
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
          const { changes } = insert.run(...consentValues(r));
          if (Number(changes) === 0) throw new ConflictError(`consent "${r.id}" already exists`);
          addEvent(r.id, 1, event);
        }),
      ),
    get: (id) =>
      guard('consents.get', () => {
        const row = get.get(id);
        return row === undefined ? undefined : toConsent(row);
      }),
    transition: async (id, version, change, event, notice) => {
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
          if (notice) insertNotice.run(...noticeValues(notice));
          return changed;
        }),
      );
    },
    history: (id) => guard('consents.history', () => history.all(id).map(toEvent)),
    notices: async (keyManager, clientId, limit) => {
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > NOTICES_MAX)
        throw new RangeError(`limit must be an integer from 1 to ${NOTICES_MAX}, got ${limit}`);
      return guard('consents.notices', () => notices.all(keyManager, clientId, limit).map(toEventNotice));
    },
    removeNotices: async (keyManager, clientId, jtis) => {
      if (jtis.length > NOTICES_MAX) throw new RangeError(`at most ${NOTICES_MAX} jtis, got ${jtis.length}`);
      if (jtis.length === 0) return 0;
      return write('consents.removeNotices', () =>
        atomically(() => jtis.reduce((n, jti) => n + Number(removeNotice.run(keyManager, clientId, jti).changes), 0)),
      );
    },
    deleteNoticesBefore: (at) => write('consents.deleteNoticesBefore', () => Number(noticesBefore.run(at).changes)),
    dayCounts: (since) => guard('consents.dayCounts', () => dayCounts.all(since).map(toConsentDayCount)),
    // A unit of work runs in the write queue's transaction: units take turns, no row lock needed.
    vrpPayments: (consentId, since) => guard('consents.vrpPayments', () => payments.all(consentId, since).map(toVrpPayment)),
    addVrpPayment: (p) =>
      write('consents.addVrpPayment', () => {
        const { changes } = insertPayment.run(p.consentId, p.paymentId, p.units, p.currency, p.at);
        if (Number(changes) === 0) throw new ConflictError(`VRP payment "${p.paymentId}" is already counted`);
      }),
    removeVrpPayment: (consentId, paymentId) => write('consents.removeVrpPayment', () => Number(deletePayment.run(consentId, paymentId).changes) > 0),
    list: async (query) => {
      const q = buildConsentList(query, () => '?'); // throws RangeError on a bad limit: a caller bug
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
