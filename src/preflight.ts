/**
 * What a configuration needs beyond its own values, checked before the server starts and by
 * `opendcr config check`: certificate and key files that can be read, parse and belong
 * together, folders that exist or can be created, a database URL that names a database, inline
 * keys that import; and, on request (`--connect`), the database itself. Every problem is one
 * line naming the file (or variable), the key and the problem; all of them are reported at once.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { dirname, join } from 'node:path';
import { importJWK, type JWK } from 'jose';
import type { Config } from './config/schema.ts';
import { isAllowedUrl } from './http/outbound.ts';
import { createTruststore } from './tls/truststore.ts';
import { describePostgresFailure, describeSqliteFailure, postgresTarget } from './storage/index.ts';
import { whyWeak, whyWeakHash } from './admin/password-rules.ts';

export interface CheckResult {
  /** Each one stops the server (exit 2). */
  readonly problems: string[];
  /** Worth knowing, but the server starts. */
  readonly warnings: string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PEM_KEY = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/;

function readError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a folder' : (code ?? (err as Error).message);
}

/** The nearest existing folder at or above `path`, and whether this process may create entries in it. */
function creatable(path: string): { ok: true } | { ok: false; why: string } {
  let dir = path;
  while (!existsSync(dir)) {
    const up = dirname(dir);
    if (up === dir) return { ok: false, why: 'no existing parent folder' };
    dir = up;
  }
  if (!statSync(dir).isDirectory()) return { ok: false, why: `${dir} is a file, not a folder` };
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return { ok: true };
  } catch {
    return { ok: false, why: `${dir} is not writable` };
  }
}

/** A folder the server writes to: an existing writable folder, or one it can create. */
function checkFolder(
  path: string,
  key: string,
  what: string,
  at: (key: string, text: string) => string,
  problems: string[],
  access: 'read' | 'write' = 'write',
): boolean {
  if (existsSync(path)) {
    if (!statSync(path).isDirectory()) {
      problems.push(at(key, `${path} is not a folder`));
      return false;
    }
    try {
      accessSync(path, constants.R_OK | constants.X_OK | (access === 'write' ? constants.W_OK : 0));
    } catch {
      problems.push(at(key, `${what} ${path} is not ${access === 'write' ? 'writable' : 'readable'}`));
      return false;
    }
    return true;
  }
  const c = creatable(path);
  if (!c.ok) problems.push(at(key, `${what} ${path} does not exist and cannot be created (${c.why})`));
  return false;
}

function checkTls(config: Config, at: (key: string, text: string) => string, problems: string[], warnings: string[]): void {
  const { cert_file: certFile, key_file: keyFile } = config.keystore.tls;
  if (!certFile || !keyFile) return;
  let cert: X509Certificate | undefined;
  let certPem: string | undefined;
  try {
    certPem = readFileSync(certFile, 'utf8');
    const blocks = certPem.match(PEM_CERT);
    if (!blocks) {
      problems.push(at('keystore.tls.cert_file', `${certFile} holds no PEM certificate`));
    } else {
      try {
        cert = new X509Certificate(blocks[0]);
      } catch (err) {
        problems.push(at('keystore.tls.cert_file', `the certificate in ${certFile} cannot be parsed (${(err as Error).message})`));
      }
    }
  } catch (err) {
    problems.push(at('keystore.tls.cert_file', `cannot read ${certFile} (${readError(err)})`));
  }
  if (cert) {
    const now = Date.now();
    if (Date.parse(cert.validTo) < now)
      problems.push(at('keystore.tls.cert_file', `the certificate in ${certFile} expired on ${new Date(cert.validTo).toISOString()}`));
    else if (Date.parse(cert.validFrom) > now)
      warnings.push(at('keystore.tls.cert_file', `the certificate in ${certFile} is not valid before ${new Date(cert.validFrom).toISOString()}`));
    const host = new URL(config.derived.baseUrl).hostname;
    if (cert.checkHost(host) === undefined && cert.checkIP(host) === undefined) {
      warnings.push(
        at(
          'keystore.tls.cert_file',
          `the certificate in ${certFile} is not issued for ${host} (the host of the base URL); clients checking the name will refuse it`,
        ),
      );
    }
  }

  let key: KeyObject | undefined;
  let keyPem: string | undefined;
  try {
    keyPem = readFileSync(keyFile, 'utf8');
    const block = PEM_KEY.exec(keyPem)?.[0];
    if (!block) problems.push(at('keystore.tls.key_file', `${keyFile} holds no PEM private key`));
    else if (block.includes('ENCRYPTED'))
      problems.push(at('keystore.tls.key_file', `the private key in ${keyFile} is encrypted; the server needs it unencrypted (protect the file instead)`));
    else {
      try {
        key = createPrivateKey(block);
      } catch (err) {
        problems.push(at('keystore.tls.key_file', `the private key in ${keyFile} cannot be parsed (${(err as Error).message})`));
      }
    }
  } catch (err) {
    problems.push(at('keystore.tls.key_file', `cannot read ${keyFile} (${readError(err)})`));
  }
  if (cert && key && certPem && keyPem) {
    if (!cert.checkPrivateKey(key)) {
      problems.push(at('keystore.tls.key_file', `the private key in ${keyFile} does not belong to the certificate in ${certFile}`));
      return;
    }
    // Exactly what the listener does with them.
    try {
      createSecureContext({ cert: certPem, key: keyPem, minVersion: 'TLSv1.2' });
    } catch (err) {
      problems.push(at('keystore.tls.cert_file', `${certFile} and ${keyFile} cannot be used for TLS (${(err as Error).message})`));
    }
  }
}

