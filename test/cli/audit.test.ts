/**
 * `opendcr audit` (src/cli/commands/audit.ts), run in-process through a commander program with
 * exitOverride, against a SQLite database under a temporary data_dir.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Command, CommanderError } from 'commander';
import { auditCommand } from '../../src/cli/commands/audit.ts';
import { CliError } from '../../src/cli/shared.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { openStorage } from '../../src/storage/index.ts';
import type { AuditEvent } from '../../src/storage/index.ts';

const T0 = Date.parse('2027-01-15T08:00:00Z') / 1000;

const EVENTS: AuditEvent[] = [
  { at: T0, event: 'created', softwareId: 'sw-1', orgId: 'org-1', clientId: 'c-1', reason: null, code: null, version: 'v3.3', method: 'POST' },
  {
    at: T0 + 5,
    event: 'rejected',
    softwareId: 'sw-2',
    orgId: null,
    clientId: null,
    reason: 'invalid_software_statement: bad\nsignature \u001b[31m',
    code: 'SSA_SIGNATURE_INVALID',
    version: 'v3.2',
    method: 'POST',
  },
  { at: T0 + 10, event: 'updated', softwareId: 'sw-1', orgId: 'org-1', clientId: 'c-1', reason: null, code: null, version: 'v3.3', method: 'PUT' },
  { at: T0 + 20, event: 'deleted', softwareId: 'sw-1', orgId: 'org-1', clientId: 'c-1', reason: null, code: null, version: 'v3.3', method: 'DELETE' },
  // Rejections by code: two more of one, one of another, and one from before codes were recorded.
  {
    at: T0 + 30,
    event: 'rejected',
    softwareId: 'sw-2',
    orgId: null,
    clientId: null,
    reason: 'invalid_software_statement: x',
    code: 'SSA_SIGNATURE_INVALID',
    version: 'v3.3',
    method: 'POST',
  },
  {
    at: T0 + 31,
    event: 'rejected',
    softwareId: 'sw-3',
    orgId: null,
    clientId: null,
    reason: 'invalid_software_statement: y',
    code: 'SSA_SIGNATURE_INVALID',
    version: 'v3.3',
    method: 'POST',
  },
  {
    at: T0 + 32,
    event: 'rejected',
    softwareId: 'sw-3',
    orgId: null,
    clientId: null,
    reason: 'invalid_client_metadata: z',
    code: 'REQUEST_JTI_REPLAYED',
    version: 'v3.3',
    method: 'POST',
  },
  {
    at: T0 + 33,
    event: 'rejected',
    softwareId: 'sw-3',
    orgId: null,
    clientId: null,
    reason: 'invalid_client_metadata: old',
    code: null,
    version: 'v3.3',
    method: 'POST',
  },
];

let dir: string;
let config: Config;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'opendcr-cli-audit-'));
  const file = join(dir, 'opendcr.toml');
  // No [database] url: the embedded SQLite file under data_dir.
  writeFileSync(file, `[server]\ndata_dir = ${JSON.stringify(join(dir, 'data'))}\n`);
  config = loadConfig({ path: file, env: {} });
  assert.match(config.derived.databaseUrl, /^sqlite:/);
  const storage = await openStorage({ url: config.derived.databaseUrl, poolSize: 1, busyTimeoutMs: 5000 });
  try {
    for (const e of EVENTS) await storage.audit.append(e);
  } finally {
    await storage.close();
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs `opendcr audit ...args` and returns what it wrote to stdout. Only string writes are
 * captured: the test runner reports to its parent through this same stdout with Buffers.
 */
async function runAudit(args: string[], getConfig: () => Config = () => config): Promise<string> {
  const program = new Command('opendcr').exitOverride();
  const errors: string[] = [];
  program.addCommand(
    auditCommand(getConfig)
      .exitOverride()
      .configureOutput({ writeErr: (s) => errors.push(s) }),
  );
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') {
      out.push(chunk);
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['audit', ...args], { from: 'user' });
  } finally {
    process.stdout.write = write;
  }
  return out.join('');
}

const json = async (args: string[]): Promise<Array<Record<string, unknown>>> =>
  JSON.parse(await runAudit([...args, '--json'])) as Array<Record<string, unknown>>;

const events = async (args: string[]): Promise<string[]> => (await json(args)).map((e) => String(e['event']));

test('--json lists every event newest first, snake_case, with ISO time and epoch seconds', async () => {
  const list = await json([]);
  assert.deepEqual(
    list.map((e) => e['event']),
    ['rejected', 'rejected', 'rejected', 'rejected', 'deleted', 'updated', 'rejected', 'created'],
  );
  const [, , , , , , rejected, created] = list;
  assert.deepEqual(created, {
    id: created!['id'],
    time: '2027-01-15T08:00:00.000Z',
    at: T0,
    event: 'created',
    software_id: 'sw-1',
    org_id: 'org-1',
    client_id: 'c-1',
    code: null,
    reason: null,
    version: 'v3.3',
    method: 'POST',
  });
  assert.equal(rejected!['code'], 'SSA_SIGNATURE_INVALID');
  assert.ok(Number.isSafeInteger(created!['id']));
  assert.equal(rejected!['reason'], EVENTS[1]!.reason, 'JSON keeps the reason exactly');
  assert.equal(rejected!['client_id'], null);
});

