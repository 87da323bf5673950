/**
 * Reads the TOML file and the environment once, validates with the zod schema and returns a
 * frozen Config. Only this module reads process.env.
 */
import { readFileSync, existsSync } from 'node:fs';
import { resolve, dirname, isAbsolute } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { configSchema, OB_SANDBOX_JWKS, type Config } from './schema.ts';

/** Thrown for every configuration problem; `message` is one line naming file, key and problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadOptions {
  /** Explicit path (from --config). */
  path?: string | undefined;
  /** Environment to read overrides from (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Working directory relative paths resolve against when there is no file. */
  cwd?: string;
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

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.map(String).join('.') || '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `in [${issue.path.join('.')}] ` : '';
    return `unknown key ${where}${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return `key "${key}": ${issue.message}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** Load, validate and freeze the configuration. Throws ConfigError with a one-line message. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const path = resolveConfigPath(opts);
  const label = path ?? 'built-in defaults';
  let raw: Record<string, unknown> = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError(`${path}: cannot read the configuration file (${code === 'ENOENT' ? 'no such file' : code ?? 'read error'})`);
    }
    try {
      raw = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof TomlError) {
        throw new ConfigError(`${path}: invalid TOML at line ${err.line}, column ${err.column}: ${err.message.split('\n')[0]}`);
      }
      throw new ConfigError(`${path}: invalid TOML`);
    }
  }

  for (const [name, keyPath, type] of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (type === 'number') {
      const n = Number(value);
      if (!Number.isInteger(n)) throw new ConfigError(`environment ${name}: expected an integer, got "${value}"`);
      setPath(raw, keyPath, n);
    } else {
      setPath(raw, keyPath, value);
    }
  }

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`${label}: ${formatIssue(parsed.error.issues[0]!)}`);
  }
  const c = parsed.data;

  // Relative paths in a file are relative to the file, so a config works from any directory.
  const base = path ? dirname(path) : (opts.cwd ?? process.cwd());
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));

  if (c.server.mode === 'production') {
    if (!c.keystore.tls.cert_file || !c.keystore.tls.key_file) {
      throw new ConfigError(`${label}: key "keystore.tls.cert_file": production mode requires cert_file and key_file`);
    }
    if (c.super_admin.password === 'admin') {
      throw new ConfigError(`${label}: key "super_admin.password": the default password is not allowed in production mode (set OPENDCR_ADMIN_PASSWORD)`);
    }
  }
  if ((c.keystore.tls.cert_file === undefined) !== (c.keystore.tls.key_file === undefined)) {
    throw new ConfigError(`${label}: key "keystore.tls": cert_file and key_file go together`);
  }

  const port = c.server.port;
  const defaultBase = `https://${c.server.hostname}${port === 443 ? '' : `:${port}`}`;
  const baseUrl = (c.server.base_url ?? defaultBase).replace(/\/+$/, '');
  const dataDir = abs(c.server.data_dir);
  const dbUrl = c.database.url ?? `sqlite:${resolve(dataDir, 'opendcr.db')}`;
  if (!/^(postgres|postgresql):\/\//.test(dbUrl) && !dbUrl.startsWith('sqlite:')) {
    throw new ConfigError(`${label}: key "database.url": expected postgres://… or sqlite:PATH`);
  }

  const self = new URL(baseUrl);
  const outboundHosts = [...new Set([
    ...c.oauth.allowed_outbound_hosts,
    new URL(c.open_banking.dcr.jwks_url_sandbox ?? OB_SANDBOX_JWKS).host,
    new URL(c.open_banking.dcr.jwks_url_production).host,
    ...(c.server.mode === 'sandbox' ? [self.host, `localhost:${port}`, `127.0.0.1:${port}`] : []),
  ])];

  const config: Config = {
    ...c,
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
      databaseUrl: dbUrl.startsWith('sqlite:') && !dbUrl.startsWith('sqlite::memory:')
        ? `sqlite:${abs(dbUrl.slice('sqlite:'.length))}` : dbUrl,
      outboundHosts,
      registrationEndpoint: `${baseUrl}/open-banking/${c.open_banking.dcr.default_version}/register`,
    },
  };
  return deepFreeze(config);
}