/**
 * The trust store folder: written in sandbox mode (the sandbox CA goes there), only read in
 * production, where it may be a read-only mount or absent: a cluster keeps its CAs in the
 * database (`opendcr truststore add`), and the server warns at start when no CA is trusted at all.
 */
function checkTruststore(config: Config, at: (key: string, text: string) => string, problems: string[], warnings: string[]): void {
  const dir = config.derived.truststoreDir;
  const key = config.truststore.dir ? 'truststore.dir' : 'server.data_dir';
  if (!checkFolder(dir, key, 'the trust store folder', at, problems, config.server.mode === 'production' ? 'read' : 'write')) return;
  const skipped: string[] = [];
  createTruststore(dir, { onInvalidFile: (file, err) => skipped.push(`${file}: ${err.message}`) }).loadCaPems();
  for (const s of skipped) warnings.push(at(key, `the trust store skips ${join(dir, s)}`));
}

function checkSandboxPki(config: Config, at: (key: string, text: string) => string, problems: string[]): void {
  if (config.keystore.tls.cert_file) return;
  const keyFile = join(config.derived.dataDir, 'pki', 'ca-key.pem');
  if (!existsSync(keyFile)) return; // generated on first start
  const fix = 'delete the pki folder to generate a new sandbox CA';
  let text: string;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch (err) {
    problems.push(at('server.data_dir', `cannot read ${keyFile} (${readError(err)})`));
    return;
  }
  const keyPem = PEM_KEY.exec(text)?.[0];
  // Older layouts kept only the key in ca-key.pem; then ca.pem holds the certificate.
  const caFile = join(config.derived.dataDir, 'pki', 'ca.pem');
  const certPem = text.match(PEM_CERT)?.[0] ?? (existsSync(caFile) ? readFileSync(caFile, 'utf8').match(PEM_CERT)?.[0] : undefined);
  try {
    if (!keyPem || !certPem || !new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
      problems.push(at('server.data_dir', `${keyFile} does not hold a matching sandbox CA key and certificate; ${fix}`));
    }
  } catch (err) {
    problems.push(at('server.data_dir', `${keyFile} cannot be parsed (${(err as Error).message}); ${fix}`));
  }
}

function checkDatabaseUrl(config: Config, at: (key: string, text: string) => string, problems: string[]): void {
  const url = config.derived.databaseUrl;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === ':memory:') return;
    if (existsSync(path)) {
      if (statSync(path).isDirectory()) problems.push(at('database.url', `the SQLite database ${path} is a folder`));
      else {
        try {
          accessSync(path, constants.R_OK | constants.W_OK);
        } catch {
          problems.push(at('database.url', `the SQLite database ${path} is not writable`));
        }
      }
      return;
    }
    const c = creatable(dirname(path));
    if (!c.ok) problems.push(at(config.database.url ? 'database.url' : 'server.data_dir', `the SQLite database ${path} cannot be created (${c.why})`));
    return;
  }
  if (!/^postgres(ql)?:\/\//.test(url)) return; // already reported by the loader
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    problems.push(at('database.url', 'the PostgreSQL URL cannot be parsed (expected postgres://user@host:5432/database)'));
    return;
  }
  if (!u.hostname && !u.searchParams.get('host'))
    problems.push(at('database.url', 'the PostgreSQL URL names no host (expected postgres://user@host:5432/database)'));
}

