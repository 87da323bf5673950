/** SQLite KeyStore, ScopeStore and MetaStore: single statements, prepared once. */
import type { DatabaseSync } from 'node:sqlite';
import { ConflictError } from '../ports.ts';
import type { KeyStore, MetaStore, ScopeRecord, ScopeStore, SigningKeyRecord, TrustAnchorStore } from '../ports.ts';
import { guard } from '../../sqlite/errors.ts';
import type { Write } from '../../sqlite/write-queue.ts';
import { rowsOf } from '../../sqlite/rows.ts';

interface KeyRow {
  kid: string;
  alg: string;
  private_jwk: string;
  created_at: number;
  retired_at: number | null;
  remove_after: number | null;
}
interface ScopeRow {
  name: string;
  display_name: string;
  description: string;
  bindings: string;
}

const toKey = (r: KeyRow): SigningKeyRecord => ({
  kid: r.kid,
  alg: r.alg,
  privateJwk: JSON.parse(r.private_jwk) as Record<string, unknown>,
  createdAt: r.created_at,
  retiredAt: r.retired_at,
  removeAfter: r.remove_after,
});

const toScope = (r: ScopeRow): ScopeRecord => ({
  name: r.name,
  displayName: r.display_name,
  description: r.description,
  bindings: JSON.parse(r.bindings) as string[],
});

/** Signing keys, newest first; kid breaks ties so the order is stable. */
export function createSqliteKeyStore(db: DatabaseSync, write: Write = guard): KeyStore {
  const list = rowsOf<KeyRow>(
    db.prepare(`SELECT kid, alg, private_jwk, created_at, retired_at, remove_after FROM signing_keys
    WHERE remove_after IS NULL OR remove_after > ? ORDER BY created_at DESC, kid DESC`),
  );
  const add = db.prepare(`INSERT INTO signing_keys (kid, alg, private_jwk, created_at, retired_at, remove_after)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kid) DO NOTHING`);
  const retire = db.prepare(`UPDATE signing_keys SET retired_at = ?, remove_after = ?
    WHERE alg = ? AND kid <> ? AND retired_at IS NULL`);
  return {
    list: (now) => guard('keys.list', () => list.all(now).map(toKey)),
    add: (k) =>
      write('keys.add', () => {
        const { changes } = add.run(k.kid, k.alg, JSON.stringify(k.privateJwk), k.createdAt, k.retiredAt, k.removeAfter);
        if (Number(changes) === 0) throw new ConflictError(`signing key "${k.kid}" already exists`);
      }),
    retireOthers: (alg, keepKid, retiredAt, removeAfter) => write('keys.retireOthers', () => Number(retire.run(retiredAt, removeAfter, alg, keepKid).changes)),
  };
}

/** Scope definitions managed through the admin API. */
export function createSqliteScopeStore(db: DatabaseSync, write: Write = guard): ScopeStore {
  const list = rowsOf<ScopeRow>(db.prepare('SELECT name, display_name, description, bindings FROM scopes ORDER BY name'));
  const get = rowsOf<ScopeRow>(db.prepare('SELECT name, display_name, description, bindings FROM scopes WHERE name = ?'));
  const create = db.prepare(`INSERT INTO scopes (name, display_name, description, bindings) VALUES (?, ?, ?, ?)
    ON CONFLICT (name) DO NOTHING`);
  const update = db.prepare('UPDATE scopes SET display_name = ?, description = ?, bindings = ? WHERE name = ?');
  const remove = db.prepare('DELETE FROM scopes WHERE name = ?');
  return {
    list: () => guard('scopes.list', () => list.all().map(toScope)),
    get: (name) =>
      guard('scopes.get', () => {
        const row = get.get(name);
        return row === undefined ? undefined : toScope(row);
      }),
    create: (s) =>
      write('scopes.create', () => {
        const { changes } = create.run(s.name, s.displayName, s.description, JSON.stringify(s.bindings));
        if (Number(changes) === 0) throw new ConflictError(`scope "${s.name}" already exists`);
      }),
    update: (s) => write('scopes.update', () => Number(update.run(s.displayName, s.description, JSON.stringify(s.bindings), s.name).changes) > 0),
    delete: (name) => write('scopes.delete', () => Number(remove.run(name).changes) > 0),
  };
}

/** Named values; setIfAbsent and increment are single statements, hence atomic across workers. */
export function createSqliteMetaStore(db: DatabaseSync, write: Write = guard): MetaStore {
  const get = db.prepare('SELECT value FROM meta WHERE name = ?');
  const insert = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING RETURNING value');
  const set = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
  const increment = db.prepare(`INSERT INTO meta (name, value) VALUES (?, '1')
    ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)
    RETURNING value`);
  const read = (name: string): string | undefined => (get.get(name) as { value: string } | undefined)?.value;
  return {
    get: (name) => guard('meta.get', () => read(name)),
    setIfAbsent: (name, value) =>
      write('meta.setIfAbsent', () => {
        const inserted = insert.get(name, value) as { value: string } | undefined;
        if (inserted !== undefined) return inserted.value;
        // Lost the race: the first writer's value is the answer (meta rows are never deleted).
        const stored = read(name);
        if (stored === undefined) throw new Error(`meta "${name}" vanished after insert`);
        return stored;
      }),
    set: (name, value) =>
      write('meta.set', () => {
        set.run(name, value);
      }),
    increment: (name) => write('meta.increment', () => Number((increment.get(name) as { value: string }).value)),
  };
}

interface AnchorRow {
  name: string;
  fingerprint: string;
  pem: string;
  added_at: number;
}

/** Trust anchors (CA certificates for client certificates), oldest first. */
export function createSqliteTrustAnchorStore(db: DatabaseSync, write: Write = guard): TrustAnchorStore {
  const list = rowsOf<AnchorRow>(db.prepare('SELECT name, fingerprint, pem, added_at FROM trust_anchors ORDER BY added_at, name'));
  const byFingerprint = db.prepare('SELECT name FROM trust_anchors WHERE fingerprint = ?');
  const insert = db.prepare('INSERT INTO trust_anchors (name, fingerprint, pem, added_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING');
  const remove = db.prepare("DELETE FROM trust_anchors WHERE name = ? OR name = ? OR replace(lower(fingerprint), ':', '') = ?");
  return {
    list: () =>
      guard('trustAnchors.list', () =>
        list.all().map((row) => ({ name: row.name, fingerprint256: row.fingerprint, pem: row.pem, addedAt: Number(row.added_at) })),
      ),
    add: (a) =>
      write('trustAnchors.add', () => {
        if (byFingerprint.get(a.fingerprint256) !== undefined) return 'exists' as const;
        if (Number(insert.run(a.name, a.fingerprint256, a.pem, a.addedAt).changes) === 0) {
          throw new ConflictError(`a trust anchor named "${a.name}" already exists with another certificate`);
        }
        return 'added' as const;
      }),
    remove: (nameOrFingerprint) =>
      write(
        'trustAnchors.remove',
        () => Number(remove.run(nameOrFingerprint, `${nameOrFingerprint}.pem`, nameOrFingerprint.replaceAll(':', '').toLowerCase()).changes) > 0,
      ),
  };
}
