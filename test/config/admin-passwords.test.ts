/**
 * Production mode refuses to start with an administrator password a guess would find: a
 * [super_admin] password shorter than 12 characters, equal to the user name, or any variant of a
 * well-known default (casing, whitespace, separators, look-alike characters, digits or symbols
 * added, repeats); and an [[admin.users]] hash of the user name or of admin, password or
 * changeme. Each is one line naming the key and the reason (never the password), exit 2, as the
 * other configuration errors; `opendcr config check` says the same. Sandbox mode keeps `admin`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify as toToml } from 'smol-toml';
import { hashPassword } from '../../src/admin/passwords.ts';
import { createCertificateAuthority, issueServerCertificate, type IssuedCertificate } from '../../src/crypto/pki.ts';
import { loadCheckedConfig } from '../../src/start.ts';
import { CLI, runNode, STACK_LINE } from '../cli/run-cli.ts';
import { freePort } from '../helpers/server.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
let root: string;
let server: IssuedCertificate;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'opendcr-admin-passwords-'));
  const ca = await createCertificateAuthority({ subject: 'CN=Password CA', validityDays: 30 });
  server = await issueServerCertificate(ca, { dnsNames: ['localhost'], ipAddresses: [], validityDays: 30 });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A production opendcr.toml (certificate files that work) with these [super_admin] and [[admin.users]]. */
function production(superAdmin: Record<string, string>, users: Array<Record<string, string>> = []): string {
  const dir = mkdtempSync(join(root, 'cfg-'));
  writeFileSync(join(dir, 'server.pem'), server.chainPem);
  writeFileSync(join(dir, 'server-key.pem'), server.keyPem);
  const file = join(dir, 'opendcr.toml');
  writeFileSync(
    file,
    toToml({
      server: { mode: 'production', data_dir: join(dir, 'data') },
      log: { level: 'warn' },
      keystore: { tls: { cert_file: 'server.pem', key_file: 'server-key.pem' } },
      super_admin: superAdmin,
      admin: { users },
    }),
  );
  return file;
}

const problemsOf = async (file: string, env: NodeJS.ProcessEnv = {}) => [...((await loadCheckedConfig({ path: file, env })).problems ?? [])];
const superAdminLine = (file: string, reason: string) =>
  `${file}: key "super_admin.password": the password ${reason}, which production mode refuses (set OPENDCR_ADMIN_PASSWORD to a long random one)`;

// Every variant a person types of a default, of the user name, and short ones; each with the reason start gives.
const WEAK: Array<[password: string, reason: string, username?: string]> = [
  ...['Admin', 'ADMIN', 'admin ', ' admin', '\tAdmin\n', 'a d m i n', 'ADMIN!!!', '4dm1n', 'admin-admin-admin', 'Admin_2024', 'ａｄｍｉｎ１２３４５６７８'].map(
    (p): [string, string] => [p, 'is a variant of the well-known default password "admin"'],
  ),
  ...['password', 'Password', 'PASSWORD 1234', 'P@ssw0rd1234', 'pass word 2024!', 'Passw0rd!!!!', 'password\u200b1234'].map((p): [string, string] => [
    p,
    'is a variant of the well-known default password "password"',
  ]),
  ...['changeme', 'Change Me', 'CHANGE-ME-2024', 'change_me_change_me', 'Ch4ng3M3!!!!!'].map((p): [string, string] => [
    p,
    'is a variant of the well-known default password "changeme"',
  ]),
  ['Administrator1', 'is a variant of the well-known default password "administrator"'],
  ['letmein letmein', 'is a variant of the well-known default password "letmein"'],
  ['OpenDCR 2025!!', 'is a variant of the well-known default password "opendcr"'],
  ['Super-Admin-1234', 'is a variant of the well-known default password "superadmin"'],
  ['qwerty123456', 'is a variant of the well-known default password "qwerty"'],
  ['x', 'is shorter than 12 characters'],
  ['Tr0ub4dor&3', 'is shorter than 12 characters'],
  ['eleven char', 'is shorter than 12 characters'],
  ['short pass     ', 'is shorter than 12 characters'],
  ['bank-operator-01', 'is the user name', 'bank-operator-01'],
  ['Bank Operator 01', 'is the user name', 'bank-operator-01'],
  ['BANK_OPERATOR_2024', 'is the user name', 'bank-operator-01'],
];

