/**
 * PostgreSQL GatewayStore. APIs and plans are JSONB records beside the columns that are unique or
 * searched; subscriptions are plain rows. Every method is a single statement, hence atomic across
 * workers and hosts.
 */
import { ConflictError } from '../ports.ts';
import type { GatewayStore } from '../ports.ts';
import type { ApiRecord, KeyManagerRecord, PlanRecord, SubscriptionRecord, SubscriptionState } from '../catalogue-records.ts';
import { RESIDENT_KEY_MANAGER } from '../catalogue-records.ts';
import type { Run } from './errors.ts';

// BIGINT columns arrive as strings (pg cannot know they fit a JS number; epoch seconds do).
interface SubscriptionRow {
  id: string;
  key_manager: string;
  client_id: string;
  api_id: string;
  plan: string;
  state: string;
  created_at: string;
  updated_at: string;
}

const SUBSCRIPTION_COLUMNS = 'id, key_manager, client_id, api_id, plan, state, created_at, updated_at';

const toSubscription = (r: SubscriptionRow): SubscriptionRecord => ({
  id: r.id,
  keyManager: r.key_manager,
  clientId: r.client_id,
  apiId: r.api_id,
  plan: r.plan,
  state: r.state as SubscriptionState,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const SQL = {
  apiList: 'SELECT record FROM gateway_apis ORDER BY created_at, id',
  apiGet: 'SELECT record FROM gateway_apis WHERE id = $1',
  documentGet: 'SELECT document FROM gateway_apis WHERE id = $1',
  apiInsert: `INSERT INTO gateway_apis (id, name, context, version, record, document, created_at)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) ON CONFLICT DO NOTHING`,
  apiUpdate: `UPDATE gateway_apis SET name = $2, context = $3, version = $4, record = $5::jsonb, document = coalesce($6, document)
    WHERE id = $1`,
  apiDelete: 'DELETE FROM gateway_apis WHERE id = $1',
  planList: 'SELECT record FROM gateway_plans ORDER BY name',
  planInsert: 'INSERT INTO gateway_plans (name, record) VALUES ($1, $2::jsonb) ON CONFLICT DO NOTHING',
  planUpdate: 'UPDATE gateway_plans SET record = $2::jsonb WHERE name = $1',
  // Deletes only when nothing uses the plan, and reports the uses either way, in one statement.
  planDelete: `WITH apis AS (SELECT coalesce(array_agg(id ORDER BY id), '{}') AS ids FROM gateway_apis WHERE record->'plans' ? $1),
      subs AS (SELECT count(*) AS n FROM gateway_subscriptions WHERE plan = $1),
      gone AS (DELETE FROM gateway_plans WHERE name = $1
        AND NOT EXISTS (SELECT 1 FROM gateway_apis WHERE record->'plans' ? $1)
        AND NOT EXISTS (SELECT 1 FROM gateway_subscriptions WHERE plan = $1) RETURNING 1)
    SELECT apis.ids, subs.n, (SELECT count(*) FROM gone) AS deleted FROM apis, subs`,
  subList: `SELECT ${SUBSCRIPTION_COLUMNS} FROM gateway_subscriptions
    WHERE ($1::text IS NULL OR key_manager = $1) AND ($2::text IS NULL OR client_id = $2) AND ($3::text IS NULL OR api_id = $3)
    ORDER BY created_at, id LIMIT $4`,
  subFind: `SELECT ${SUBSCRIPTION_COLUMNS} FROM gateway_subscriptions WHERE key_manager = $1 AND client_id = $2 AND api_id = $3`,
  subGet: `SELECT ${SUBSCRIPTION_COLUMNS} FROM gateway_subscriptions WHERE id = $1`,
  subInsert: `INSERT INTO gateway_subscriptions (${SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (key_manager, client_id, api_id) DO NOTHING`,
  subUpdate: `UPDATE gateway_subscriptions SET plan = coalesce($2, plan), state = coalesce($3, state), updated_at = $4
    WHERE id = $1`,
  subDelete: 'DELETE FROM gateway_subscriptions WHERE id = $1',
  subDeleteOf: 'DELETE FROM gateway_subscriptions WHERE key_manager = $1 AND client_id = $2',
  kmList: 'SELECT record FROM gateway_key_managers ORDER BY name',
  kmInsert: 'INSERT INTO gateway_key_managers (name, record) VALUES ($1, $2::jsonb) ON CONFLICT DO NOTHING',
  kmUpdate: 'UPDATE gateway_key_managers SET record = $2::jsonb WHERE name = $1',
  // Another key manager saved later under this name must not inherit its applications.
  kmDelete: `WITH subs AS (DELETE FROM gateway_subscriptions WHERE key_manager = $1)
    DELETE FROM gateway_key_managers WHERE name = $1`,
  // An expired record (its whole window over, not merely its lease) is taken over in the same statement.
  idemClaim: `INSERT INTO gateway_idempotency (client_id, key, fingerprint, lease_until, expires_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (client_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, response = NULL,
      lease_until = excluded.lease_until, expires_at = excluded.expires_at
      WHERE gateway_idempotency.expires_at <= $6
    RETURNING 1`,
  idemGet: 'SELECT fingerprint, response, lease_until, expires_at FROM gateway_idempotency WHERE client_id = $1 AND key = $2',
  idemAbandon: 'UPDATE gateway_idempotency SET lease_until = 0 WHERE client_id = $1 AND key = $2 AND response IS NULL',
  idemComplete: 'UPDATE gateway_idempotency SET response = $3, expires_at = $4 WHERE client_id = $1 AND key = $2',
  idemRelease: 'DELETE FROM gateway_idempotency WHERE client_id = $1 AND key = $2 AND response IS NULL',
  idemSweep: 'DELETE FROM gateway_idempotency WHERE expires_at <= $1',
  subAll: `INSERT INTO gateway_subscriptions (${SUBSCRIPTION_COLUMNS})
    SELECT replace(gen_random_uuid()::text, '-', ''), $5, client_id, $1, $2, 'ACTIVE', $3, $3 FROM registrations WHERE roles ?| $4::text[]
    ON CONFLICT (key_manager, client_id, api_id) DO NOTHING`,
} as const;

export function createPostgresGatewayStore(run: Run): GatewayStore {
  const clash = (api: ApiRecord) => new ConflictError(`an API named "${api.name}" with version "${api.version}" already exists`);
  const nameTaken = async (api: ApiRecord): Promise<boolean> => {
    const { rowCount } = await run('gateway.apiClash', {
      name: 'gateway_api_clash',
      values: [api.name, api.version, api.id],
      text: 'SELECT 1 FROM gateway_apis WHERE name = $1 AND version = $2 AND id <> $3',
    });
    return (rowCount ?? 0) > 0;
  };
  const subscription = async (op: string, text: string, values: unknown[]) => {
    const { rows } = await run<SubscriptionRow>(op, { text, values });
    return rows[0] === undefined ? undefined : toSubscription(rows[0]);
  };

  return {
    async listApis() {
      const { rows } = await run<{ record: ApiRecord }>('gateway.listApis', { name: 'gateway_api_list', text: SQL.apiList });
      return rows.map((r) => r.record);
    },
    async getApi(id) {
      const { rows } = await run<{ record: ApiRecord }>('gateway.getApi', { name: 'gateway_api_get', text: SQL.apiGet, values: [id] });
      return rows[0]?.record;
    },
    async getDocument(id) {
      const { rows } = await run<{ document: string }>('gateway.getDocument', { name: 'gateway_document_get', text: SQL.documentGet, values: [id] });
      return rows[0]?.document;
    },
    async createApi(api, document) {
      const res = await run('gateway.createApi', {
        name: 'gateway_api_insert',
        text: SQL.apiInsert,
        values: [api.id, api.name, api.context, api.version, JSON.stringify(api), document, api.createdAt],
      });
      if (res.rowCount === 0) throw (await nameTaken(api)) ? clash(api) : new ConflictError(`an API with id "${api.id}" already exists`);
    },
    async updateApi(api, document) {
      try {
        const res = await run('gateway.updateApi', {
          name: 'gateway_api_update',
          text: SQL.apiUpdate,
          values: [api.id, api.name, api.context, api.version, JSON.stringify(api), document ?? null],
        });
        return (res.rowCount ?? 0) > 0;
      } catch (err) {
        // The unique (name, version) index refused the change.
        if (err instanceof ConflictError) throw clash(api);
        throw err;
      }
    },
    async deleteApi(id) {
      const res = await run('gateway.deleteApi', { name: 'gateway_api_delete', text: SQL.apiDelete, values: [id] });
      return (res.rowCount ?? 0) > 0;
    },
    async listPlans() {
      const { rows } = await run<{ record: PlanRecord }>('gateway.listPlans', { name: 'gateway_plan_list', text: SQL.planList });
      return rows.map((r) => r.record);
    },
    async ensurePlans(plans) {
      let added = 0;
      for (const p of plans) {
        const res = await run('gateway.ensurePlans', { name: 'gateway_plan_insert', text: SQL.planInsert, values: [p.name, JSON.stringify(p)] });
        added += res.rowCount ?? 0;
      }
      return added;
    },
    async createPlan(plan) {
      const res = await run('gateway.createPlan', { name: 'gateway_plan_insert', text: SQL.planInsert, values: [plan.name, JSON.stringify(plan)] });
      if (res.rowCount === 0) throw new ConflictError(`a plan named "${plan.name}" already exists`);
    },
    async updatePlan(plan) {
      const res = await run('gateway.updatePlan', { name: 'gateway_plan_update', text: SQL.planUpdate, values: [plan.name, JSON.stringify(plan)] });
      return (res.rowCount ?? 0) > 0;
    },
    async deletePlan(name) {
      const { rows } = await run<{ ids: string[]; n: string; deleted: string }>('gateway.deletePlan', {
        name: 'gateway_plan_delete',
        text: SQL.planDelete,
        values: [name],
      });
      const row = rows[0]!;
      if (Number(row.deleted) > 0) return 'deleted';
      if (row.ids.length > 0 || Number(row.n) > 0) return { apis: row.ids, subscriptions: Number(row.n) };
      return 'absent';
    },
    async listSubscriptions({ keyManager, clientId, apiId, limit }) {
      const { rows } = await run<SubscriptionRow>('gateway.listSubscriptions', {
        name: 'gateway_sub_list',
        text: SQL.subList,
        values: [keyManager ?? null, clientId ?? null, apiId ?? null, limit],
      });
      return rows.map(toSubscription);
    },
    findSubscription: (keyManager, clientId, apiId) => subscription('gateway.findSubscription', SQL.subFind, [keyManager, clientId, apiId]),
    getSubscription: (id) => subscription('gateway.getSubscription', SQL.subGet, [id]),
    async addSubscription(s) {
      const res = await run('gateway.addSubscription', {
        name: 'gateway_sub_insert',
        text: SQL.subInsert,
        values: [s.id, s.keyManager, s.clientId, s.apiId, s.plan, s.state, s.createdAt, s.updatedAt],
      });
      return (res.rowCount ?? 0) > 0 ? 'added' : 'exists';
    },
    async subscribeAll(apiId, plan, roles, now) {
      const res = await run('gateway.subscribeAll', { name: 'gateway_sub_all', text: SQL.subAll, values: [apiId, plan, now, roles, RESIDENT_KEY_MANAGER] });
      return res.rowCount ?? 0;
    },
    async claimIdempotency(clientId, key, fingerprint, leaseUntil, expiresAt, now) {
      // Claim, else read the holder (a later statement sees its commit); a holder that let go in
      // between leaves nothing to read, so claim again (bounded: each round someone made progress).
      for (let round = 0; round < 3; round++) {
        const claim = await run('gateway.claimIdempotency', {
          name: 'gateway_idem_claim',
          text: SQL.idemClaim,
          values: [clientId, key, fingerprint, leaseUntil, expiresAt, now],
        });
        if ((claim.rowCount ?? 0) > 0) return 'claimed';
        const { rows } = await run<{ fingerprint: string; response: string | null; lease_until: string; expires_at: string }>('gateway.claimIdempotency', {
          name: 'gateway_idem_get',
          text: SQL.idemGet,
          values: [clientId, key],
        });
        if (rows[0])
          return {
            fingerprint: rows[0].fingerprint,
            response: rows[0].response,
            expiresAt: Number(rows[0].expires_at),
            leaseUntil: Number(rows[0].lease_until),
          };
      }
      throw new Error('storage: gateway.claimIdempotency: the key kept changing hands');
    },
    async completeIdempotency(clientId, key, response, expiresAt) {
      await run('gateway.completeIdempotency', { name: 'gateway_idem_complete', text: SQL.idemComplete, values: [clientId, key, response, expiresAt] });
    },
    async releaseIdempotency(clientId, key) {
      await run('gateway.releaseIdempotency', { name: 'gateway_idem_release', text: SQL.idemRelease, values: [clientId, key] });
    },
    async abandonIdempotency(clientId, key) {
      await run('gateway.abandonIdempotency', { name: 'gateway_idem_abandon', text: SQL.idemAbandon, values: [clientId, key] });
    },
    async deleteExpiredIdempotency(now) {
      const res = await run('gateway.deleteExpiredIdempotency', { name: 'gateway_idem_sweep', text: SQL.idemSweep, values: [now] });
      return res.rowCount ?? 0;
    },
    async updateSubscription(id, change) {
      const res = await run('gateway.updateSubscription', {
        name: 'gateway_sub_update',
        text: SQL.subUpdate,
        values: [id, change.plan ?? null, change.state ?? null, change.updatedAt],
      });
      return (res.rowCount ?? 0) > 0;
    },
    async deleteSubscriptionsOf(clientId) {
      const res = await run('gateway.deleteSubscriptionsOf', {
        name: 'gateway_sub_delete_of',
        text: SQL.subDeleteOf,
        values: [RESIDENT_KEY_MANAGER, clientId],
      });
      return res.rowCount ?? 0;
    },
    async listKeyManagers() {
      const { rows } = await run<{ record: KeyManagerRecord }>('gateway.listKeyManagers', { name: 'gateway_km_list', text: SQL.kmList });
      return rows.map((r) => r.record);
    },
    async ensureKeyManagers(kms) {
      let added = 0;
      for (const k of kms) {
        const res = await run('gateway.ensureKeyManagers', { name: 'gateway_km_insert', text: SQL.kmInsert, values: [k.name, JSON.stringify(k)] });
        added += res.rowCount ?? 0;
      }
      return added;
    },
    async createKeyManager(km) {
      const res = await run('gateway.createKeyManager', { name: 'gateway_km_insert', text: SQL.kmInsert, values: [km.name, JSON.stringify(km)] });
      if (res.rowCount === 0) throw new ConflictError(`a key manager named "${km.name}" already exists`);
    },
    async updateKeyManager(km) {
      const res = await run('gateway.updateKeyManager', { name: 'gateway_km_update', text: SQL.kmUpdate, values: [km.name, JSON.stringify(km)] });
      return (res.rowCount ?? 0) > 0;
    },
    async deleteKeyManager(name) {
      const res = await run('gateway.deleteKeyManager', { name: 'gateway_km_delete', text: SQL.kmDelete, values: [name] });
      return (res.rowCount ?? 0) > 0;
    },
    async deleteSubscription(id) {
      const res = await run('gateway.deleteSubscription', { name: 'gateway_sub_delete', text: SQL.subDelete, values: [id] });
      return (res.rowCount ?? 0) > 0;
    },
  };
}
