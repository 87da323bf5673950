/**
 * Sandbox identities name URLs the running server really serves. The server here runs on a port
 * its configuration file does not name (OPENDCR_PORT in the server's environment only, as when a
 * user starts it in another shell); the command line, run with the file alone, must still put
 * the server's real /sandbox URLs into the directory output, the TPPs and their SSAs. When the
 * server moves to another port, registering re-issues the TPP's URLs; `sandbox tpp reissue` does
 * it on request (with --new-keys, new keys too) and `sandbox tpp delete` removes a TPP.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import { startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';
import { json, runCli, STACK_LINE, tempConfig } from './run-cli.ts';

let configured: number;
let cfg: ReturnType<typeof tempConfig>;
let server: ChildServer | undefined;
let serverPort: number;
const cli = (...args: string[]) => runCli(cfg.file, ...args);
const folderOf = (id: string) => join(cfg.dataDir, 'sandbox', 'tpps', id);
const ssaOf = (id: string) => decodeJwt(readFileSync(join(folderOf(id), 'ssa.jwt'), 'utf8').trim());
const ids: Record<string, string> = {};

async function startOn(port: number): Promise<void> {
  serverPort = port;
  server = await startChildServer({ cwd: cfg.dir, port, args: ['--config', cfg.file], env: { OPENDCR_LOG_LEVEL: 'warn', OPENDCR_WORKERS: '1' } });
}
async function stopServer(): Promise<void> {
  assert.equal(await server?.stop(), 0);
  server = undefined;
}
async function create(name: string): Promise<string> {
  const out = json(await cli('sandbox', 'tpp', 'create', '--name', name, '--roles', 'AISP,PISP', '--redirect-uri', 'https://tpp.example.com/cb', '--json'));
  ids[name] = String(out['software_id']);
  return ids[name];
}

before(async () => {
  configured = await freePort();
  cfg = tempConfig('opendcr-sandbox-base-', configured);
  await startOn(await freePort());
});
after(async () => {
  await server?.stop();
  rmSync(cfg.dir, { recursive: true, force: true });
});

test("sandbox init and tpp create name the running server's URLs, not the configured port", async () => {
  const init = json(await cli('sandbox', 'init', '--json'));
  assert.equal(init['directory_jwks_url'], `https://localhost:${serverPort}/sandbox/directory/jwks`);
  assert.match(String(init['config']), new RegExp(`jwks_url_sandbox = "https://localhost:${serverPort}/sandbox/directory/jwks"`));
  const id = await create('Port Ltd');
  const claims = ssaOf(id);
  assert.equal(claims['software_jwks_endpoint'], `https://localhost:${serverPort}/sandbox/${String(claims['org_id'])}/${id}.jwks`);
  assert.equal(
    claims['org_jwks_revoked_endpoint'],
    `https://localhost:${serverPort}/sandbox/${String(claims['org_id'])}/revoked/${String(claims['org_id'])}.jwks`,
  );
});

test('tpp register with the configuration file alone reaches the running server and succeeds', async () => {
  const r = await cli('tpp', 'register', '--tpp', ids['Port Ltd']!);
  assert.equal(r.code, 0, r.stderr + server!.output());
  assert.ok(r.stdout.includes(`POST https://localhost:${serverPort}/open-banking/v3.3/register → 201 Created`), r.stdout);
});

test("after the server moves to another port, register re-issues the TPP's key set URLs and succeeds", async () => {
  const id = await create('Mover Ltd');
  const before = readFileSync(join(folderOf(id), 'transport.pem'), 'utf8');
  await stopServer();
  await startOn(await freePort());
  const r = await cli('tpp', 'register', '--tpp', id);
  assert.equal(r.code, 0, r.stderr + server!.output());
  assert.match(
    r.stderr,
    new RegExp(
      `^opendcr: note: re-issued the key set URLs of ${id} \\(Mover Ltd\\) for the server running at https://localhost:${serverPort} \\(they named https://localhost:\\d+\\)\\n$`,
    ),
  );
  assert.ok(String(ssaOf(id)['software_jwks_endpoint']).startsWith(`https://localhost:${serverPort}/sandbox/`));
  assert.equal(readFileSync(join(folderOf(id), 'transport.pem'), 'utf8'), before, 'the same identity, only the URLs change');
  const tpp = JSON.parse(readFileSync(join(folderOf(id), 'tpp.json'), 'utf8')) as { jwksBaseUrl: string };
  assert.equal(tpp.jwksBaseUrl, `https://localhost:${serverPort}/sandbox`);
});

test('sandbox tpp list marks TPPs whose URLs name another server; reissue points them at the running one', async () => {
  const id = ids['Port Ltd']!;
  const list = await cli('sandbox', 'tpp', 'list');
  assert.match(
    list.stdout,
    new RegExp(
      `^${id} .+Port Ltd  \\(key set URLs at https://localhost:\\d+/sandbox, not the running server: opendcr sandbox tpp reissue --tpp ${id}\\)$`,
      'm',
    ),
  );
  const kid = (JSON.parse(readFileSync(join(folderOf(id), 'tpp.json'), 'utf8')) as { signingKey: { kid: string } }).signingKey.kid;
  const out = json(await cli('sandbox', 'tpp', 'reissue', '--tpp', 'Port Ltd', '--json'));
  assert.equal(out['software_jwks_endpoint'], `https://localhost:${serverPort}/sandbox/${String(out['org_id'])}/${id}.jwks`);
  assert.equal(out['signing_kid'], kid, 'without --new-keys the keys stay');
  assert.equal(String(ssaOf(id)['software_jwks_endpoint']), out['software_jwks_endpoint'], 'a new SSA with the new URLs');
  const listed = await cli('sandbox', 'tpp', 'list');
  assert.doesNotMatch(listed.stdout, /not the running server/);
});

test('sandbox tpp reissue --new-keys: new signing key and transport certificate, same ids; the TPP registers again', async () => {
  const id = ids['Port Ltd']!;
  const oldCert = new X509Certificate(readFileSync(join(folderOf(id), 'transport.pem')));
  const oldKid = (JSON.parse(readFileSync(join(folderOf(id), 'tpp.json'), 'utf8')) as { signingKey: { kid: string } }).signingKey.kid;
  const out = json(await cli('sandbox', 'tpp', 'reissue', '--tpp', id, '--new-keys', '--json'));
  assert.equal(out['software_id'], id);
  assert.notEqual(out['signing_kid'], oldKid);
  const cert = new X509Certificate(readFileSync(join(folderOf(id), 'transport.pem')));
  assert.notEqual(cert.fingerprint256, oldCert.fingerprint256);
  assert.equal(cert.subject, oldCert.subject);
  const jwks = JSON.parse(readFileSync(join(folderOf(id), 'software.jwks.json'), 'utf8')) as { keys: Array<{ kid: string }> };
  assert.ok(!jwks.keys.some((k) => k.kid === oldKid), 'the old signing key is no longer published');
  const r = await cli('tpp', 'register', '--tpp', id);
  assert.equal(r.code, 0, r.stderr + server!.output());
});

test('sandbox tpp delete: a registered TPP needs --force; then its folder is gone', async () => {
  const id = ids['Port Ltd']!;
  const refused = await cli('sandbox', 'tpp', 'delete', '--tpp', id);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    new RegExp(
      `^opendcr: ${id} \\(Port Ltd\\) is registered as client \\S+ at https://localhost:${serverPort}: ` +
        `delete that registration first \\(opendcr tpp delete --tpp ${id}\\), or pass --force to forget it\\n$`,
    ),
  );
  assert.ok(existsSync(folderOf(id)));
  const deleted = await cli('sandbox', 'tpp', 'delete', '--tpp', id, '--force');
  assert.equal(deleted.code, 0, deleted.stderr);
  assert.match(deleted.stdout, new RegExp(`^Deleted TPP ${id} \\(Port Ltd\\) and its folder ${folderOf(id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
  assert.ok(!existsSync(folderOf(id)));
  const list = json<Array<Record<string, unknown>>>(await cli('sandbox', 'tpp', 'list', '--json'));
  assert.ok(!list.some((t) => t['software_id'] === id));
  const again = await cli('sandbox', 'tpp', 'delete', '--tpp', id);
  assert.equal(again.code, 1);
  assert.match(again.stderr, new RegExp(`^opendcr: no sandbox TPP with software_id or name "${id}"`));
});

test('with no server running, register names the key set URL that cannot be fetched and why', async () => {
  await stopServer();
  const id = await create('Orphan Ltd');
  // No server of this data folder runs, so the TPP names the configured base URL, where nothing listens.
  assert.ok(String(ssaOf(id)['software_jwks_endpoint']).startsWith(`https://localhost:${configured}/sandbox/`));
  const r = await cli('tpp', 'register', '--tpp', id);
  assert.equal(r.code, 1);
  assert.doesNotMatch(r.stderr, STACK_LINE);
  assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `^opendcr: the key set URLs of ${id} \\(Orphan Ltd\\) do not answer: https://localhost:${configured}/sandbox/\\w+/${id}\\.jwks: ` +
        `connect ECONNREFUSED 127\\.0\\.0\\.1:${configured}; the server of this data folder publishes them: start it, then run the command again`,
    ),
  );
});
