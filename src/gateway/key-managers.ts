/**
 * Key managers (gateway.md §1, WSO2's Admin portal): the resident one (this server's own key
 * manager) and external OAuth/OIDC servers added by their discovery URL. Saving one validates it
 * first (gateway.md §4: "validate a key manager when it is saved"): the discovery document is
 * fetched and read (issuer, jwks_uri, introspection, token and revocation endpoints), its issuer
 * must match, the key set must hold keys when tokens are self-validated and the introspection
 * endpoint must exist when they are introspected. Nothing is saved when a check fails. Every
 * fetch goes through the outbound allow-list.
 */
import { fail } from '../errors/app-error.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import { ConflictError, type Storage } from '../storage/ports.ts';
import type { KeyManagerRecord, TokenHandlingRule } from './model.ts';
import { RESIDENT_KEY_MANAGER } from './model.ts';

export interface KeyManagerInput {
  name: string;
  displayName?: string | undefined;
  enabled?: boolean | undefined;
  wellKnownEndpoint: string;
  /** When given, must equal the discovered one. */
  issuer?: string | undefined;
  validation: 'jwt' | 'introspection';
  introspectionClient?: { clientId: string; clientSecret: string } | undefined;
  audience?: string | undefined;
  tokenHandling?: TokenHandlingRule[] | undefined;
  claimMapping?: Partial<KeyManagerRecord['claimMapping']> | undefined;
}

