/**
 * PostgreSQL ConsentStore. A consent is one row (the TPP's Data and Risk as JSON text beside the
 * columns a listing filters on), its history rows in consent_events. Every write is a single
 * statement: a create inserts the consent and its creation event, a transition is a
 * compare-and-set on the version whose event is inserted from the updated row, so both commit
 * together or not at all, and of racing transitions from one version exactly one applies (the
 * others wait for its row lock, then find the version moved on).
 */
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
import type { Run } from './errors.ts';

const EVENT_COLUMNS = 'consent_id, seq, at, from_status, to_status, actor, actor_id, reason';

function transitionSql(withNotice: boolean): string {
  return `WITH changed AS (
      UPDATE consents SET status = $3,
        psu = CASE WHEN $4::boolean THEN $5::text ELSE psu END,
        accounts = CASE WHEN $6::boolean THEN $7::jsonb ELSE accounts END,
        grant_id = CASE WHEN $8::boolean THEN $9::text ELSE grant_id END,
        deleted_at = CASE WHEN $10::boolean THEN $11::bigint ELSE deleted_at END,
        status_updated_at = $12, version = version + 1
      WHERE id = $1 AND version = $2
      RETURNING ${COLUMNS}
    ), event AS (
      INSERT INTO consent_events (${EVENT_COLUMNS})
      SELECT id, version, $13::bigint, $14::text, $15::text, $16::text, $17::text, $18::text FROM changed
    )${
      withNotice
        ? `, notice AS (
      INSERT INTO event_notices (${NOTICE_COLUMNS})
      SELECT $19::text, $20::text, $21::text, $22::text, $23::text, $24::bigint, $25::text FROM changed
    )`
        : ''
    }
    SELECT ${COLUMNS} FROM changed`;
}

const SQL = {
  // The event is inserted only when the consent was (a taken id inserts neither).
  create: `WITH created AS (
      INSERT INTO consents (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, 1, $16)
      ON CONFLICT (id) DO NOTHING RETURNING id
    )
    INSERT INTO consent_events (${EVENT_COLUMNS})
    SELECT id, 1, $17::bigint, $18::text, $19::text, $20::text, $21::text, $22::text FROM created`,
  get: `SELECT ${COLUMNS} FROM consents WHERE id = $1`,
  // Each optional field of the change comes with a flag: true sets it (null included), false keeps
  // it; the event (and a notice, when there is one) is inserted only when the consent changed.
  transition: transitionSql(false),
  transitionWithNotice: transitionSql(true),
  notices: `SELECT ${NOTICE_COLUMNS} FROM event_notices WHERE key_manager = $1 AND client_id = $2 ORDER BY at, jti LIMIT $3`,
  removeNotices: 'DELETE FROM event_notices WHERE key_manager = $1 AND client_id = $2 AND jti = ANY($3::text[])',
  noticesBefore: 'DELETE FROM event_notices WHERE at < $1',
  history: `SELECT consent_id, at, from_status, to_status, actor, actor_id, reason FROM consent_events
    WHERE consent_id = $1 ORDER BY seq`,
  lock: 'SELECT id FROM consents WHERE id = $1 FOR UPDATE',
  payments: `SELECT consent_id, payment_id, units, currency, at FROM consent_vrp_payments
    WHERE consent_id = $1 AND at >= $2 ORDER BY at, payment_id`,
  addPayment: `INSERT INTO consent_vrp_payments (consent_id, payment_id, units, currency, at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (consent_id, payment_id) DO NOTHING`,
  removePayment: 'DELETE FROM consent_vrp_payments WHERE consent_id = $1 AND payment_id = $2',
} as const;

const eventValues = (e: ConsentEvent): unknown[] => [e.at, e.from, e.to, e.actor, e.actorId, e.reason];

