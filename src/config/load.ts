/**
 * Reads the TOML file and the environment once, validates with the zod schema and returns a
 * frozen Config. Only this module reads process.env.
 */
import { isAllowedUrl } from '../http/outbound.ts';
import { readFileSync, existsSync } from 'node:fs';
import { resolve, dirname, isAbsolute } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { configSchema, OB_SANDBOX_JWKS, type Config } from './schema.ts';

/**
 * Thrown for configuration problems: `problems` has one line per problem, each naming the file
 * (or variable), the key and the problem; `message` is those lines joined by newlines.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super(list.join('\n'));
    this.problems = list;
  }
}

/** A value from a command-line option (e.g. `opendcr start --port`), applied over the file and the environment. */
export interface ConfigOverride {
  /** The option as the user typed it, for messages: `--port`. */
  readonly option: string;
  readonly key: readonly string[];
  readonly value: string | number;
}

export interface LoadOptions {
  /** Explicit path (from --config). */
  path?: string | undefined;
  /** Environment to read overrides from (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Working directory relative paths resolve against when there is no file. */
  cwd?: string;
  /** Command-line options; they win over the environment and the file. */
  overrides?: readonly ConfigOverride[];
}

/** Environment variables that override file values: secrets and URLs belong here, not in the file. */
export const ENV_OVERRIDES: ReadonlyArray<readonly [string, readonly string[], 'string' | 'number']> = [
  ['OPENDCR_BASE_URL', ['server', 'base_url'], 'string'],
  ['OPENDCR_PORT', ['server', 'port'], 'number'],
  ['OPENDCR_BIND_ADDRESS', ['server', 'bind_address'], 'string'],
  ['OPENDCR_DATA_DIR', ['server', 'data_dir'], 'string'],
  ['OPENDCR_WORKERS', ['server', 'workers'], 'number'],
  ['OPENDCR_DATABASE_URL', ['database', 'url'], 'string'],
  ['OPENDCR_ADMIN_PASSWORD', ['super_admin', 'password'], 'string'],
  ['OPENDCR_LOG_LEVEL', ['log', 'level'], 'string'],
  ['OPENDCR_METRICS_TOKEN', ['metrics', 'token'], 'string'],
  ['OPENDCR_REDIS_URL', ['redis', 'url'], 'string'],
];

/** Which file would be read: --config, then OPENDCR_CONFIG, then ./opendcr.toml if present. */
export function resolveConfigPath(opts: LoadOptions = {}): string | null {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.path ?? env.OPENDCR_CONFIG;
  if (explicit) return resolve(cwd, explicit);
  const fallback = resolve(cwd, 'opendcr.toml');
  return existsSync(fallback) ? fallback : null;
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v);

function setPath(target: Table, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isTable(node[key])) node[key] = {};
    node = node[key] as Table;
  }
  node[path[path.length - 1]!] = value;
}

