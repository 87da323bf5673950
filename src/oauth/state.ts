/**
 * Key manager state that lives in storage and must exist before any worker serves: signing keys,
 * the cookie key and the first scopes. Kept free of oidc-provider so the cluster primary can
 * prepare it without loading the whole server.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import { ConflictError, type Storage } from '../storage/ports.ts';
import { createKeyManager } from '../crypto/keys.ts';

/** Seconds a retired signing key stays published: the longest lifetime of anything it signed. */
export function retireGrace(config: Config): number {
  const v = config.oauth.token_validity;
  return Math.max(v.access_token, v.client_credentials_token, v.id_token) + config.oauth.clock_tolerance + 60;
}

/** Creates scopes from config on the very first start only (afterwards the scope API owns them). */
async function seedScopes(storage: Storage, config: Config): Promise<void> {
  // Seeded once per database: a default scope an operator deleted later stays deleted. The marker
  // is written after the scopes, so a host that finds it also finds every default scope; hosts
  // starting together on a new database both create them (a scope already there is left alone).
  if ((await storage.meta.get('scopes_seeded')) !== undefined) return;
  for (const name of config.oauth.default_scopes) {
    if (!(await storage.scopes.get(name))) {
      await storage.scopes.create({ name, displayName: name, description: '', bindings: [] }).catch((err: unknown) => {
        if (!(err instanceof ConflictError)) throw err; // another host created it just now
      });
    }
  }
  // A random marker, because a pid repeats (pid 1 in containers).
  await storage.meta.setIfAbsent('scopes_seeded', randomUUID());
}

/**
 * Creates what every worker needs to find in storage (signing keys, cookie and client secret keys, first scopes).
 * Idempotent; the cluster primary runs it once before forking so workers never race to create keys.
 */
export async function initializeKeyManagerState(
  storage: Storage,
  config: Config,
  now: () => number = () => Math.floor(Date.now() / 1000),
): Promise<{ cookieKey: string; clientSecretKey: Buffer }> {
  const keys = createKeyManager({ keys: storage.keys, meta: storage.meta, now, retireGrace: retireGrace(config) });
  const cookieKey = await storage.meta.setIfAbsent('cookie_key', randomBytes(32).toString('base64url'));
  // Derives the secrets of secret-based clients (client-secrets.ts); first writer wins across hosts.
  const clientSecretKey = Buffer.from(await storage.meta.setIfAbsent('client_secret_key', randomBytes(32).toString('base64url')), 'base64url');
  // A gateway-only host signs nothing: it reads the keys a key manager host created.
  if (config.server.roles.includes('key_manager')) await keys.ensureKeys();
  await seedScopes(storage, config);
  return { cookieKey, clientSecretKey };
}

const RETIRED_SCOPES = 'retired_scopes';

/** Scopes deleted through the scope API (see ProviderDeps.retiredScopes). */
export async function retiredScopeNames(storage: Storage): Promise<string[]> {
  const raw = await storage.meta.get(RETIRED_SCOPES);
  try {
    const v = raw ? (JSON.parse(raw) as unknown) : [];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** Records a deleted scope (or forgets it when re-created). Last writer wins; admin operations are rare. */
export async function setScopeRetired(storage: Storage, name: string, retired: boolean): Promise<void> {
  const current = new Set(await retiredScopeNames(storage));
  if (retired) current.add(name);
  else current.delete(name);
  await storage.meta.set(RETIRED_SCOPES, JSON.stringify([...current].sort()));
}
