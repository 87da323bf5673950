/**
 * Key managers (docs/gateway.md#key-managers, WSO2's Admin portal): the resident one (this server's
 * own key manager) and external OAuth/OIDC servers added by their discovery URL. Saving one
 * validates it first, so a bad one fails at once with its reason rather than at the first call: the
 * discovery document is fetched and read (issuer, jwks_uri, introspection, token and revocation
 * endpoints), its issuer must match, the key set must hold keys when tokens are self-validated and
 * the introspection endpoint must exist when they are introspected. Every endpoint it names must be
 * one the outbound allow-list lets the gateway reach (else it would fail only at use). A key
 * manager is one token issuer: neither its issuer nor its key set may be this server's (the
 * resident key manager's or the gateway's own keys) or another key manager's, and its token
 * handling may not claim their tokens. Nothing is saved when a check fails.
 */
import { calculateJwkThumbprint, type JWK } from 'jose';
import { fail } from '../errors/app-error.ts';
import type { OutboundFetch } from '../http/outbound.ts';
import { ConflictError, type Storage } from '../storage/ports.ts';
import type { KeyManagerRecord, TokenHandlingRule } from '../storage/catalogue-records.ts';
import { RESIDENT_KEY_MANAGER } from '../storage/catalogue-records.ts';

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
    name: RESIDENT_KEY_MANAGER,
    displayName: RESIDENT_KEY_MANAGER,
    type: 'resident',
    enabled: true,
    issuer,
    wellKnownEndpoint: `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
    jwksUri: null,
    introspectionEndpoint: null,
    tokenEndpoint: null,
    revokeEndpoint: null,
    validation: 'jwt',
    introspectionClient: null,
    audience: null,
    tokenHandling: [],
    claimMapping: { clientId: 'client_id', scopes: 'scope', roles: null },
    createdAt: now,
    updatedAt: now,
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

/**
 * A URL as the same resource on the wire: scheme and host in lower case, no default port, no
 * trailing dot on the host, no trailing slash, unreserved characters unescaped and other escapes
 * in upper case. Two spellings of one issuer or key set compare equal.
 */
export function sameResource(url: string): string {
  const u = new URL(url);
  const path = u.pathname
    .replace(/%[0-9a-f]{2}/gi, (m) => {
      const c = String.fromCharCode(parseInt(m.slice(1), 16));
      return /[A-Za-z0-9._~-]/.test(c) ? c : m.toUpperCase();
    })
    .replace(/\/+$/, '');
  return `${u.protocol}//${u.hostname.replace(/\.$/, '')}${u.port ? `:${u.port}` : ''}${path}${u.search}`;
}

const same = (a: string, b: string) => (URL.canParse(a) && URL.canParse(b) ? sameResource(a) === sameResource(b) : a === b);

/** RFC 7638 thumbprints of the keys of a key set (a key that is not a JWK has none). */
async function thumbprints(keys: readonly unknown[]): Promise<Set<string>> {
  const all = await Promise.all(
    keys.map((k) =>
      Promise.resolve()
        .then(() => calculateJwkThumbprint(k as JWK))
        .catch(() => undefined),
    ),
  );
  return new Set(all.filter((t): t is string => t !== undefined));
}

export interface KeyManagerAdminDeps {
  storage: Storage;
  fetch: OutboundFetch;
  notify: () => Promise<void>;
  /** This server: the resident key manager's issuer and the base URL it serves its key sets and endpoints at. */
  self: { issuer: string; baseUrl: string };
  /** Whether the outbound allow-list lets the gateway reach a URL. */
  allowedUrl: (url: URL) => boolean;
  /** This server's public signing keys (the resident key manager's, the gateway identity's): no external key set may hold one. */
  ownKeys: () => readonly JWK[];
  now?: () => number;
}

