/**
 * The command line finds the server: `opendcr start` takes --port, --config and --data-dir; a
 * running server records itself in {data_dir}/server.json, so commands run in the same folder
 * reach it without flags whatever port it was started on; and when no server answers, the error
 * says which URL was tried, where that URL came from and how to point the CLI elsewhere.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';
import { CLI, json, runCli, runNode, STACK_LINE, tempConfig } from './run-cli.ts';

test('opendcr start --help shows --port, --config and --data-dir', async () => {
  const r = await runNode(CLI, ['start', '--help']);
  assert.equal(r.code, 0, r.stderr);
  for (const option of ['--port <port>', '-c, --config <path>', '--data-dir <dir>']) assert.ok(r.stdout.includes(option), `${option} in:\n${r.stdout}`);
});

test('opendcr start with a bad --port is a usage error (exit 2), one line; so is an unknown npm start option', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'opendcr-start-usage-'));
  try {
    const r = await runNode(CLI, ['start', '--port', 'eighty'], { cwd });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'opendcr: --port must be a port number from 0 to 65535, got "eighty"\n');
    const main = new URL('../../src/main.ts', import.meta.url).pathname;
    const unknown = await runNode(main, ['--prot', '9443'], { cwd });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^opendcr: Unknown option '--prot'; usage: npm start -- \[--config FILE\] \[--port N\] \[--data-dir DIR\]/);
    const help = await runNode(main, ['--help'], { cwd });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--port N {12}HTTPS port/);
    assert.ok(!existsSync(join(cwd, 'data')), 'nothing was started');
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

describe('a server started with opendcr start --port in a folder', () => {
  let cwd: string;
  let port: number;
  let server: ChildServer | undefined;
  // Commands run the way a user types them: in the same folder, no --config, no OPENDCR_* variables.
  const cli = (...args: string[]) => runNode(CLI, args, { cwd });

  before(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'opendcr-discovery-'));
    port = await freePort();
    server = await startChildServer({ cwd, port, script: CLI, args: ['start', '--port', String(port)], env: { OPENDCR_PORT: '', OPENDCR_LOG_LEVEL: 'warn' } });
  });
  after(async () => {
    await server?.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  test('records where it runs in {data_dir}/server.json', () => {
    const info = JSON.parse(readFileSync(join(cwd, 'data', 'server.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(info['url'], `https://localhost:${port}`);
    assert.equal(info['port'], port);
    assert.equal(typeof info['pid'], 'number');
    assert.equal(info['ca_file'], join(cwd, 'data', 'pki', 'ca.pem'));
  });

  test('sandbox and tpp commands of the same data folder reach it without --server or a port', async () => {
    const init = json(await cli('sandbox', 'init', '--json'));
    assert.equal(init['directory_jwks_url'], `https://localhost:${port}/sandbox/directory/jwks`);
    const tpp = json(
      await cli('sandbox', 'tpp', 'create', '--name', 'Finder Ltd', '--roles', 'AISP', '--redirect-uri', 'https://tpp.example.com/cb', '--json'),
    );
    assert.equal(tpp['software_jwks_endpoint'], `https://localhost:${port}/sandbox/${String(tpp['org_id'])}/${String(tpp['software_id'])}.jwks`);
    const reg = await cli('tpp', 'register', '--tpp', 'Finder Ltd');
    assert.equal(reg.code, 0, reg.stderr + server!.output());
    assert.ok(reg.stdout.includes(`POST https://localhost:${port}/open-banking/v3.3/register → 201 Created`), reg.stdout);
    const token = await cli('tpp', 'token', '--tpp', 'Finder Ltd', '--json');
    assert.equal(json(token)['token_type'], 'Bearer');
  });

  test('a clean stop removes server.json', async () => {
    assert.equal(await server!.stop(), 0);
    server = undefined;
    assert.ok(!existsSync(join(cwd, 'data', 'server.json')));
  });
});

test('opendcr start --config --data-dir --port: that file, that folder, that port', async () => {
  const port = await freePort();
  const cfg = tempConfig('opendcr-start-options-', await freePort(), 'hostname = "127.0.0.1"\nworkers = 1\n');
  const s = await startChildServer({
    cwd: cfg.dir,
    port,
    script: CLI,
    args: ['--config', cfg.file, 'start', '--data-dir', 'elsewhere', '--port', String(port)],
    env: { OPENDCR_PORT: '' },
  });
  try {
    const info = JSON.parse(readFileSync(join(cfg.dir, 'elsewhere', 'server.json'), 'utf8')) as Record<string, unknown>;
    // hostname from the file, the port from --port, the folder from --data-dir (relative to the working directory).
    assert.equal(info['url'], `https://127.0.0.1:${port}`);
    assert.ok(!existsSync(cfg.dataDir), "the file's data_dir is not used");
    const r = await runNode(CLI, ['--config', cfg.file, '--data-dir', 'elsewhere', 'config', 'show'], { cwd: cfg.dir });
    assert.equal((json(r)['derived'] as Record<string, unknown>)['dataDir'], join(cfg.dir, 'elsewhere'));
  } finally {
    assert.equal(await s.stop(), 0);
    rmSync(cfg.dir, { recursive: true, force: true });
  }
});

test('no server answering: the error names the URL tried, where it came from, and --server', async () => {
  const closed = await freePort();
  const cfg = tempConfig('opendcr-unreachable-', closed);
  try {
    assert.equal((await runCli(cfg.file, 'sandbox', 'init')).code, 0);
    const id = String(
      json(
        await runCli(cfg.file, 'sandbox', 'tpp', 'create', '--name', 'Lost Ltd', '--roles', 'AISP', '--redirect-uri', 'https://tpp.example.com/cb', '--json'),
      )['software_id'],
    );
    const r = await runCli(cfg.file, 'tpp', 'token', '--tpp', id, '--client-id', 'c');
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, STACK_LINE);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^opendcr: cannot reach https://localhost:${closed} \\(the configured base URL: \\[server\\] port ${closed} in ${cfg.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; ` +
          `no server of ${cfg.dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is running\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}; `,
      ),
    );
    assert.match(
      r.stderr,
      /start the server \(npm start\), or point the command line at it with --server URL, or with the --config \/ --data-dir the server uses\n$/,
    );
  } finally {
    rmSync(cfg.dir, { recursive: true, force: true });
  }
});