async function checkInlineKeys(config: Config, at: (key: string, text: string) => string, problems: string[], warnings: string[]): Promise<void> {
  const issuers = config.oauth.grant_type.jwt_bearer.trusted_issuers;
  for (const [i, t] of issuers.entries()) {
    const base = `oauth.grant_type.jwt_bearer.trusted_issuers.${i}`;
    if (t.jwks_url && !isAllowedUrl(new URL(t.jwks_url), { allowedHosts: config.derived.outboundHosts })) {
      warnings.push(
        at(`${base}.jwks_url`, `${new URL(t.jwks_url).host} is not in [oauth] allowed_outbound_hosts, so the key set of "${t.issuer}" cannot be fetched`),
      );
    }
    for (const [j, jwk] of (t.jwks?.keys ?? []).entries()) {
      if ('d' in jwk) {
        problems.push(at(`${base}.jwks.keys.${j}`, "holds a private key; configure only the issuer's public keys"));
        continue;
      }
      try {
        await importJWK(jwk as JWK, typeof jwk['alg'] === 'string' ? jwk['alg'] : 'PS256');
      } catch (err) {
        problems.push(at(`${base}.jwks.keys.${j}`, `not a usable public key (${(err as Error).message})`));
      }
    }
  }
}

/**
 * Production: no administrator password a guess would find (src/admin/password-rules.ts). A
 * [super_admin] password is checked in full; a console user's is known only by its scrypt hash,
 * so only the user name and the commonest defaults are tried against it.
 */
async function checkAdminPasswords(config: Config, at: (key: string, text: string) => string, problems: string[]): Promise<void> {
  if (config.server.mode !== 'production') return;
  const { username, password } = config.super_admin;
  if (password === 'admin') {
    problems.push(at('super_admin.password', 'the default password is not allowed in production mode (set OPENDCR_ADMIN_PASSWORD)'));
  } else {
    const why = whyWeak(password, username);
    if (why) problems.push(at('super_admin.password', `the password ${why}, which production mode refuses (set OPENDCR_ADMIN_PASSWORD to a long random one)`));
  }
  // One user at a time: each hash costs a few scrypt runs.
  for (const [i, user] of config.admin.users.entries()) {
    const why = await whyWeakHash(user.password_hash, user.username);
    if (why)
      problems.push(
        at(
          `admin.users.${i}.password_hash`,
          `the password of "${user.username}" ${why}, which production mode refuses (hash another with \`opendcr admin hash-password\`)`,
        ),
      );
  }
}

/** Everything start needs besides valid values; no network, nothing written. */
export async function checkConfig(config: Config): Promise<CheckResult> {
  const label = config.source ?? 'built-in defaults';
  const at = (key: string, text: string) => `${label}: key "${key}": ${text}`;
  const problems: string[] = [];
  const warnings: string[] = [];
  await checkAdminPasswords(config, at, problems);
  checkTls(config, at, problems, warnings);
  checkFolder(config.derived.dataDir, 'server.data_dir', 'the data folder', at, problems);
  checkTruststore(config, at, problems, warnings);
  checkSandboxPki(config, at, problems);
  checkDatabaseUrl(config, at, problems);
  await checkInlineKeys(config, at, problems, warnings);
  return { problems, warnings };
}

/** The result of reaching the database: a note when it answered, else a one-line problem and whether it is a configuration problem (exit 2) or not (exit 1). */
export type ConnectResult = { readonly ok: true; readonly note: string } | { readonly ok: false; readonly problem: string; readonly configuration: boolean };

/**
 * Reaches the database without changing it: PostgreSQL answers a query as the configured user in
 * the configured database; an existing SQLite file opens read-only and its schema can be read.
 */
export async function connectDatabase(config: Config, timeoutMs = 5000): Promise<ConnectResult> {
  const url = config.derived.databaseUrl;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === ':memory:') return { ok: true, note: 'database: SQLite in memory (nothing is kept)' };
    if (!existsSync(path)) return { ok: true, note: `database: SQLite ${path} (not created yet; the server creates it on first start)` };
    const { DatabaseSync } = await import('node:sqlite');
    try {
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        const row = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
        return { ok: true, note: `database: SQLite ${path} opened (${row.n} tables)` };
      } finally {
        db.close();
      }
    } catch (err) {
      const f = describeSqliteFailure(err, path);
      return { ok: false, problem: `cannot open the ${f.target}: ${f.reason}`, configuration: f.configuration };
    }
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string }>("SELECT current_setting('server_version') AS version");
    return { ok: true, note: `database: ${postgresTarget(url)} answered (PostgreSQL ${rows[0]?.version ?? 'unknown version'})` };
  } catch (err) {
    const f = describePostgresFailure(err, url);
    return { ok: false, problem: `cannot use the ${f.target}: ${f.reason}`, configuration: f.configuration };
  } finally {
    await client.end().catch(() => undefined);
  }
}
