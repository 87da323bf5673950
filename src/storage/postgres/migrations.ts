/**
 * Versioned PostgreSQL schema. Append new migrations; never edit an applied one. Workers starting
 * together serialize on an advisory lock, and each migration commits with its version row.
 */
import { escapeIdentifier } from 'pg';
import type { PoolClient } from 'pg';

/** One schema step; `version` orders them and is recorded in schema_migrations. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, in version order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'oidc models and replay',
    sql: `
      CREATE TABLE oidc_models (
        model       TEXT   NOT NULL,
        id          TEXT   NOT NULL,
        payload     JSONB  NOT NULL,
        grant_id    TEXT,
        uid         TEXT,
        user_code   TEXT,
        expires_at  BIGINT,
        consumed_at BIGINT,
        PRIMARY KEY (model, id)
      );
      CREATE INDEX oidc_models_grant_id ON oidc_models (grant_id);
      CREATE INDEX oidc_models_uid ON oidc_models (model, uid);
      CREATE INDEX oidc_models_user_code ON oidc_models (model, user_code);
      CREATE INDEX oidc_models_expires_at ON oidc_models (expires_at);

      CREATE TABLE replay (
        namespace  TEXT   NOT NULL,
        id         TEXT   NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, id)
      );
      CREATE INDEX replay_expires_at ON replay (expires_at);
    `,
  },
  {
    version: 2,
    name: 'signing keys, scopes and meta',
    sql: `
      CREATE TABLE signing_keys (
        kid          TEXT   NOT NULL PRIMARY KEY,
        alg          TEXT   NOT NULL,
        private_jwk  TEXT   NOT NULL,
        created_at   BIGINT NOT NULL,
        retired_at   BIGINT,
        remove_after BIGINT
      );
      CREATE INDEX signing_keys_alg ON signing_keys (alg);

      CREATE TABLE scopes (
        name         TEXT  NOT NULL PRIMARY KEY,
        display_name TEXT  NOT NULL,
        description  TEXT  NOT NULL,
        bindings     JSONB NOT NULL
      );

      CREATE TABLE meta (
        name  TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'registrations, audit events and oidc client_id',
    sql: `
      CREATE TABLE registrations (
        client_id          TEXT   NOT NULL PRIMARY KEY,
        software_id        TEXT   NOT NULL,
        org_id             TEXT   NOT NULL,
        environment        TEXT   NOT NULL,
        roles              JSONB  NOT NULL,
        version            TEXT   NOT NULL,
        software_statement TEXT   NOT NULL,
        created_at         BIGINT NOT NULL,
        updated_at         BIGINT NOT NULL
      );
      CREATE INDEX registrations_software_id ON registrations (software_id, created_at);

      CREATE TABLE audit_events (
        id          BIGSERIAL PRIMARY KEY,
        at          BIGINT NOT NULL,
        event       TEXT   NOT NULL CHECK (event IN ('created', 'updated', 'deleted', 'rejected')),
        software_id TEXT,
        org_id      TEXT,
        client_id   TEXT,
        reason      TEXT,
        version     TEXT,
        method      TEXT
      );
      CREATE INDEX audit_events_client_id ON audit_events (client_id, at);
      CREATE INDEX audit_events_software_id ON audit_events (software_id, at);
      CREATE INDEX audit_events_at ON audit_events (at);

      -- Same rule as indexColumnsOf: only a non-empty string clientId is lifted out.
      ALTER TABLE oidc_models ADD COLUMN client_id TEXT;
      UPDATE oidc_models SET client_id = payload->>'clientId'
        WHERE jsonb_typeof(payload->'clientId') = 'string' AND payload->>'clientId' <> '';
      CREATE INDEX oidc_models_client_id ON oidc_models (client_id);
    `,
  },
  {
    version: 4,
    name: 'audit event codes',
    // The stable error code of a rejection (src/errors/codes.ts); rows written before stay NULL
    // and keep their reason text.
    sql: `
      ALTER TABLE audit_events ADD COLUMN code TEXT;
      CREATE INDEX audit_events_event_code ON audit_events (event, code, at);
    `,
  },
  {
    version: 5,
    name: 'trust anchors',
    // CA certificates trusted for client certificates, shared by every host on this database.
    sql: `
      CREATE TABLE trust_anchors (
        name        TEXT    NOT NULL PRIMARY KEY,
        fingerprint TEXT    NOT NULL UNIQUE,
        pem         TEXT    NOT NULL,
        added_at    BIGINT  NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'gateway catalogue',
    // APIs (record = ApiRecord JSON; the imported document beside it; name + version unique, as in
    // WSO2; several APIs may share a context, e.g. OB PISP and VRP), business plans, subscriptions
    // (of a DCR client or of an external key manager's client: no foreign key to registrations;
    // DCR deletes a registration's subscriptions in its unit of work; an API's go with it),
    // idempotency keys and key managers.
    sql: `
      CREATE TABLE gateway_apis (
        id         TEXT    NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL,
        context    TEXT    NOT NULL,
        version    TEXT    NOT NULL,
        record     JSONB   NOT NULL,
        document   TEXT    NOT NULL,
        created_at BIGINT  NOT NULL,
        UNIQUE (name, version)
      );
      CREATE INDEX gateway_apis_context ON gateway_apis (context);
      CREATE TABLE gateway_plans (
        name   TEXT  NOT NULL PRIMARY KEY,
        record JSONB NOT NULL
      );
      CREATE TABLE gateway_subscriptions (
        id         TEXT    NOT NULL PRIMARY KEY,
        client_id  TEXT    NOT NULL,
        api_id     TEXT    NOT NULL REFERENCES gateway_apis (id) ON DELETE CASCADE,
        plan       TEXT    NOT NULL REFERENCES gateway_plans (name),
        state      TEXT    NOT NULL CHECK (state IN ('ACTIVE', 'BLOCKED')),
        created_at BIGINT  NOT NULL,
        updated_at BIGINT  NOT NULL,
        UNIQUE (client_id, api_id)
      );
      CREATE INDEX gateway_subscriptions_api_id ON gateway_subscriptions (api_id);
      CREATE INDEX gateway_subscriptions_plan ON gateway_subscriptions (plan);
      CREATE INDEX gateway_subscriptions_client_id ON gateway_subscriptions (client_id);
      CREATE TABLE gateway_key_managers (
        name   TEXT NOT NULL PRIMARY KEY,
        record JSONB NOT NULL
      );
      -- x-idempotency-key: the first response of a call, replayed to its repeats for 24 hours.
      CREATE TABLE gateway_idempotency (
        client_id   TEXT    NOT NULL,
        key         TEXT    NOT NULL,
        fingerprint TEXT    NOT NULL,
        response    TEXT,
        expires_at  BIGINT  NOT NULL,
        PRIMARY KEY (client_id, key)
      );
      CREATE INDEX gateway_idempotency_expires_at ON gateway_idempotency (expires_at);
    `,
  },
  {
    version: 7,
    name: 'usage counts, registration certificate subject',
    // What the console charts (tokens by grant, gateway calls and 429s by API) per minute, and
    // all-time totals (bucket 0: tokens issued per client). Hosts add their counts; nothing is replaced.
    // A registration keeps the subject of the transport certificate it was made over.
    sql: `
      CREATE TABLE usage_counts (
        kind   TEXT   NOT NULL,
        bucket BIGINT NOT NULL,
        key    TEXT   NOT NULL,
        count  BIGINT NOT NULL,
        PRIMARY KEY (kind, bucket, key)
      );
      ALTER TABLE registrations ADD COLUMN certificate_subject TEXT;
    `,
  },
  {
    version: 8,
    name: 'subscriptions per key manager',
    // An application is a key manager and a client id together: the same client_id string at two
    // key managers is two applications. Every row so far is a DCR registration's or an
    // administrator's, which named no key manager: they become the resident key manager's (a
    // subscription made by hand for an external key manager's client is made again naming it).
    // The default only fills those rows; every insert names its key manager.
    sql: `
      ALTER TABLE gateway_subscriptions ADD COLUMN key_manager TEXT NOT NULL DEFAULT 'Resident Key Manager';
      ALTER TABLE gateway_subscriptions ALTER COLUMN key_manager DROP DEFAULT;
      ALTER TABLE gateway_subscriptions DROP CONSTRAINT gateway_subscriptions_client_id_api_id_key;
      ALTER TABLE gateway_subscriptions ADD CONSTRAINT gateway_subscriptions_application_api_key UNIQUE (key_manager, client_id, api_id);
    `,
  },
  {
    version: 9,
    name: 'idempotency leases apart from the key window',
    // A key is kept for its whole window from the first call; the lease (while the call may still
    // be running) is its own column, so a lease that ran out is never taken over (run again).
    // Keys held before: their expiry was the lease; they keep it as the lease and get a window.
    sql: `
      ALTER TABLE gateway_idempotency ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
      UPDATE gateway_idempotency SET lease_until = expires_at, expires_at = expires_at + 86400 WHERE response IS NULL;
    `,
  },
  {
    version: 10,
    name: 'consents and their history',
    // Open Banking consents (src/storage/consent-records.ts): data and risk are the TPP's JSON as
    // sent, kept as text (JSONB would refuse a \u0000 or a lone surrogate a TPP may send, and
    // reorder its keys), accounts a JSONB array; times in epoch milliseconds. A deleted consent
    // stays (deleted_at) for its history. version is bumped by every change, which names the
    // version it read. An event's seq is the version its change produced (1: the creation), so a
    // consent has exactly one event per version. Listings are newest first per client, PSU or
    // status, paged by (created_at, id).
    sql: `
      CREATE TABLE consents (
        id                TEXT    NOT NULL PRIMARY KEY,
        kind              TEXT    NOT NULL,
        api_version       TEXT    NOT NULL,
        key_manager       TEXT    NOT NULL,
        client_id         TEXT    NOT NULL,
        status            TEXT    NOT NULL CHECK (status IN ('AWAU', 'AUTH', 'RJCT', 'CANC', 'EXPD', 'COND')),
        data              TEXT    NOT NULL,
        risk              TEXT,
        psu               TEXT,
        accounts          JSONB   NOT NULL,
        grant_id          TEXT,
        created_at        BIGINT  NOT NULL,
        status_updated_at BIGINT  NOT NULL,
        expires_at        BIGINT,
        deleted_at        BIGINT,
        version           INTEGER NOT NULL
      );
      CREATE INDEX consents_client_id ON consents (client_id, created_at, id);
      CREATE INDEX consents_psu ON consents (psu, created_at, id);
      CREATE INDEX consents_status ON consents (status, created_at, id);
      CREATE INDEX consents_created_at ON consents (created_at, id);
      CREATE TABLE consent_events (
        consent_id  TEXT    NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        at          BIGINT  NOT NULL,
        from_status TEXT    CHECK (from_status IN ('AWAU', 'AUTH', 'RJCT', 'CANC', 'EXPD', 'COND')),
        to_status   TEXT    NOT NULL CHECK (to_status IN ('AWAU', 'AUTH', 'RJCT', 'CANC', 'EXPD', 'COND')),
        actor       TEXT    NOT NULL,
        actor_id    TEXT,
        reason      TEXT,
        PRIMARY KEY (consent_id, seq)
      );
    `,
  },
  {
    version: 11,
    name: 'the VRP payment ledger',
    // The payments counted against a VRP consent's periodic limits: amounts as decimal integers of
    // 10^-5 (text: no float ever touches money), times in epoch milliseconds. A payment is counted
    // in the same unit of work that checked the limits, with the consent's row locked, so two
    // payments of one consent never both fit where only one does.
    sql: `
      CREATE TABLE consent_vrp_payments (
        consent_id TEXT    NOT NULL REFERENCES consents (id) ON DELETE CASCADE,
        payment_id TEXT    NOT NULL,
        units      TEXT    NOT NULL,
        currency   TEXT    NOT NULL,
        at         BIGINT NOT NULL,
        PRIMARY KEY (consent_id, payment_id)
      );
      CREATE INDEX consent_vrp_payments_at ON consent_vrp_payments (consent_id, at);
    `,
  },
  {
    version: 12,
    name: 'event notices for TPPs, the API a consent came through, history by time',
    // A TPP learns that a PSU or the bank revoked its consent from an event notice, written in the
    // same transaction as the revocation and kept until the TPP acknowledges it (aggregated
    // polling, docs/events.md). The consent keeps the context of the API it was created through,
    // so the notice links to it; history rows are counted by time for the dashboard's figures.
    sql: `
      ALTER TABLE consents ADD COLUMN api_context TEXT;
      CREATE INDEX consent_events_at ON consent_events (at);
      CREATE TABLE event_notices (
        jti         TEXT    NOT NULL PRIMARY KEY,
        key_manager TEXT    NOT NULL,
        client_id   TEXT    NOT NULL,
        type        TEXT    NOT NULL,
        consent_id  TEXT    NOT NULL,
        at          BIGINT  NOT NULL,
        body        TEXT    NOT NULL
      );
      CREATE INDEX event_notices_client ON event_notices (key_manager, client_id, at, jti);
    `,
  },
];

// One fixed key for the whole database: migrations of different schemas merely queue, which is
// harmless, and the key never collides with a per-schema hash we would have to keep stable.
const MIGRATION_LOCK_KEY = 7_305_221_004_117;

/**
 * Applies pending migrations in version order on `client` (which the caller releases); returns
 * how many this call applied. Creates `schema` first when given, so the search_path set on the
 * pool's connections resolves.
 */
export async function migrate(client: PoolClient, schema: string | undefined, now: number): Promise<number> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    if (schema !== undefined) {
      // Look first: CREATE SCHEMA needs the CREATE privilege even when the schema already exists.
      const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (found.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(schema)}`);
    }
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER NOT NULL PRIMARY KEY,
      name       TEXT    NOT NULL,
      applied_at BIGINT  NOT NULL
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => r.version));
    let applied = 0;
    for (const m of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      applied += 1;
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
  }
}
