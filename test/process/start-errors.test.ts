/**
 * When `npm start` cannot start, it says why in one line: the database's own message and
 * SQLSTATE with host:port (never the password), the port that is taken, the SQLite file that is
 * not a database. Exit 2 when the configuration names something that is not there, 1 otherwise;
 * with worker processes the same single line, and no JSON error line besides.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import pg from 'pg';
import { runNode, STACK_LINE, type CliRun } from '../cli/run-cli.ts';
import { freePort } from '../helpers/server.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/test';

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'opendcr-start-errors-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/** `node src/main.ts` in a fresh folder with these OPENDCR_* variables (no configuration file). */
async function start(env: Record<string, string>): Promise<CliRun> {
  const cwd = mkdtempSync(join(root, 'run-'));
  return runNode(MAIN, [], { cwd, env: { OPENDCR_PORT: String(await freePort()), OPENDCR_LOG_LEVEL: 'info', ...env }, timeoutMs: 60_000 });
}

/** Exactly one line on stderr, no stack trace, and no JSON error line on stdout. */
function oneLine(r: CliRun): string {
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, STACK_LINE);
  assert.doesNotMatch(r.stdout, /"level":"(error|fatal)"/, r.stdout);
  return lines[0]!;
}

async function requirePostgres(t: TestContext): Promise<boolean> {
  const c = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch (err) {
    if (process.env['CI'] === 'true') assert.fail(`PostgreSQL not reachable at ${ADMIN_URL} (required when CI=true): ${(err as Error).message}`);
    t.skip(`PostgreSQL not reachable at ${ADMIN_URL}`);
    return false;
  }
}

for (const workers of ['1', '2']) {
  test(`PostgreSQL: a database that does not exist is named, with host:port and SQLSTATE, exit 2 (workers ${workers})`, async (t) => {
    if (!(await requirePostgres(t))) return;
    const db = `opendcr_missing_${randomBytes(5).toString('hex')}`;
    const r = await start({ OPENDCR_WORKERS: workers, OPENDCR_DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:5432/${db}` });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      oneLine(r),
      `opendcr: could not start: cannot use the PostgreSQL database at 127.0.0.1:5432 (database "${db}", user "postgres"): ` +
        `database "${db}" does not exist (SQLSTATE 3D000 invalid_catalog_name); check [database] url (or OPENDCR_DATABASE_URL)`,
    );
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  });
}

test('PostgreSQL: a user that does not exist is named, exit 2', async (t) => {
  if (!(await requirePostgres(t))) return;
  const user = `opendcr_nobody_${randomBytes(4).toString('hex')}`;
  const r = await start({ OPENDCR_WORKERS: '1', OPENDCR_DATABASE_URL: `postgres://${user}:secret-pw@127.0.0.1:5432/test` });
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    oneLine(r),
    new RegExp(
      `^opendcr: could not start: cannot use the PostgreSQL database at 127\\.0\\.0\\.1:5432 \\(database "test", user "${user}"\\): ` +
        `(role "${user}" does not exist|password authentication failed for user "${user}") \\(SQLSTATE 28(000|P01) invalid_\\w+\\); check \\[database\\] url`,
    ),
  );
  assert.doesNotMatch(r.stderr, /secret-pw/);
});

test('PostgreSQL: a port where nothing listens names host:port and the refusal, exit 1, once with workers', async () => {
  const port = await freePort();
  for (const workers of ['1', '2']) {
    const r = await start({ OPENDCR_WORKERS: workers, OPENDCR_DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${port}/test` });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      oneLine(r),
      `opendcr: could not start: cannot use the PostgreSQL database at 127.0.0.1:${port} (database "test", user "postgres"): connection refused (ECONNREFUSED)`,
    );
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  }
});

test('Redis: a port where nothing listens names host:port and the refusal, exit 1, once with workers, never the password', async () => {
  const port = await freePort();
  for (const workers of ['1', '2']) {
    const r = await start({ OPENDCR_WORKERS: workers, OPENDCR_REDIS_URL: `redis://:hunter2@127.0.0.1:${port}/0` });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      oneLine(r),
      `opendcr: could not start: cannot connect to Redis at 127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port}); check [redis] url (or OPENDCR_REDIS_URL)`,
    );
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
  }
});

test('a port in use: one line with the port, exit 1, also with two workers (not once per worker plus a JSON line)', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as { port: number };
  try {
    for (const workers of ['1', '2']) {
      const r = await start({ OPENDCR_WORKERS: workers, OPENDCR_PORT: String(port) });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        oneLine(r),
        `opendcr: could not start: port ${port} on 127.0.0.1 is already in use: another program listens there; ` +
          'stop it, or choose another port with --port N (or [server] port, OPENDCR_PORT)',
      );
    }
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
  }
});

test('SQLite: a database file that is not a database is named, exit 2', async () => {
  const dataDir = join(mkdtempSync(join(root, 'sqlite-')), 'data');
  mkdirSync(dataDir);
  writeFileSync(join(dataDir, 'opendcr.db'), 'not a database '.repeat(100));
  const r = await start({ OPENDCR_WORKERS: '1', OPENDCR_DATA_DIR: dataDir });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(oneLine(r), `opendcr: could not start: cannot open the SQLite database ${join(dataDir, 'opendcr.db')}: file is not a database (SQLITE_NOTADB)`);
});
