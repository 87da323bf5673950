/**
 * `opendcr config check` checks what start checks — files readable, certificates and keys that
 * parse and match, production rules, the file's own values even when the environment overrides
 * them — and reports every problem at once, one line each, exit 2. `--connect` also reaches the
 * database. `npm start` refuses the same configurations with the same lines.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';
import type { IssuedCertificate } from '../../src/crypto/pki.ts';
import { inProcess, runNode, STACK_LINE } from '../cli/run-cli.ts';
import { freePort } from '../helpers/server.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';
const PROD = '[server]\nmode = "production"\n[super_admin]\npassword = "a-production-password"\n';

let root: string;
let server: IssuedCertificate;
let other: IssuedCertificate;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'opendcr-check-'));
  const ca = await createCertificateAuthority({ subject: 'CN=Check CA', validityDays: 30 });
  server = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: [], validityDays: 30 });
  other = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: [], validityDays: 30 });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A folder with opendcr.toml holding `toml` (data_dir inside it) and the given extra files. */
function folder(toml: string, files: Record<string, string> = {}): { dir: string; file: string } {
  const dir = mkdtempSync(join(root, 'cfg-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  const file = join(dir, 'opendcr.toml');
  writeFileSync(file, `${toml}\n[log]\nlevel = "warn"\n`);
  return { dir, file };
}

// In this process (the CLI's own parsing, output and exit codes): no Node start-up per check.
const check = (file: string, args: string[] = [], env: Record<string, string> = {}) => inProcess(['--config', file, 'config', 'check', ...args], env);
const lines = (text: string) => text.split('\n').filter(Boolean);
/** The problem lines of stderr (warnings, e.g. a skipped trust store file, are separate). */
const problems = (text: string) => lines(text).filter((l) => !l.startsWith('opendcr: warning: '));

test('production: missing certificate files fail config check, one line per file, exit 2', async () => {
  const { dir, file } = folder(`${PROD}[keystore.tls]\ncert_file = "tls/server.pem"\nkey_file = "tls/server-key.pem"\n`);
  const r = await check(file);
  assert.equal(r.code, 2, r.stdout);
  assert.deepEqual(problems(r.stderr), [
    `opendcr: ${file}: key "keystore.tls.cert_file": cannot read ${join(dir, 'tls', 'server.pem')} (no such file)`,
    `opendcr: ${file}: key "keystore.tls.key_file": cannot read ${join(dir, 'tls', 'server-key.pem')} (no such file)`,
  ]);
  // A missing trust store folder is no problem in production: the cluster's CAs are in the database.
  assert.doesNotMatch(r.stderr, /trust store/);
  assert.equal(r.stdout, '');
});

test('npm start refuses the same configuration with the same lines (exit 2), before opening anything', async () => {
  const { dir, file } = folder(`${PROD}[keystore.tls]\ncert_file = "tls/server.pem"\nkey_file = "tls/server-key.pem"\n`);
  const r = await runNode(MAIN, ['--config', file], { env: { OPENDCR_WORKERS: '2', OPENDCR_PORT: String(await freePort()) } });
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(lines(r.stderr), [
    `opendcr: ${file}: key "keystore.tls.cert_file": cannot read ${join(dir, 'tls', 'server.pem')} (no such file)`,
    `opendcr: ${file}: key "keystore.tls.key_file": cannot read ${join(dir, 'tls', 'server-key.pem')} (no such file)`,
  ]);
  assert.equal(r.stdout, '');
});

test('a certificate file that holds no certificate and a key that does not match are reported', async () => {
  const garbage = folder(`${PROD}[keystore.tls]\ncert_file = "server.pem"\nkey_file = "server-key.pem"\n`, {
    'server.pem': 'not a certificate\n',
    'server-key.pem': 'not a key\n',
  });
  const g = await check(garbage.file);
  assert.equal(g.code, 2);
  assert.deepEqual(problems(g.stderr), [
    `opendcr: ${garbage.file}: key "keystore.tls.cert_file": ${join(garbage.dir, 'server.pem')} holds no PEM certificate`,
    `opendcr: ${garbage.file}: key "keystore.tls.key_file": ${join(garbage.dir, 'server-key.pem')} holds no PEM private key`,
  ]);

  const mismatch = folder(`${PROD}[keystore.tls]\ncert_file = "server.pem"\nkey_file = "server-key.pem"\n`, {
    'server.pem': server.chainPem,
    'server-key.pem': other.keyPem,
  });
  const m = await check(mismatch.file);
  assert.equal(m.code, 2);
  assert.deepEqual(problems(m.stderr), [
    `opendcr: ${mismatch.file}: key "keystore.tls.key_file": the private key in ${join(mismatch.dir, 'server-key.pem')} does not belong to the certificate in ${join(mismatch.dir, 'server.pem')}`,
  ]);

  const good = folder(`${PROD}[keystore.tls]\ncert_file = "server.pem"\nkey_file = "server-key.pem"\n`, {
    'server.pem': server.chainPem,
    'server-key.pem': server.keyPem,
  });
  const ok = await check(good.file);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^configuration OK \\(${good.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, mode production\\)\\n`));
});

test('every problem at once: schema, production rules and files, one line each', async () => {
  const { file } = folder('[server]\nmode = "production"\nprot = 1\n[oauth.token_generation]\nsigning_algorithm = "RS256"\n[truststore]\ndir = "trust.pem"\n', {
    'trust.pem': 'a file, not a folder\n',
  });
  const r = await check(file);
  assert.equal(r.code, 2);
  const got = problems(r.stderr);
  const expected = [
    /^opendcr: .+: unknown key in \[server\] "prot"$/,
    /^opendcr: .+: key "oauth\.token_generation\.signing_algorithm": /,
    /^opendcr: .+: key "keystore\.tls\.cert_file": production mode requires cert_file and key_file$/,
    /^opendcr: .+: key "super_admin\.password": the default password is not allowed in production mode/,
    /^opendcr: .+: key "truststore\.dir": .+trust\.pem is not a folder$/,
  ];
  assert.equal(got.length, expected.length, r.stderr);
  expected.forEach((pattern, i) => {
    assert.match(got[i]!, pattern);
  });
  assert.doesNotMatch(r.stderr, STACK_LINE);
});

test('a bad value in the file is reported even while an environment variable overrides it', async () => {
  const { file } = folder('[server]\nport = "eighty"\n');
  const r = await check(file, [], { OPENDCR_PORT: '9443' });
  assert.equal(r.code, 2, r.stdout);
  assert.deepEqual(lines(r.stderr), [
    `opendcr: ${file}: key "server.port": Invalid input: expected number, received string (OPENDCR_PORT overrides it here, but the file is wrong without it)`,
  ]);
});

test('--connect opens the SQLite database read-only and says where it is', async () => {
  const { dir, file } = folder('[server]\ndata_dir = "state"\n');
  const fresh = await check(file, ['--connect']);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.match(fresh.stdout, new RegExp(`database: SQLite ${join(dir, 'state', 'opendcr.db')} \\(not created yet; the server creates it on first start\\)`));

  const bad = folder('[server]\ndata_dir = "state"\n', {
    'state/opendcr.db': 'this is not an SQLite database, just text that is long enough to fill a header page'.repeat(10),
  });
  const b = await check(bad.file, ['--connect']);
  assert.equal(b.code, 2, b.stdout);
  assert.match(
    b.stderr,
    new RegExp(`^opendcr: cannot open the SQLite database ${join(bad.dir, 'state', 'opendcr.db')}: file is not a database \\(SQLITE_NOTADB\\)\\n$`),
  );
});

test('--connect with PostgreSQL: a missing database is named with host:port, never the password', async (t) => {
  const db = `opendcr_check_${randomBytes(5).toString('hex')}`;
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
  } catch (err) {
    if (process.env['CI'] === 'true') assert.fail(`PostgreSQL not reachable at ${ADMIN_URL} (required when CI=true): ${(err as Error).message}`);
    t.skip(`PostgreSQL not reachable at ${ADMIN_URL}`);
    return;
  }
  const { file } = folder('');
  const env = { OPENDCR_DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:5432/${db}` };
  const plain = await check(file, [], env);
  assert.equal(plain.code, 0, 'without --connect the database is not contacted');
  const r = await check(file, ['--connect'], env);
  assert.equal(r.code, 2, r.stdout);
  assert.deepEqual(lines(r.stderr), [
    `opendcr: cannot use the PostgreSQL database at 127.0.0.1:5432 (database "${db}", user "postgres"): database "${db}" does not exist (SQLSTATE 3D000 invalid_catalog_name)`,
  ]);
  assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);

  const ok = await check(file, ['--connect'], { OPENDCR_DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:5432/test' });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /database: PostgreSQL database at 127\.0\.0\.1:5432 \(database "test", user "postgres"\) answered \(PostgreSQL \d/);
  assert.doesNotMatch(ok.stdout, /hunter2/);
});