test('production: each weak [super_admin] password is refused at start, one line naming the key and why', async () => {
  for (const [password, reason, username] of WEAK) {
    const file = production({ ...(username ? { username } : {}), password });
    assert.deepEqual(await problemsOf(file), [superAdminLine(file, reason)], JSON.stringify(password));
  }
  // The exact built-in default keeps its own line (the variable to set).
  const bare = production({});
  assert.deepEqual(await problemsOf(bare), [
    `${bare}: key "super_admin.password": the default password is not allowed in production mode (set OPENDCR_ADMIN_PASSWORD)`,
  ]);
  // From the environment, as a deployment sets it.
  assert.deepEqual(await problemsOf(bare, { OPENDCR_ADMIN_PASSWORD: ' Admin ' }), [
    superAdminLine(bare, 'is a variant of the well-known default password "admin"'),
  ]);
  assert.deepEqual(await problemsOf(bare, { OPENDCR_ADMIN_PASSWORD: 'a-long-random-passphrase-9c1e' }), []);
  for (const strong of ['correct horse battery staple', 'k3Jx!9vQ#pL2mZ', 'admin is not my password, this is']) {
    assert.deepEqual(await problemsOf(production({ password: strong })), [], strong);
  }
});

test('production: a console user whose hash is of the user name or a common default is refused; the server says which user, not the password', async () => {
  const users = [
    { username: 'alice', password_hash: await hashPassword('alice'), role: 'admin' },
    { username: 'bob', password_hash: await hashPassword('admin'), role: 'auditor' },
    { username: 'carol', password_hash: await hashPassword('password'), role: 'admin' },
    { username: 'dave', password_hash: await hashPassword('changeme'), role: 'admin' },
    { username: 'erin', password_hash: await hashPassword('a-long-console-password-77'), role: 'admin' },
  ];
  const file = production({ password: 'a-long-random-passphrase-9c1e' }, users);
  assert.deepEqual(await problemsOf(file), [
    `${file}: key "admin.users.0.password_hash": the password of "alice" is the user name, which production mode refuses (hash another with \`opendcr admin hash-password\`)`,
    `${file}: key "admin.users.1.password_hash": the password of "bob" is the well-known default password "admin", which production mode refuses (hash another with \`opendcr admin hash-password\`)`,
    `${file}: key "admin.users.2.password_hash": the password of "carol" is the well-known default password "password", which production mode refuses (hash another with \`opendcr admin hash-password\`)`,
    `${file}: key "admin.users.3.password_hash": the password of "dave" is the well-known default password "changeme", which production mode refuses (hash another with \`opendcr admin hash-password\`)`,
  ]);
});

test('npm start and config check refuse a weak password with exit 2 and the same line; sandbox mode starts with `admin`', async () => {
  const file = production({ password: 'Admin ' });
  const line = `opendcr: ${superAdminLine(file, 'is a variant of the well-known default password "admin"')}`;
  const start = await runNode(MAIN, ['--config', file], { env: { OPENDCR_WORKERS: '2', OPENDCR_PORT: String(await freePort()) } });
  assert.equal(start.code, 2, start.stderr);
  assert.deepEqual(start.stderr.split('\n').filter(Boolean), [line]);
  assert.doesNotMatch(start.stderr, STACK_LINE);
  const check = await runNode(CLI, ['--config', file, 'config', 'check']);
  assert.equal(check.code, 2);
  assert.deepEqual(check.stderr.split('\n').filter(Boolean), [line]);

  const sandbox = join(mkdtempSync(join(root, 'sandbox-')), 'opendcr.toml');
  writeFileSync(sandbox, toToml({ server: { data_dir: join(root, 'sandbox-data') }, super_admin: { password: 'admin' } }));
  assert.deepEqual(await problemsOf(sandbox), []);
});
