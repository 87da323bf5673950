/** PostgreSQL KeyStore, ScopeStore and MetaStore: single statements, atomic across workers. */
import { ConflictError } from '../ports.ts';
import type { KeyStore, MetaStore, ScopeRecord, ScopeStore, SigningKeyRecord, TrustAnchorStore } from '../ports.ts';
import type { Run } from './errors.ts';

// BIGINT columns arrive as strings (pg cannot know they fit a JS number; epoch seconds do).
interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  created_at: string;
  retired_at: string | null;
  remove_after: string | null;
}
interface ScopeRow {
  name: string;
  display_name: string;
  description: string;
  bindings: string[];
}

const num = (v: string | null): number | null => (v === null ? null : Number(v));

const toKey = (r: KeyRow): SigningKeyRecord => ({
  kid: r.kid,
  alg: r.alg,
  privateJwk: JSON.parse(r.private_jwk) as Record<string, unknown>,
  createdAt: Number(r.created_at),
  retiredAt: num(r.retired_at),
  removeAfter: num(r.remove_after),
});

const toScope = (r: ScopeRow): ScopeRecord => ({
  name: r.name,
  displayName: r.display_name,
  description: r.description,
  bindings: r.bindings,
});

/** Signing keys, newest first; kid breaks ties so the order is stable. */
export function createPostgresKeyStore(run: Run): KeyStore {
  return {
    async list(now) {
      const { rows } = await run<KeyRow>('keys.list', {
        name: 'keys_list',
        values: [now],
        text: `SELECT kid, alg, private_jwk, created_at, retired_at, remove_after FROM signing_keys
          WHERE remove_after IS NULL OR remove_after > $1 ORDER BY created_at DESC, kid DESC`,
      });
      return rows.map(toKey);
    },
    async add(k) {
      const res = await run('keys.add', {
        name: 'keys_add',
        text: `INSERT INTO signing_keys (kid, alg, private_jwk, created_at, retired_at, remove_after)
          VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING`,
        values: [k.kid, k.alg, JSON.stringify(k.privateJwk), k.createdAt, k.retiredAt, k.removeAfter],
      });
      if (res.rowCount === 0) throw new ConflictError(`signing key "${k.kid}" already exists`);
    },
    async retireOthers(alg, keepKid, retiredAt, removeAfter) {
      const res = await run('keys.retireOthers', {
        name: 'keys_retire_others',
        text: `UPDATE signing_keys SET retired_at = $1, remove_after = $2 WHERE alg = $3 AND kid <> $4 AND retired_at IS NULL`,
        values: [retiredAt, removeAfter, alg, keepKid],
      });
      return res.rowCount ?? 0;
    },
  };
}

/** Scope definitions managed through the admin API. */
export function createPostgresScopeStore(run: Run): ScopeStore {
  return {
    async list() {
      const { rows } = await run<ScopeRow>('scopes.list', {
        name: 'scopes_list',
        text: 'SELECT name, display_name, description, bindings FROM scopes ORDER BY name',
      });
      return rows.map(toScope);
    },
    async get(name) {
      const { rows } = await run<ScopeRow>('scopes.get', {
        name: 'scopes_get',
        text: 'SELECT name, display_name, description, bindings FROM scopes WHERE name = $1',
        values: [name],
      });
      return rows[0] === undefined ? undefined : toScope(rows[0]);
    },
    async create(s) {
      const res = await run('scopes.create', {
        name: 'scopes_create',
        text: `INSERT INTO scopes (name, display_name, description, bindings) VALUES ($1, $2, $3, $4::jsonb)
          ON CONFLICT (name) DO NOTHING`,
        values: [s.name, s.displayName, s.description, JSON.stringify(s.bindings)],
      });
      if (res.rowCount === 0) throw new ConflictError(`scope "${s.name}" already exists`);
    },
    async update(s) {
      const res = await run('scopes.update', {
        name: 'scopes_update',
        text: 'UPDATE scopes SET display_name = $1, description = $2, bindings = $3::jsonb WHERE name = $4',
        values: [s.displayName, s.description, JSON.stringify(s.bindings), s.name],
      });
      return (res.rowCount ?? 0) > 0;
    },
    async delete(name) {
      const res = await run('scopes.delete', { name: 'scopes_delete', text: 'DELETE FROM scopes WHERE name = $1', values: [name] });
      return (res.rowCount ?? 0) > 0;
    },
  };
}

