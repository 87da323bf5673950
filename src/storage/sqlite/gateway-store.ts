/**
 * SQLite GatewayStore. APIs and plans are JSON records beside the columns that are unique or
 * searched; subscriptions are plain rows. Every method is one statement or one write-queue thunk,
 * so each is atomic across workers.
 */
import type { DatabaseSync } from 'node:sqlite';
import { ConflictError } from '../ports.ts';
import type { GatewayStore } from '../ports.ts';
import type { ApiRecord, KeyManagerRecord, PlanRecord, SubscriptionRecord, SubscriptionState } from '../catalogue-records.ts';
import { RESIDENT_KEY_MANAGER } from '../catalogue-records.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';
import { rowsOf } from '../../sqlite/rows.ts';

interface SubscriptionRow {
  id: string;
  key_manager: string;
  client_id: string;
  api_id: string;
  plan: string;
  state: string;
  created_at: number;
  updated_at: number;
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

const recordOf = <T>(row: unknown): T => JSON.parse((row as { record: string }).record) as T;

export function createSqliteGatewayStore(db: DatabaseSync, write: Write = guard): GatewayStore {
  const apiList = db.prepare('SELECT record FROM gateway_apis ORDER BY created_at, id');
  const apiGet = db.prepare('SELECT record FROM gateway_apis WHERE id = ?');
  const documentGet = db.prepare('SELECT document FROM gateway_apis WHERE id = ?');
  const apiClash = db.prepare('SELECT id FROM gateway_apis WHERE name = ? AND version = ? AND id <> ?');
  const apiInsert = db.prepare(`INSERT INTO gateway_apis (id, name, context, version, record, document, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
  const apiUpdate = db.prepare('UPDATE gateway_apis SET name = ?, context = ?, version = ?, record = ? WHERE id = ?');
  const apiUpdateWithDocument = db.prepare('UPDATE gateway_apis SET name = ?, context = ?, version = ?, record = ?, document = ? WHERE id = ?');
  const apiDelete = db.prepare('DELETE FROM gateway_apis WHERE id = ?');
  const planList = db.prepare('SELECT record FROM gateway_plans ORDER BY name');
  const planInsert = db.prepare('INSERT INTO gateway_plans (name, record) VALUES (?, ?) ON CONFLICT DO NOTHING');
  const planUpdate = db.prepare('UPDATE gateway_plans SET record = ? WHERE name = ?');
  const planDelete = db.prepare('DELETE FROM gateway_plans WHERE name = ?');
  const planApis = db.prepare(`SELECT DISTINCT a.id FROM gateway_apis a, json_each(a.record, '$.plans') p
    WHERE p.value = ? ORDER BY a.id`);
  const planSubscriptions = db.prepare('SELECT count(*) AS n FROM gateway_subscriptions WHERE plan = ?');
  const subList = rowsOf<SubscriptionRow>(
    db.prepare(`SELECT ${SUBSCRIPTION_COLUMNS} FROM gateway_subscriptions
    WHERE (?1 IS NULL OR key_manager = ?1) AND (?2 IS NULL OR client_id = ?2) AND (?3 IS NULL OR api_id = ?3)
    ORDER BY created_at, id LIMIT ?4`),
  );
  const subFind = rowsOf<SubscriptionRow>(
    db.prepare(`SELECT ${SUBSCRIPTION_COLUMNS} FROM gateway_subscriptions WHERE key_manager = ? AND client_id = ? AND api_id = ?`),
  );
  const subGet = rowsOf<SubscriptionRow>(db.prepare(`SELECT ${SUBSCRIPTION_COLUMNS} FROM gateway_subscriptions WHERE id = ?`));
  const subInsert = db.prepare(`INSERT INTO gateway_subscriptions (${SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (key_manager, client_id, api_id) DO NOTHING`);
  const subUpdate = db.prepare(`UPDATE gateway_subscriptions SET plan = coalesce(?, plan), state = coalesce(?, state), updated_at = ?
    WHERE id = ?`);
  const subDelete = db.prepare('DELETE FROM gateway_subscriptions WHERE id = ?');
  const subDeleteOf = db.prepare('DELETE FROM gateway_subscriptions WHERE key_manager = ? AND client_id = ?');
  const subDeleteOfKeyManager = db.prepare('DELETE FROM gateway_subscriptions WHERE key_manager = ?');
  const kmList = db.prepare('SELECT record FROM gateway_key_managers ORDER BY name');
  const kmInsert = db.prepare('INSERT INTO gateway_key_managers (name, record) VALUES (?, ?) ON CONFLICT DO NOTHING');
  const kmUpdate = db.prepare('UPDATE gateway_key_managers SET record = ? WHERE name = ?');
  const kmDelete = db.prepare('DELETE FROM gateway_key_managers WHERE name = ?');
  const subAll = db.prepare(`INSERT INTO gateway_subscriptions (${SUBSCRIPTION_COLUMNS})
    SELECT lower(hex(randomblob(16))), ?5, r.client_id, ?1, ?2, 'ACTIVE', ?3, ?3 FROM registrations r
    WHERE EXISTS (SELECT 1 FROM json_each(r.roles) j, json_each(?4) w WHERE j.value = w.value)
    ON CONFLICT (key_manager, client_id, api_id) DO NOTHING`);

  const idemDeleteExpired = db.prepare('DELETE FROM gateway_idempotency WHERE client_id = ? AND key = ? AND expires_at <= ?');
  const idemInsert = db.prepare(
    'INSERT INTO gateway_idempotency (client_id, key, fingerprint, lease_until, expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const idemGet = db.prepare('SELECT fingerprint, response, lease_until, expires_at FROM gateway_idempotency WHERE client_id = ? AND key = ?');
  const idemAbandon = db.prepare('UPDATE gateway_idempotency SET lease_until = 0 WHERE client_id = ? AND key = ? AND response IS NULL');
  const idemComplete = db.prepare('UPDATE gateway_idempotency SET response = ?, expires_at = ? WHERE client_id = ? AND key = ?');
  const idemRelease = db.prepare('DELETE FROM gateway_idempotency WHERE client_id = ? AND key = ? AND response IS NULL');
  const idemSweep = db.prepare('DELETE FROM gateway_idempotency WHERE expires_at <= ?');

  const checkClash = (api: ApiRecord): void => {
    if (apiClash.get(api.name, api.version, api.id) !== undefined) {
      throw new ConflictError(`an API named "${api.name}" with version "${api.version}" already exists`);
    }
  };

  return {
    listApis: () => guard('gateway.listApis', () => apiList.all().map((r) => recordOf<ApiRecord>(r))),
    getApi: (id) =>
      guard('gateway.getApi', () => {
        const row = apiGet.get(id);
        return row === undefined ? undefined : recordOf<ApiRecord>(row);
      }),
    getDocument: (id) => guard('gateway.getDocument', () => (documentGet.get(id) as { document: string } | undefined)?.document),
    createApi: (api, document) =>
      write('gateway.createApi', () => {
        checkClash(api);
        if (Number(apiInsert.run(api.id, api.name, api.context, api.version, JSON.stringify(api), document, api.createdAt).changes) === 0) {
          throw new ConflictError(`an API with id "${api.id}" already exists`);
        }
      }),
    updateApi: (api, document) =>
      write('gateway.updateApi', () => {
        checkClash(api);
        const res =
          document === undefined
            ? apiUpdate.run(api.name, api.context, api.version, JSON.stringify(api), api.id)
            : apiUpdateWithDocument.run(api.name, api.context, api.version, JSON.stringify(api), document, api.id);
        return Number(res.changes) > 0;
      }),
    deleteApi: (id) => write('gateway.deleteApi', () => Number(apiDelete.run(id).changes) > 0),
    listPlans: () => guard('gateway.listPlans', () => planList.all().map((r) => recordOf<PlanRecord>(r))),
    ensurePlans: (plans) =>
      write('gateway.ensurePlans', () => plans.reduce((added, p) => added + Number(planInsert.run(p.name, JSON.stringify(p)).changes), 0)),
    createPlan: (plan) =>
      write('gateway.createPlan', () => {
        if (Number(planInsert.run(plan.name, JSON.stringify(plan)).changes) === 0) throw new ConflictError(`a plan named "${plan.name}" already exists`);
      }),
    updatePlan: (plan) => write('gateway.updatePlan', () => Number(planUpdate.run(JSON.stringify(plan), plan.name).changes) > 0),
    deletePlan: (name) =>
      write('gateway.deletePlan', () => {
        const apis = planApis.all(name).map((r) => (r as { id: string }).id);
        const subscriptions = Number((planSubscriptions.get(name) as { n: number }).n);
        if (apis.length > 0 || subscriptions > 0) return { apis, subscriptions };
        return Number(planDelete.run(name).changes) > 0 ? ('deleted' as const) : ('absent' as const);
      }),
    listSubscriptions: ({ keyManager, clientId, apiId, limit }) =>
      guard('gateway.listSubscriptions', () => subList.all(keyManager ?? null, clientId ?? null, apiId ?? null, limit).map(toSubscription)),
    findSubscription: (keyManager, clientId, apiId) =>
      guard('gateway.findSubscription', () => {
        const row = subFind.get(keyManager, clientId, apiId);
        return row === undefined ? undefined : toSubscription(row);
      }),
    getSubscription: (id) =>
      guard('gateway.getSubscription', () => {
        const row = subGet.get(id);
        return row === undefined ? undefined : toSubscription(row);
      }),
    addSubscription: (s) =>
      write('gateway.addSubscription', () =>
        Number(subInsert.run(s.id, s.keyManager, s.clientId, s.apiId, s.plan, s.state, s.createdAt, s.updatedAt).changes) > 0
          ? ('added' as const)
          : ('exists' as const),
      ),
    subscribeAll: (apiId, plan, roles, now) =>
      write('gateway.subscribeAll', () => Number(subAll.run(apiId, plan, now, JSON.stringify(roles), RESIDENT_KEY_MANAGER).changes)),
    claimIdempotency: (clientId, key, fingerprint, leaseUntil, expiresAt, now) =>
      write('gateway.claimIdempotency', () => {
        idemDeleteExpired.run(clientId, key, now);
        if (Number(idemInsert.run(clientId, key, fingerprint, leaseUntil, expiresAt).changes) > 0) return 'claimed' as const;
        const row = idemGet.get(clientId, key) as { fingerprint: string; response: string | null; lease_until: number; expires_at: number };
        return { fingerprint: row.fingerprint, response: row.response, expiresAt: Number(row.expires_at), leaseUntil: Number(row.lease_until) };
      }),
    completeIdempotency: (clientId, key, response, expiresAt) =>
      write('gateway.completeIdempotency', () => {
        idemComplete.run(response, expiresAt, clientId, key);
      }),
    releaseIdempotency: (clientId, key) =>
      write('gateway.releaseIdempotency', () => {
        idemRelease.run(clientId, key);
      }),
    abandonIdempotency: (clientId, key) =>
      write('gateway.abandonIdempotency', () => {
        idemAbandon.run(clientId, key);
      }),
    deleteExpiredIdempotency: (now) => write('gateway.deleteExpiredIdempotency', () => Number(idemSweep.run(now).changes)),
    updateSubscription: (id, change) =>
      write('gateway.updateSubscription', () => Number(subUpdate.run(change.plan ?? null, change.state ?? null, change.updatedAt, id).changes) > 0),
    deleteSubscription: (id) => write('gateway.deleteSubscription', () => Number(subDelete.run(id).changes) > 0),
    deleteSubscriptionsOf: (clientId) => write('gateway.deleteSubscriptionsOf', () => Number(subDeleteOf.run(RESIDENT_KEY_MANAGER, clientId).changes)),
    listKeyManagers: () => guard('gateway.listKeyManagers', () => kmList.all().map((r) => recordOf<KeyManagerRecord>(r))),
    ensureKeyManagers: (kms) =>
      write('gateway.ensureKeyManagers', () => kms.reduce((added, k) => added + Number(kmInsert.run(k.name, JSON.stringify(k)).changes), 0)),
    createKeyManager: (km) =>
      write('gateway.createKeyManager', () => {
        if (Number(kmInsert.run(km.name, JSON.stringify(km)).changes) === 0) throw new ConflictError(`a key manager named "${km.name}" already exists`);
      }),
    updateKeyManager: (km) => write('gateway.updateKeyManager', () => Number(kmUpdate.run(JSON.stringify(km), km.name).changes) > 0),
    deleteKeyManager: (name) =>
      write('gateway.deleteKeyManager', () => {
        const gone = Number(kmDelete.run(name).changes) > 0;
        // Another key manager saved later under this name must not inherit these applications.
        subDeleteOfKeyManager.run(name);
        return gone;
      }),
  };
}
