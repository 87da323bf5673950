/**
 * SQLite OidcModelStore and ReplayStore. Statements are prepared once per connection; each
 * operation is a single statement (replay ids: a batch of them in one transaction), so SQLite's
 * write lock alone makes it atomic across processes.
 */
import type { DatabaseSync } from 'node:sqlite';
import { checkLimit, indexColumnsOf, toOidcRecord } from '../oidc-fields.ts';
import type { OidcModelStore, OidcRecord, ReplayStore } from '../ports.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';

interface PayloadRow {
  payload: string;
  consumed_at: number | null;
}

const LIVE = '(expires_at IS NULL OR expires_at > ?)';

/** Builds the oidc-provider model store over an open, migrated database. */
export function createSqliteOidcStore(db: DatabaseSync, now: () => number, write: Write = guard): OidcModelStore {
  const upsert = db.prepare(`
    INSERT INTO oidc_models (model, id, payload, grant_id, uid, user_code, client_id, expires_at, consumed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (model, id) DO UPDATE SET
      payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code,
      client_id = excluded.client_id, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at`);
  const find = db.prepare(`SELECT payload, consumed_at FROM oidc_models WHERE model = ? AND id = ? AND ${LIVE}`);
  const findByUid = db.prepare(`SELECT payload, consumed_at FROM oidc_models WHERE model = ? AND uid = ? AND ${LIVE} LIMIT 1`);
  const findByUserCode = db.prepare(`SELECT payload, consumed_at FROM oidc_models WHERE model = ? AND user_code = ? AND ${LIVE} LIMIT 1`);
  // The payload keeps `consumed` too, because oidc-provider reads it from the payload it gets back.
  const consume = db.prepare(`UPDATE oidc_models SET consumed_at = ?1, payload = json_set(payload, '$.consumed', ?1) WHERE model = ?2 AND id = ?3`);
  const destroy = db.prepare('DELETE FROM oidc_models WHERE model = ? AND id = ?');
  const revoke = db.prepare('DELETE FROM oidc_models WHERE grant_id = ?');
  // The Client record carries client_id, not clientId, so its column is NULL anyway; the model
  // check keeps that true even if a future payload starts carrying clientId.
  const revokeClient = db.prepare("DELETE FROM oidc_models WHERE client_id = ? AND model <> 'Client'");
  const deleteExpired = db.prepare('DELETE FROM oidc_models WHERE expires_at <= ?');
  const grantRecords = db.prepare(
    `SELECT model, expires_at, json_extract(payload, '$.iat') AS iat FROM oidc_models WHERE (grant_id = ?1 OR (model = 'Grant' AND id = ?1)) AND (expires_at IS NULL OR expires_at > ?2) ORDER BY expires_at, model LIMIT 100`,
  );
  const listIds = db.prepare(`SELECT id FROM oidc_models WHERE model = ? AND ${LIVE} ORDER BY id LIMIT ?`);

  const toRecord = (row: unknown): OidcRecord | undefined => {
    if (row === undefined) return undefined;
    const r = row as PayloadRow;
    return toOidcRecord(JSON.parse(r.payload) as Record<string, unknown>, r.consumed_at);
  };

  return {
    upsert: (model, id, payload, expiresAt) =>
      write('oidc.upsert', () => {
        const c = indexColumnsOf(payload);
        upsert.run(model, id, JSON.stringify(payload), c.grantId, c.uid, c.userCode, c.clientId, expiresAt, c.consumedAt);
      }),
    find: (model, id) => guard('oidc.find', () => toRecord(find.get(model, id, now()))),
    findByUid: (model, uid) => guard('oidc.findByUid', () => toRecord(findByUid.get(model, uid, now()))),
    findByUserCode: (model, userCode) => guard('oidc.findByUserCode', () => toRecord(findByUserCode.get(model, userCode, now()))),
    consume: (model, id, at) =>
      write('oidc.consume', () => {
        consume.run(at, model, id);
      }),
    destroy: (model, id) =>
      write('oidc.destroy', () => {
        destroy.run(model, id);
      }),
    revokeByGrantId: (grantId) =>
      write('oidc.revokeByGrantId', () => {
        revoke.run(grantId);
      }),
    grantRecords: (grantId) =>
      guard('oidc.grantRecords', () =>
        grantRecords.all(grantId, now()).map((r) => {
          const row = r as { model: string; expires_at: number | null; iat: number | null };
          return {
            model: row.model,
            expiresAt: row.expires_at === null ? null : Number(row.expires_at),
            issuedAt: typeof row.iat === 'number' ? row.iat : null,
          };
        }),
      ),
    revokeByClientId: (clientId) => write('oidc.revokeByClientId', () => Number(revokeClient.run(clientId).changes)),
    deleteExpired: (at) => write('oidc.deleteExpired', () => Number(deleteExpired.run(at).changes)),
    listIds: async (model, limit) => {
      const bounded = checkLimit(limit); // a caller bug, not a storage failure: keep it a RangeError
      return guard('oidc.listIds', () => listIds.all(model, now(), bounded).map((r) => String((r as { id: string }).id)));
    },
  };
}

/**
 * Builds the replay store: one UPSERT decides "first time" atomically, even across processes.
 *
 * Calls made while the event loop handles one batch of I/O are written together in one
 * transaction (group commit): every token request with a client assertion records its jti, and
 * one synchronous, fsync'd commit per request made the workers queue on SQLite's write lock
 * (whose busy handler sleeps for milliseconds) and halved the token rate with two workers
 * (bench/README.md). Each promise still settles only after its row is committed.
 */
export function createSqliteReplayStore(db: DatabaseSync, now: () => number, write: Write = guard): ReplayStore {
  // Inserts a new id, or takes over a row whose expiry has passed; an unexpired row is left alone
  // and RETURNING then yields nothing, which means "replay".
  const remember = db.prepare(`
    INSERT INTO replay (namespace, id, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (namespace, id) DO UPDATE SET expires_at = excluded.expires_at
    WHERE replay.expires_at <= ?
    RETURNING 1 AS fresh`);
  const deleteExpired = db.prepare('DELETE FROM replay WHERE expires_at <= ?');
  const has = db.prepare('SELECT 1 FROM replay WHERE namespace = ? AND id = ? AND expires_at > ?');

  return {
    // A repeated id within one group commit sees the earlier row of the same transaction: a replay.
    remember: (namespace, id, expiresAt) => write('replay.remember', () => remember.get(namespace, id, expiresAt, now()) !== undefined),
    has: (namespace, id) => guard('replay.has', () => has.get(namespace, id, now()) !== undefined),
    deleteExpired: (at) => write('replay.deleteExpired', () => Number(deleteExpired.run(at).changes)),
  };
}