/** Named values; increment relies on ON CONFLICT's row lock for atomicity. */
export function createPostgresMetaStore(run: Run): MetaStore {
  const read = async (name: string): Promise<string | undefined> => {
    const { rows } = await run<{ value: string }>('meta.get', { name: 'meta_get', text: 'SELECT value FROM meta WHERE name = $1', values: [name] });
    return rows[0]?.value;
  };
  return {
    get: read,
    async setIfAbsent(name, value) {
      const { rows } = await run<{ value: string }>('meta.setIfAbsent', {
        name: 'meta_insert',
        text: 'INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value',
        values: [name, value],
      });
      if (rows[0] !== undefined) return rows[0].value;
      // Lost the race. A separate statement (fresh snapshot) sees the winner's committed row;
      // meta rows are never deleted, so it is there.
      const stored = await read(name);
      if (stored === undefined) throw new Error(`meta "${name}" vanished after insert`);
      return stored;
    },
    async set(name, value) {
      await run('meta.set', {
        name: 'meta_set',
        text: 'INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value',
        values: [name, value],
      });
    },
    async increment(name) {
      const { rows } = await run<{ value: string }>('meta.increment', {
        name: 'meta_increment',
        text: `INSERT INTO meta (name, value) VALUES ($1, '1')
          ON CONFLICT (name) DO UPDATE SET value = (meta.value::bigint + 1)::text RETURNING value`,
        values: [name],
      });
      return Number(rows[0]!.value);
    },
  };
}

/** Trust anchors (CA certificates for client certificates), oldest first. */
export function createPostgresTrustAnchorStore(run: Run): TrustAnchorStore {
  return {
    async list() {
      const { rows } = await run<{ name: string; fingerprint: string; pem: string; added_at: string }>('trustAnchors.list', {
        name: 'trust_anchors_list',
        text: 'SELECT name, fingerprint, pem, added_at FROM trust_anchors ORDER BY added_at, name',
      });
      return rows.map((r) => ({ name: r.name, fingerprint256: r.fingerprint, pem: r.pem, addedAt: Number(r.added_at) }));
    },
    async add(a) {
      // One statement: the certificate (fingerprint) or the name may already be there.
      const { rows } = await run<{ name: string }>('trustAnchors.add', {
        name: 'trust_anchors_add',
        text: `WITH existing AS (SELECT name FROM trust_anchors WHERE fingerprint = $2),
          inserted AS (INSERT INTO trust_anchors (name, fingerprint, pem, added_at)
            SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM existing) ON CONFLICT DO NOTHING RETURNING name)
          SELECT 'added' AS name FROM inserted UNION ALL SELECT 'exists' FROM existing`,
        values: [a.name, a.fingerprint256, a.pem, a.addedAt],
      });
      if (rows[0]?.name === 'added') return 'added';
      if (rows[0]?.name === 'exists') return 'exists';
      // Nothing inserted and no row with this certificate: the name is taken (or a racing insert of the same certificate won).
      const again = await run<{ n: string }>('trustAnchors.add', {
        name: 'trust_anchors_has',
        text: 'SELECT 1 AS n FROM trust_anchors WHERE fingerprint = $1',
        values: [a.fingerprint256],
      });
      if ((again.rowCount ?? 0) > 0) return 'exists';
      throw new ConflictError(`a trust anchor named "${a.name}" already exists with another certificate`);
    },
    async remove(nameOrFingerprint) {
      const res = await run('trustAnchors.remove', {
        name: 'trust_anchors_remove',
        text: "DELETE FROM trust_anchors WHERE name = $1 OR name = $2 OR replace(lower(fingerprint), ':', '') = $3",
        values: [nameOrFingerprint, `${nameOrFingerprint}.pem`, nameOrFingerprint.replaceAll(':', '').toLowerCase()],
      });
      return (res.rowCount ?? 0) > 0;
    },
  };
}