function getPath(target: unknown, path: readonly PropertyKey[]): unknown {
  let node = target;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Removes the value at `path` (array elements are spliced out); false when there was none. */
function removePath(target: unknown, path: readonly PropertyKey[]): boolean {
  if (path.length === 0) return false;
  const parent = getPath(target, path.slice(0, -1));
  const last = path[path.length - 1]!;
  if (Array.isArray(parent) && typeof last === 'number' && last < parent.length) {
    parent.splice(last, 1);
    return true;
  }
  if (isTable(parent) && typeof last === 'string' && last in parent) {
    delete parent[last];
    return true;
  }
  return false;
}

const keyOf = (path: readonly PropertyKey[]): string => path.map(String).join('.');

function formatIssue(issue: z.core.$ZodIssue, note: (key: string) => string = () => ''): string {
  const key = keyOf(issue.path) || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `in [${issue.path.join('.')}] ` : '';
    return `unknown key ${where}${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return `key "${key}": ${issue.message}${note(keyOf(issue.path))}`;
}

/**
 * Parses with the schema and keeps going past errors: every failing value is dropped (its
 * default takes its place) and the rest parsed again, so one run reports every problem and the
 * checks after the schema still see everything else. A problem that only follows from a dropped
 * value (a required key now missing) is not reported again; its parent is dropped instead.
 */
function parseAll(raw: Table): { data: z.output<typeof configSchema> | undefined; issues: z.core.$ZodIssue[] } {
  const current = structuredClone(raw);
  const issues: z.core.$ZodIssue[] = [];
  const dropped: string[] = [];
  const follows = (key: string) => dropped.some((d) => key === d || key.startsWith(`${d}.`) || d.startsWith(`${key}.`));
  for (let round = 0; round < 50; round++) {
    const parsed = configSchema.safeParse(current);
    if (parsed.success) return { data: parsed.data, issues };
    // What to drop: the unknown keys, the bad values, or the parent of a consequence.
    const removals: PropertyKey[][] = [];
    for (const issue of parsed.error.issues) {
      const key = keyOf(issue.path);
      if (issue.code === 'unrecognized_keys') {
        issues.push(issue);
        removals.push(...issue.keys.map((k) => [...issue.path, k]));
      } else if (follows(key)) {
        removals.push(issue.path.slice(0, -1));
        dropped.push(keyOf(issue.path.slice(0, -1)));
      } else {
        issues.push(issue);
        dropped.push(key);
        removals.push([...issue.path]);
      }
    }
    // Deepest paths and highest array indexes first, so splicing keeps the other paths valid.
    removals.sort((a, b) => b.length - a.length || Number(b.at(-1) ?? 0) - Number(a.at(-1) ?? 0));
    let progress = false;
    for (const path of removals) progress = removePath(current, path) || progress;
    if (!progress) return { data: undefined, issues };
  }
  return { data: undefined, issues };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** What {@link inspectConfig} found: the configuration (when the schema let one be built) and every problem. */
export interface ConfigInspection {
  /** Built from the valid values, with defaults in place of invalid ones; undefined when the file cannot be read or parsed. */
  readonly config: Config | undefined;
  /** One line per problem, naming the file (or variable or option), the key and the problem. */
  readonly problems: readonly string[];
}

/**
 * Reads, validates and resolves the configuration, collecting every problem instead of stopping
 * at the first: TOML syntax, environment values, schema (the file's own values too, even where
 * an environment variable or option overrides them), production rules and derived values.
 */
export function inspectConfig(opts: LoadOptions = {}): ConfigInspection {
  const env = opts.env ?? process.env;
  const path = resolveConfigPath(opts);
  const label = path ?? 'built-in defaults';
  const problems: string[] = [];
  let fileRaw: Table = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (code ?? 'read error');
      return { config: undefined, problems: [`${path}: cannot read the configuration file (${why})`] };
    }
    try {
      fileRaw = parseToml(text) as Table;
    } catch (err) {
      if (err instanceof TomlError) {
        return { config: undefined, problems: [`${path}: invalid TOML at line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`] };
      }
      return { config: undefined, problems: [`${path}: invalid TOML`] };
    }
  }

  // Where each overridden key's value came from, for messages.
  const sources = new Map<string, string>();
  const raw = structuredClone(fileRaw);
  for (const [name, keyPath, type] of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (type === 'number') {
      const n = Number(value);
      if (!Number.isInteger(n)) {
        problems.push(`environment ${name}: expected an integer, got "${value}"`);
        continue;
      }
      setPath(raw, keyPath, n);
    } else {
      setPath(raw, keyPath, value);
    }
    sources.set(keyOf(keyPath), name);
  }
  for (const o of opts.overrides ?? []) {
    setPath(raw, o.key, o.value);
    sources.set(keyOf(o.key), o.option);
  }

  const setBy = (key: string): string => {
    const source = sources.get(key);
    return source ? ` (set by ${source})` : '';
  };
  const { data: c, issues } = parseAll(raw);
  problems.push(...issues.map((issue) => `${label}: ${formatIssue(issue, setBy)}`));

  // A bad value in the file stays a bad file while a variable hides it: it breaks as soon as the
  // variable is missing (another shell, a service unit), so it is reported now.
  if (path && sources.size > 0) {
    const hidden = parseAll(fileRaw).issues.filter((issue) => issue.code !== 'unrecognized_keys' && sources.has(keyOf(issue.path)));
    for (const issue of hidden) {
      const source = sources.get(keyOf(issue.path))!;
      problems.push(`${label}: ${formatIssue(issue)} (${source} overrides it here, but the file is wrong without it)`);
    }
  }
  if (!c) return { config: undefined, problems };

  // Relative paths in a file are relative to the file, so a config works from any directory.
  const base = path ? dirname(path) : (opts.cwd ?? process.cwd());
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));

  if (c.server.mode === 'production') {
    if (!c.keystore.tls.cert_file || !c.keystore.tls.key_file) {
      problems.push(`${label}: key "keystore.tls.cert_file": production mode requires cert_file and key_file`);
    }
  }
  if ((c.keystore.tls.cert_file === undefined) !== (c.keystore.tls.key_file === undefined) && c.server.mode !== 'production') {
    problems.push(`${label}: key "keystore.tls": cert_file and key_file go together`);
  }

  const port = c.server.port;
  const defaultBase = `https://${c.server.hostname}${port === 443 ? '' : `:${port}`}`;
  const baseUrl = (c.server.base_url ?? defaultBase).replace(/\/+$/, '');
  const dataDir = abs(c.server.data_dir);
  const dbUrl = c.database.url ?? `sqlite:${resolve(dataDir, 'opendcr.db')}`;
  if (!/^(postgres|postgresql):\/\//.test(dbUrl) && !dbUrl.startsWith('sqlite:')) {
    problems.push(`${label}: key "database.url": expected postgres://… or sqlite:PATH${setBy('database.url')}`);
  }

  let self: URL | undefined;
  try {
    self = new URL(baseUrl);
  } catch {
    problems.push(`${label}: key "server.hostname": "${c.server.hostname}" does not make a valid URL`);
  }
  const outboundHosts = [
    ...new Set([
      ...c.oauth.allowed_outbound_hosts,
      new URL(c.open_banking.dcr.jwks_url_sandbox ?? OB_SANDBOX_JWKS).host,
      new URL(c.open_banking.dcr.jwks_url_production).host,
      ...(c.server.mode === 'sandbox' ? [...(self ? [self.host] : []), `localhost:${port}`, `127.0.0.1:${port}`] : []),
    ]),
  ];

  const accountSource = c.psu.account_source;
  if (accountSource && !isAllowedUrl(new URL(accountSource.url.replace('{psu}', 'x')), { allowedHosts: outboundHosts })) {
    problems.push(`${label}: key "psu.account_source.url": its host must be in [oauth] allowed_outbound_hosts`);
  }
  const idp = c.psu.identity_provider;
  if (idp && !isAllowedUrl(new URL(idp.issuer), { allowedHosts: outboundHosts })) {
    problems.push(`${label}: key "psu.identity_provider.issuer": its host must be in [oauth] allowed_outbound_hosts`);
  }

  const config: Config = {
    ...c,
    psu: {
      ...c.psu,
      ...(accountSource
        ? {
            account_source: {
              ...accountSource,
              ...(accountSource.client_cert_file ? { client_cert_file: abs(accountSource.client_cert_file) } : {}),
              ...(accountSource.client_key_file ? { client_key_file: abs(accountSource.client_key_file) } : {}),
            },
          }
        : {}),
      ...(idp
        ? {
            identity_provider: {
              ...idp,
              ...(idp.client_secret_file ? { client_secret_file: abs(idp.client_secret_file) } : {}),
              ...(idp.private_key_file ? { private_key_file: abs(idp.private_key_file) } : {}),
            },
          }
        : {}),
    },
    keystore: {
      tls: {
        cert_file: c.keystore.tls.cert_file && abs(c.keystore.tls.cert_file),
        key_file: c.keystore.tls.key_file && abs(c.keystore.tls.key_file),
      },
    },
    source: path,
    derived: {
      baseUrl,
      issuer: (c.oauth.issuer ?? baseUrl).replace(/\/+$/, ''),
      resource: c.oauth.resource ?? `${baseUrl}/open-banking`,
      dataDir,
      truststoreDir: c.truststore.dir ? abs(c.truststore.dir) : resolve(dataDir, 'truststore'),
      databaseUrl: dbUrl.startsWith('sqlite:') && !dbUrl.startsWith('sqlite::memory:') ? `sqlite:${abs(dbUrl.slice('sqlite:'.length))}` : dbUrl,
      outboundHosts,
      registrationEndpoint: `${baseUrl}/open-banking/${c.open_banking.dcr.default_version}/register`,
    },
  };
  const frozen = deepFreeze(config);
  const origins = new Map<string, string>(sources);
  for (const key of ['server.port', 'server.base_url', 'server.hostname', 'server.data_dir', 'database.url']) {
    if (!origins.has(key) && path && getPath(fileRaw, key.split('.')) !== undefined) origins.set(key, path);
  }
  SOURCES.set(frozen, origins);
  return { config: frozen, problems };
}

// Where a loaded configuration's values came from (key → variable, option or file), for messages.
const SOURCES = new WeakMap<Config, ReadonlyMap<string, string>>();

/**
 * Where `key` (e.g. "server.port") of a loaded configuration came from, for messages:
 * `OPENDCR_PORT`, `--port`, the file's path, or undefined for the built-in default.
 */
export function settingSource(config: Config, key: string): string | undefined {
  return SOURCES.get(config)?.get(key);
}

/** Load, validate and freeze the configuration. Throws ConfigError listing every problem, one line each. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const { config, problems } = inspectConfig(opts);
  if (problems.length > 0 || !config) throw new ConfigError(problems);
  return config;
}