test('filters: --client-id, --software-id, --event, --since, --limit and all together', async () => {
  assert.deepEqual(await events(['--client-id', 'c-1']), ['deleted', 'updated', 'created']);
  assert.deepEqual(await events(['--software-id', 'sw-2']), ['rejected', 'rejected']);
  assert.deepEqual(
    (await json(['--code', 'SSA_SIGNATURE_INVALID'])).map((e) => e['at']),
    [T0 + 31, T0 + 30, T0 + 5],
  );
  assert.deepEqual(await events(['--event', 'updated']), ['updated']);
  assert.deepEqual(
    await events(['--since', '2027-01-15T08:00:10Z']),
    ['rejected', 'rejected', 'rejected', 'rejected', 'deleted', 'updated'],
    'since is inclusive',
  );
  assert.deepEqual(
    await events(['--since', '2027-01-15T09:00:05+01:00']),
    ['rejected', 'rejected', 'rejected', 'rejected', 'deleted', 'updated', 'rejected'],
    'offsets apply',
  );
  assert.deepEqual(await events(['--since', '2027-01-16']), []);
  assert.deepEqual(await events(['--limit', '2']), ['rejected', 'rejected']);
  assert.deepEqual(await events(['--client-id', 'c-1', '--software-id', 'sw-1', '--event', 'created', '--since', '2027-01-15', '--limit', '1000']), [
    'created',
  ]);
});

test('table output: aligned columns, "-" for empty cells, control characters escaped', async () => {
  const lines = (await runAudit(['--software-id', 'sw-1'])).trimEnd().split('\n');
  assert.deepEqual(lines, [
    'TIME                      EVENT    SOFTWARE_ID  ORG_ID  CLIENT_ID  CODE  REASON',
    '2027-01-15T08:00:20.000Z  deleted  sw-1         org-1   c-1        -     -',
    '2027-01-15T08:00:10.000Z  updated  sw-1         org-1   c-1        -     -',
    '2027-01-15T08:00:00.000Z  created  sw-1         org-1   c-1        -     -',
  ]);
  const rejected = (await runAudit(['--code', 'SSA_SIGNATURE_INVALID', '--software-id', 'sw-2', '--since', '2027-01-15T08:00:05Z', '--limit', '1']))
    .trimEnd()
    .split('\n');
  assert.equal(rejected[1], '2027-01-15T08:00:30.000Z  rejected  sw-2         -       -          SSA_SIGNATURE_INVALID  invalid_software_statement: x');
  const escaped = (await runAudit(['--software-id', 'sw-2'])).trimEnd().split('\n');
  assert.equal(
    escaped[2],
    '2027-01-15T08:00:05.000Z  rejected  sw-2         -       -          SSA_SIGNATURE_INVALID  invalid_software_statement: bad\\u000asignature \\u001b[31m',
  );
  const lines2 = escaped;
  assert.ok(!lines2.join('').includes('\u001b'), 'no raw escape sequence reaches the terminal; a newline cannot add a line');
  assert.equal(await runAudit(['--client-id', 'absent']), 'No audit events match.\n');
});

test('--by-code counts rejections by code, most frequent first, with what each code means; rows from before codes are "(none)"', async () => {
  const lines = (await runAudit(['--by-code'])).trimEnd().split('\n');
  assert.deepEqual(lines, [
    'COUNT  CODE                                MEANING',
    '    3  SSA_SIGNATURE_INVALID               the signature of the software statement (the directory key set) does not verify',
    '    1  REQUEST_JTI_REPLAYED                the jti has been used before: sign a new request',
    '    1  (none: before codes were recorded)',
  ]);
  assert.deepEqual(JSON.parse(await runAudit(['--by-code', '--software-id', 'sw-3', '--json'])), [
    { code: 'REQUEST_JTI_REPLAYED', count: 1 },
    { code: 'SSA_SIGNATURE_INVALID', count: 1 },
    { code: null, count: 1 },
  ]);
  assert.deepEqual(JSON.parse(await runAudit(['--by-code', '--since', '2027-01-15T08:00:31Z', '--json'])), [
    { code: 'REQUEST_JTI_REPLAYED', count: 1 },
    { code: 'SSA_SIGNATURE_INVALID', count: 1 },
    { code: null, count: 1 },
  ]);
  assert.equal(await runAudit(['--by-code', '--since', '2027-02-01']), 'No rejections match.\n');
});

test('invalid --since or --limit: CliError with exit code 2, before the configuration is read', async () => {
  const noConfig = (): Config => {
    throw new Error('configuration must not be read for a usage error');
  };
  const cases: Array<[string[], RegExp]> = [
    [['--since', 'yesterday'], /^--since must be an ISO-8601 date .* got "yesterday"$/],
    [['--since', '2027-01-15T08:00:00'], /^--since must be an ISO-8601 date .*with offset/],
    [['--since', '2027-13-45'], /^--since must be an ISO-8601/],
    [['--since', '1737000000'], /^--since must be an ISO-8601/],
    [['--limit', '0'], /^--limit must be an integer from 1 to 1000, got "0"$/],
    [['--limit', '1001'], /^--limit must be an integer from 1 to 1000, got "1001"$/],
    [['--limit', 'ten'], /^--limit must be an integer/],
    [['--limit', '2.5'], /^--limit must be an integer/],
    [['--limit=-1'], /^--limit must be an integer/],
  ];
  for (const [args, message] of cases) {
    await assert.rejects(runAudit(args, noConfig), (err: unknown) => {
      assert.ok(err instanceof CliError, `${args.join(' ')}: ${String(err)}`);
      assert.equal(err.exitCode, 2);
      assert.match(err.message, message);
      return true;
    });
  }
});

test('an unknown --event is a commander usage error (runCli exits 2)', async () => {
  await assert.rejects(runAudit(['--event', 'granted']), (err: unknown) => {
    assert.ok(err instanceof CommanderError, String(err));
    assert.equal(err.code, 'commander.invalidArgument');
    assert.notEqual(err.exitCode, 0);
    return true;
  });
});