export interface KeyManagerAdmin {
  list(): Promise<KeyManagerRecord[]>;
  get(name: string): Promise<KeyManagerRecord>;
  /** Discovers, validates and saves a new external key manager. */
  add(input: KeyManagerInput): Promise<KeyManagerRecord>;
  /** Re-discovers and replaces an external key manager. */
  replace(input: KeyManagerInput): Promise<KeyManagerRecord>;
  setEnabled(name: string, enabled: boolean): Promise<KeyManagerRecord>;
  remove(name: string): Promise<void>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/;
const CLAIM = /^[A-Za-z0-9_.:/-]{1,100}$/;

/** The resident key manager's record (seeded; only `enabled` ever changes). */
export function residentKeyManager(issuer: string, now: number): KeyManagerRecord {
  return {
    name: RESIDENT_KEY_MANAGER, displayName: RESIDENT_KEY_MANAGER, type: 'resident', enabled: true, issuer,
    wellKnownEndpoint: `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, jwksUri: null, introspectionEndpoint: null,
    tokenEndpoint: null, revokeEndpoint: null, validation: 'jwt', introspectionClient: null, audience: null,
    tokenHandling: [], claimMapping: { clientId: 'client_id', scopes: 'scope', roles: null }, createdAt: now, updatedAt: now,
  };
}

function checkRules(rules: TokenHandlingRule[]): TokenHandlingRule[] {
  if (rules.length > 20) throw fail('KEY_MANAGER_INVALID', 'at most 20 token handling rules');
  for (const r of rules) {
    if (r.value.length === 0 || r.value.length > 500) throw fail('KEY_MANAGER_INVALID', 'a token handling value is 1 to 500 characters');
    if (r.type === 'REFERENCE') {
      try {
        new RegExp(r.value, 'u');
      } catch {
        throw fail('KEY_MANAGER_INVALID', 'a REFERENCE token handling value is not a valid regular expression');
      }
    }
    if (r.type === 'CUSTOM' && !/^[A-Za-z0-9_.:/-]{1,100}=.{1,300}$/.test(r.value)) {
      throw fail('KEY_MANAGER_INVALID', 'a CUSTOM token handling value is claim=value');
    }
  }
  return rules;
}

const httpsUrl = (value: unknown, what: string): string => {
  if (typeof value !== 'string' || !URL.canParse(value) || new URL(value).protocol !== 'https:') {
    throw fail('KEY_MANAGER_INVALID', `the discovery document's ${what} is not an https URL`);
  }
  return value;
};

export function createKeyManagerAdmin(deps: { storage: Storage; fetch: OutboundFetch; notify: () => Promise<void>; now?: () => number }): KeyManagerAdmin {
  const store = deps.storage.gateway;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));

  const get = async (name: string): Promise<KeyManagerRecord> => {
    const km = (await store.listKeyManagers()).find((k) => k.name === name);
    if (!km) throw fail('KEY_MANAGER_NOT_FOUND', 'no key manager of that name');
    return km;
  };

  const fetchJson = async (url: string, what: string): Promise<Record<string, unknown>> => {
    let res: Response;
    try {
      res = await deps.fetch(url, { headers: { accept: 'application/json' } });
    } catch (err) {
      throw fail('KEY_MANAGER_INVALID', `the ${what} could not be fetched: ${(err as Error).message}`, { cause: err });
    }
    if (res.status !== 200) throw fail('KEY_MANAGER_INVALID', `the ${what} answered ${res.status}`);
    try {
      const body = await res.json() as unknown;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
      return body as Record<string, unknown>;
    } catch (err) {
      throw fail('KEY_MANAGER_INVALID', `the ${what} is not a JSON object`, { cause: err });
    }
  };

  /** Reads and checks the discovery document and what it points at; the record to save. */
  const discover = async (input: KeyManagerInput, createdAt: number): Promise<KeyManagerRecord> => {
    if (!NAME.test(input.name) || input.name === RESIDENT_KEY_MANAGER) throw fail('KEY_MANAGER_INVALID', 'name: 1 to 64 letters, digits, spaces, dots, dashes or underscores (not the resident key manager\'s)');
    const wellKnown = httpsUrl(input.wellKnownEndpoint, 'URL (wellKnownEndpoint)');
    const doc = await fetchJson(wellKnown, 'discovery document');
    const issuer = typeof doc['issuer'] === 'string' ? doc['issuer'] : undefined;
    if (!issuer) throw fail('KEY_MANAGER_INVALID', 'the discovery document has no issuer');
    if (input.issuer !== undefined && input.issuer !== issuer) {
      throw fail('KEY_MANAGER_INVALID', `the discovery document names issuer ${issuer.slice(0, 200)}, not the one given`);
    }
    const optional = (key: string) => (doc[key] === undefined ? null : httpsUrl(doc[key], key));
    const jwksUri = optional('jwks_uri');
    const introspectionEndpoint = optional('introspection_endpoint');
    if (input.validation === 'jwt') {
      if (!jwksUri) throw fail('KEY_MANAGER_INVALID', 'self-validating JWTs needs the discovery document\'s jwks_uri');
      const jwks = await fetchJson(jwksUri, 'key set (jwks_uri)');
      if (!Array.isArray(jwks['keys']) || jwks['keys'].length === 0) throw fail('KEY_MANAGER_INVALID', 'the key set (jwks_uri) holds no keys');
    } else {
      if (!introspectionEndpoint) throw fail('KEY_MANAGER_INVALID', 'introspection needs the discovery document\'s introspection_endpoint');
      if (!input.introspectionClient) throw fail('KEY_MANAGER_INVALID', 'introspection needs the gateway\'s client credentials at the key manager (introspection client id and secret)');
    }
    const mapping = { clientId: input.claimMapping?.clientId ?? 'client_id', scopes: input.claimMapping?.scopes ?? 'scope', roles: input.claimMapping?.roles ?? null };
    for (const c of [mapping.clientId, mapping.scopes, ...(mapping.roles ? [mapping.roles] : [])]) {
      if (!CLAIM.test(c)) throw fail('KEY_MANAGER_INVALID', 'a claim mapping names a claim of 1 to 100 letters, digits and _ . : / -');
    }
    return {
      name: input.name,
      displayName: (input.displayName ?? input.name).slice(0, 200),
      type: 'oidc',
      enabled: input.enabled ?? true,
      issuer,
      wellKnownEndpoint: wellKnown,
      jwksUri,
      introspectionEndpoint,
      tokenEndpoint: optional('token_endpoint'),
      revokeEndpoint: optional('revocation_endpoint'),
      validation: input.validation,
      introspectionClient: input.introspectionClient ?? null,
      audience: input.audience ?? null,
      tokenHandling: checkRules(input.tokenHandling ?? [{ type: 'JWT', value: issuer }]),
      claimMapping: mapping,
      createdAt,
      updatedAt: now(),
    };
  };

  return {
    list: () => store.listKeyManagers(),
    get,
    async add(input) {
      const km = await discover(input, now());
      try {
        await store.createKeyManager(km);
      } catch (err) {
        if (err instanceof ConflictError) throw fail('KEY_MANAGER_EXISTS', `a key manager named "${km.name}" exists`, { cause: err });
        throw err;
      }
      await deps.notify();
      return km;
    },
    async replace(input) {
      const current = await get(input.name);
      if (current.type === 'resident') throw fail('KEY_MANAGER_RESIDENT', 'the resident key manager can only be enabled or disabled');
      const km = await discover(input, current.createdAt);
      if (!(await store.updateKeyManager(km))) throw fail('KEY_MANAGER_NOT_FOUND', 'no key manager of that name');
      await deps.notify();
      return km;
    },
    async setEnabled(name, enabled) {
      const km = { ...(await get(name)), enabled, updatedAt: now() };
      if (!(await store.updateKeyManager(km))) throw fail('KEY_MANAGER_NOT_FOUND', 'no key manager of that name');
      await deps.notify();
      return km;
    },
    async remove(name) {
      const km = await get(name);
      if (km.type === 'resident') throw fail('KEY_MANAGER_RESIDENT', 'the resident key manager cannot be removed; disable it instead');
      await store.deleteKeyManager(name);
      await deps.notify();
    },
  };
}