export function createKeyManagerAdmin(deps: KeyManagerAdminDeps): KeyManagerAdmin {
  const store = deps.storage.gateway;
  const now = deps.now ?? (() => Math.floor(Date.now() / 1000));
  const selfOrigins = new Set([deps.self.issuer, deps.self.baseUrl].map((u) => sameResource(new URL(u).origin)));
  const isSelf = (url: string) => URL.canParse(url) && selfOrigins.has(sameResource(new URL(url).origin));
  const clip = (v: string) => v.slice(0, 200);

  /**
   * One key manager, one token issuer: not this server (whose tokens are the resident key
   * manager's and whose identity JWTs are the gateway's), not another key manager, and every
   * endpoint where the gateway can reach it.
   */
  const checkDistinct = (name: string, issuer: string, endpoints: Record<string, string | null>, others: readonly KeyManagerRecord[]): void => {
    const notHere = 'an external key manager is another server, with its own issuer and keys';
    if (isSelf(issuer))
      throw fail('KEY_MANAGER_INVALID', `the discovery document's issuer ${clip(issuer)} is this server's (the resident key manager's): ${notHere}`);
    for (const [key, url] of Object.entries(endpoints)) {
      if (url === null) continue;
      if (isSelf(url))
        throw fail('KEY_MANAGER_INVALID', `the discovery document's ${key} ${clip(url)} is on this server (the resident key manager): ${notHere}`);
      if (!deps.allowedUrl(new URL(url))) {
        throw fail(
          'KEY_MANAGER_INVALID',
          `the discovery document's ${key} is at ${clip(new URL(url).host)}, which [oauth] allowed_outbound_hosts does not allow: the gateway could not reach it`,
        );
      }
    }
    for (const k of others) {
      if (k.name === name) continue;
      const whose = k.type === 'resident' ? "the resident key manager's" : `key manager "${k.name}"'s`;
      if (same(issuer, k.issuer)) throw fail('KEY_MANAGER_INVALID', `the discovery document's issuer ${clip(issuer)} is ${whose}: ${notHere}`);
      if (endpoints['jwks_uri'] && k.jwksUri && same(endpoints['jwks_uri'], k.jwksUri)) {
        throw fail('KEY_MANAGER_INVALID', `the discovery document's jwks_uri ${clip(k.jwksUri)} is ${whose}: ${notHere}`);
      }
    }
  };

  /** Token handling that names another issuer would take that issuer's tokens from their key manager. */
  const checkOwnRules = (rules: TokenHandlingRule[], name: string, others: readonly KeyManagerRecord[]): TokenHandlingRule[] => {
    const foreign = others.filter((k) => k.name !== name).map((k) => k.issuer);
    for (const r of rules) {
      const iss = r.type === 'JWT' ? r.value : r.type === 'CUSTOM' && r.value.startsWith('iss=') ? r.value.slice(4) : undefined;
      if (iss !== undefined && (isSelf(iss) || foreign.some((f) => same(iss, f)))) {
        throw fail('KEY_MANAGER_INVALID', `a token handling rule names the issuer ${clip(iss)}, another key manager's: a key manager owns only its own tokens`);
      }
    }
    return rules;
  };

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
      const body = (await res.json()) as unknown;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
      return body as Record<string, unknown>;
    } catch (err) {
      throw fail('KEY_MANAGER_INVALID', `the ${what} is not a JSON object`, { cause: err });
    }
  };

  /** Reads and checks the discovery document and what it points at; the record to save. */
  const discover = async (input: KeyManagerInput, createdAt: number): Promise<KeyManagerRecord> => {
    if (!NAME.test(input.name) || input.name === RESIDENT_KEY_MANAGER)
      throw fail('KEY_MANAGER_INVALID', "name: 1 to 64 letters, digits, spaces, dots, dashes or underscores (not the resident key manager's)");
    const wellKnown = httpsUrl(input.wellKnownEndpoint, 'URL (wellKnownEndpoint)');
    const doc = await fetchJson(wellKnown, 'discovery document');
    const issuer = typeof doc['issuer'] === 'string' ? doc['issuer'] : undefined;
    if (!issuer) throw fail('KEY_MANAGER_INVALID', 'the discovery document has no issuer');
    if (input.issuer !== undefined && input.issuer !== issuer) {
      throw fail('KEY_MANAGER_INVALID', `the discovery document names issuer ${issuer.slice(0, 200)}, not the one given`);
    }
    const optional = (key: string) => (doc[key] === undefined ? null : httpsUrl(doc[key], key));
    const endpoints = {
      jwks_uri: optional('jwks_uri'),
      introspection_endpoint: optional('introspection_endpoint'),
      token_endpoint: optional('token_endpoint'),
      revocation_endpoint: optional('revocation_endpoint'),
    };
    const { jwks_uri: jwksUri, introspection_endpoint: introspectionEndpoint } = endpoints;
    const others = await store.listKeyManagers();
    checkDistinct(input.name, issuer, endpoints, others);
    if (input.validation === 'jwt') {
      if (!jwksUri) throw fail('KEY_MANAGER_INVALID', "self-validating JWTs needs the discovery document's jwks_uri");
      const jwks = await fetchJson(jwksUri, 'key set (jwks_uri)');
      if (!Array.isArray(jwks['keys']) || jwks['keys'].length === 0) throw fail('KEY_MANAGER_INVALID', 'the key set (jwks_uri) holds no keys');
      // Whatever URL serves them: this server's keys would let the key manager's tokens be ours.
      const own = await thumbprints(deps.ownKeys());
      if ([...(await thumbprints(jwks['keys']))].some((t) => own.has(t))) {
        throw fail('KEY_MANAGER_INVALID', "the key set (jwks_uri) holds this server's own signing keys: an external key manager signs with keys of its own");
      }
    } else {
      if (!introspectionEndpoint) throw fail('KEY_MANAGER_INVALID', "introspection needs the discovery document's introspection_endpoint");
      if (!input.introspectionClient)
        throw fail('KEY_MANAGER_INVALID', "introspection needs the gateway's client credentials at the key manager (introspection client id and secret)");
    }
    const mapping = {
      clientId: input.claimMapping?.clientId ?? 'client_id',
      scopes: input.claimMapping?.scopes ?? 'scope',
      roles: input.claimMapping?.roles ?? null,
    };
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
      tokenEndpoint: endpoints.token_endpoint,
      revokeEndpoint: endpoints.revocation_endpoint,
      validation: input.validation,
      introspectionClient: input.introspectionClient ?? null,
      audience: input.audience ?? null,
      tokenHandling: checkOwnRules(checkRules(input.tokenHandling ?? [{ type: 'JWT', value: issuer }]), input.name, others),
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