/** Open Banking consents and their history, keyed by consent id. */
export function createPostgresConsentStore(run: Run): ConsentStore {
  return {
    async create(r, event) {
      const res = await run('consents.create', {
        name: 'consents_create',
        text: SQL.create,
        values: [...consentValues(r), ...eventValues(event)],
      });
      if (res.rowCount === 0) throw new ConflictError(`consent "${r.id}" already exists`);
    },
    async get(id) {
      const { rows } = await run<ConsentRow>('consents.get', { name: 'consents_get', text: SQL.get, values: [id] });
      return rows[0] === undefined ? undefined : toConsent(rows[0]);
    },
    async transition(id, version, change, event, notice) {
      if (!Number.isSafeInteger(version)) throw new RangeError(`version must be an integer, got ${version}`);
      const { rows } = await run<ConsentRow>('consents.transition', {
        name: notice ? 'consents_transition_notice' : 'consents_transition',
        text: notice ? SQL.transitionWithNotice : SQL.transition,
        values: [
          id,
          version,
          change.status,
          change.psu !== undefined,
          change.psu ?? null,
          change.accounts !== undefined,
          change.accounts === undefined ? null : JSON.stringify(change.accounts),
          change.grantId !== undefined,
          change.grantId ?? null,
          change.deletedAt !== undefined,
          change.deletedAt ?? null,
          change.at,
          ...eventValues(event),
          ...(notice ? noticeValues(notice) : []),
        ],
      });
      return rows[0] === undefined ? undefined : toConsent(rows[0]);
    },
    async history(id) {
      const { rows } = await run<EventRow>('consents.history', { name: 'consents_history', text: SQL.history, values: [id] });
      return rows.map(toEvent);
    },
    async vrpPayments(consentId, since, lock = false) {
      // In a unit of work the row lock is held until it commits: counting one consent takes turns.
      if (lock) await run('consents.lock', { name: 'consents_lock', text: SQL.lock, values: [consentId] });
      const { rows } = await run<VrpPaymentRow>('consents.vrpPayments', {
        name: 'consents_vrp_payments',
        text: SQL.payments,
        values: [consentId, since],
      });
      return rows.map(toVrpPayment);
    },
    async addVrpPayment(p) {
      const res = await run('consents.addVrpPayment', {
        name: 'consents_add_vrp_payment',
        text: SQL.addPayment,
        values: [p.consentId, p.paymentId, p.units, p.currency, p.at],
      });
      if (res.rowCount === 0) throw new ConflictError(`VRP payment "${p.paymentId}" is already counted`);
    },
    async removeVrpPayment(consentId, paymentId) {
      const res = await run('consents.removeVrpPayment', { name: 'consents_remove_vrp_payment', text: SQL.removePayment, values: [consentId, paymentId] });
      return (res.rowCount ?? 0) > 0;
    },
    async notices(keyManager, clientId, limit) {
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > NOTICES_MAX)
        throw new RangeError(`limit must be an integer from 1 to ${NOTICES_MAX}, got ${limit}`);
      const { rows } = await run<EventNoticeRow>('consents.notices', { name: 'consents_notices', text: SQL.notices, values: [keyManager, clientId, limit] });
      return rows.map(toEventNotice);
    },
    async removeNotices(keyManager, clientId, jtis) {
      if (jtis.length > NOTICES_MAX) throw new RangeError(`at most ${NOTICES_MAX} jtis, got ${jtis.length}`);
      if (jtis.length === 0) return 0;
      const res = await run('consents.removeNotices', { name: 'consents_remove_notices', text: SQL.removeNotices, values: [keyManager, clientId, [...jtis]] });
      return res.rowCount ?? 0;
    },
    async deleteNoticesBefore(at) {
      const res = await run('consents.deleteNoticesBefore', { name: 'consents_notices_before', text: SQL.noticesBefore, values: [at] });
      return res.rowCount ?? 0;
    },
    async dayCounts(since) {
      const { rows } = await run<ConsentDayCountRow>('consents.dayCounts', {
        name: 'consents_day_counts',
        text: consentDayCountsSql('$1::bigint'),
        values: [since],
      });
      return rows.map(toConsentDayCount);
    },
    async list(query) {
      const q = buildConsentList(query, (n, type) => (type ? `$${n}::${type}` : `$${n}`)); // throws RangeError on a bad limit: a caller bug
      // One name per filter combination (and length of a client id list), so each is planned once per connection.
      const { rows } = await run<ConsentRow>('consents.list', { name: `consents_list_${q.key}`, text: q.text, values: q.values });
      return rows.map(toConsent);
    },
  };
}
