/**
 * PostgreSQL OidcModelStore and ReplayStore. Every operation is one statement, so row locks and
 * ON CONFLICT make it atomic across workers and hosts. Queries are named, so each pooled
 * connection parses and plans them once.
 */
import { checkLimit, indexColumnsOf, toOidcRecord } from '../oidc-fields.ts';
import type { OidcModelStore, OidcRecord, ReplayStore } from '../ports.ts';
import type { Run } from './errors.ts';

// BIGINT comes back from pg as a string (it may exceed 2^53); epoch seconds never do.
interface PayloadRow {
  payload: Record<string, unknown>;
  consumed_at: string | null;
}

const LIVE = '(expires_at IS NULL OR expires_at > $3)';

const SQL = {
  upsert: `INSERT INTO oidc_models (model, id, payload, grant_id, uid, user_code, client_id, expires_at, consumed_at)
    VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (model, id) DO UPDATE SET
      payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid, user_code = EXCLUDED.user_code,
      client_id = EXCLUDED.client_id, expires_at = EXCLUDED.expires_at, consumed_at = EXCLUDED.consumed_at`,
  find: `SELECT payload, consumed_at FROM oidc_models WHERE model = $1 AND id = $2 AND ${LIVE}`,
  findByUid: `SELECT payload, consumed_at FROM oidc_models WHERE model = $1 AND uid = $2 AND ${LIVE} LIMIT 1`,
  findByUserCode: `SELECT payload, consumed_at FROM oidc_models WHERE model = $1 AND user_code = $2 AND ${LIVE} LIMIT 1`,
  // The payload keeps `consumed` too, because oidc-provider reads it from the payload it gets back.
  consume: `UPDATE oidc_models SET consumed_at = $1, payload = jsonb_set(payload, '{consumed}', to_jsonb($1::bigint))
    WHERE model = $2 AND id = $3`,
  destroy: 'DELETE FROM oidc_models WHERE model = $1 AND id = $2',
  revoke: 'DELETE FROM oidc_models WHERE grant_id = $1',
  grantRecords: `SELECT model, expires_at, payload->>'iat' AS iat FROM oidc_models
    WHERE (grant_id = $1 OR (model = 'Grant' AND id = $1)) AND (expires_at IS NULL OR expires_at > $2) ORDER BY expires_at, model LIMIT 100`,
  // The Client record carries client_id, not clientId, so its column is NULL anyway; the model
  // check keeps that true even if a future payload starts carrying clientId.
  revokeClient: "DELETE FROM oidc_models WHERE client_id = $1 AND model <> 'Client'",
  deleteExpired: 'DELETE FROM oidc_models WHERE expires_at <= $1',
  listIds: 'SELECT id FROM oidc_models WHERE model = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id LIMIT $3',
  remember: `INSERT INTO replay (namespace, id, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (namespace, id) DO UPDATE SET expires_at = EXCLUDED.expires_at
    WHERE replay.expires_at <= $4
    RETURNING 1`,
  replayDeleteExpired: 'DELETE FROM replay WHERE expires_at <= $1',
  replayHas: 'SELECT 1 FROM replay WHERE namespace = $1 AND id = $2 AND expires_at > $3',
} as const;

const toRecord = (rows: PayloadRow[]): OidcRecord | undefined => {
  const row = rows[0];
  if (row === undefined) return undefined;
  return toOidcRecord(row.payload, row.consumed_at === null ? null : Number(row.consumed_at));
};

/** Builds the oidc-provider model store over a migrated schema. */
export function createPostgresOidcStore(run: Run, now: () => number): OidcModelStore {
  return {
    async upsert(model, id, payload, expiresAt) {
      const c = indexColumnsOf(payload);
      await run('oidc.upsert', {
        name: 'oidc_upsert',
        text: SQL.upsert,
        values: [model, id, JSON.stringify(payload), c.grantId, c.uid, c.userCode, c.clientId, expiresAt, c.consumedAt],
      });
    },
    async find(model, id) {
      return toRecord((await run<PayloadRow>('oidc.find', { name: 'oidc_find', text: SQL.find, values: [model, id, now()] })).rows);
    },
    async findByUid(model, uid) {
      return toRecord((await run<PayloadRow>('oidc.findByUid', { name: 'oidc_find_uid', text: SQL.findByUid, values: [model, uid, now()] })).rows);
    },
    async findByUserCode(model, userCode) {
      return toRecord(
        (await run<PayloadRow>('oidc.findByUserCode', { name: 'oidc_find_user_code', text: SQL.findByUserCode, values: [model, userCode, now()] })).rows,
      );
    },
    async consume(model, id, at) {
      await run('oidc.consume', { name: 'oidc_consume', text: SQL.consume, values: [at, model, id] });
    },
    async destroy(model, id) {
      await run('oidc.destroy', { name: 'oidc_destroy', text: SQL.destroy, values: [model, id] });
    },
    async revokeByGrantId(grantId) {
      await run('oidc.revokeByGrantId', { name: 'oidc_revoke', text: SQL.revoke, values: [grantId] });
    },
    async grantRecords(grantId) {
      const { rows } = await run<{ model: string; expires_at: string | number | null; iat: string | null }>('oidc.grantRecords', {
        name: 'oidc_grant_records',
        text: SQL.grantRecords,
        values: [grantId, now()],
      });
      return rows.map((r) => ({
        model: r.model,
        expiresAt: r.expires_at === null ? null : Number(r.expires_at),
        issuedAt: r.iat !== null && /^\d+$/.test(r.iat) ? Number(r.iat) : null,
      }));
    },
    async revokeByClientId(clientId) {
      const res = await run('oidc.revokeByClientId', { name: 'oidc_revoke_client', text: SQL.revokeClient, values: [clientId] });
      return res.rowCount ?? 0;
    },
    async deleteExpired(at) {
      const res = await run('oidc.deleteExpired', { name: 'oidc_delete_expired', text: SQL.deleteExpired, values: [at] });
      return res.rowCount ?? 0;
    },
    async listIds(model, limit) {
      const { rows } = await run<{ id: string }>('oidc.listIds', { name: 'oidc_list_ids', text: SQL.listIds, values: [model, now(), checkLimit(limit)] });
      return rows.map((r) => r.id);
    },
  };
}

/** Builds the replay store: one upsert decides "first time" atomically across all workers. */
export function createPostgresReplayStore(run: Run, now: () => number): ReplayStore {
  return {
    // Inserts a new id, or takes over a row whose expiry has passed. ON CONFLICT locks the row,
    // so racing inserts of the same id queue and re-check the WHERE: exactly one gets a row back.
    async remember(namespace, id, expiresAt) {
      const res = await run('replay.remember', { name: 'replay_remember', text: SQL.remember, values: [namespace, id, expiresAt, now()] });
      return res.rowCount === 1;
    },
    async has(namespace, id) {
      const res = await run('replay.has', { name: 'replay_has', text: SQL.replayHas, values: [namespace, id, now()] });
      return (res.rowCount ?? 0) > 0;
    },
    async deleteExpired(at) {
      return (await run('replay.deleteExpired', { name: 'replay_delete_expired', text: SQL.replayDeleteExpired, values: [at] })).rowCount ?? 0;
    },
  };
}
