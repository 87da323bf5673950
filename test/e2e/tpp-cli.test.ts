/**
 * A TPP onboarding end to end with the command line only: a server
 * started as a child process (`node src/main.ts`, sandbox mode), and `opendcr sandbox …` /
 * `opendcr tpp …` run as child processes sharing its data_dir. Over real HTTPS and mTLS:
 * register → token → get → update → delete → get refused, with private_key_jwt and
 * tls_client_auth; a revoked signing key; a rejected request's error shown.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { startChildServer, type ChildServer } from '../helpers/child-server.ts';
import { freePort } from '../helpers/server.ts';
import { json, runCli, STACK_LINE, tempConfig } from '../cli/run-cli.ts';

let port: number;
let cfg: ReturnType<typeof tempConfig>;
let server: ChildServer;
const cli = (...args: string[]) => runCli(cfg.file, ...args);
const folderOf = (softwareId: string) => join(cfg.dataDir, 'sandbox', 'tpps', softwareId);

/** Creates a TPP and returns its software_id. */
async function createTpp(name: string, roles: string): Promise<string> {
  const out = json(await cli('sandbox', 'tpp', 'create', '--name', name, '--roles', roles, '--redirect-uri', 'https://tpp.example.com/callback', '--json'));
  return String(out['software_id']);
}

before(async () => {
  port = await freePort();
  cfg = tempConfig('opendcr-e2e-tpp-cli-', port);
  server = await startChildServer({ cwd: cfg.dir, port, args: ['--config', cfg.file], env: { OPENDCR_LOG_LEVEL: 'warn' } });
  const init = await cli('sandbox', 'init');
  assert.equal(init.code, 0, init.stderr);
});

after(async () => {
  await server?.stop();
  rmSync(cfg.dir, { recursive: true, force: true });
});

for (const auth of ['private_key_jwt', 'tls_client_auth'] as const) {
  describe(`the TPP lifecycle with ${auth}`, () => {
    let id: string;
    let clientId: string;
    let oldToken: string;

    before(async () => {
      id = await createTpp(`Lifecycle ${auth}`, 'AISP,PISP');
    });

    test('register: 201, the decoded SSA and request shown, registration.json saved', async () => {
      const r = await cli('tpp', 'register', '--tpp', id, '--auth', auth);
      assert.equal(r.code, 0, r.stderr + server.output());
      assert.match(r.stdout, /Software statement \(SSA\) claims, signed by the directory "OpenDCR Sandbox Directory":/);
      assert.match(r.stdout, /Registration request claims, signed PS256 with the TPP's key /);
      assert.ok(r.stdout.includes(`POST https://localhost:${port}/open-banking/v3.3/register → 201 Created`), r.stdout);
      const saved = JSON.parse(readFileSync(join(folderOf(id), 'registration.json'), 'utf8')) as Record<string, unknown>;
      clientId = String(saved['client_id']);
      assert.deepEqual(
        { ...saved, client_id: 'x', registered_at: 'x' },
        {
          client_id: 'x',
          server: `https://localhost:${port}`,
          version: 'v3.3',
          token_endpoint_auth_method: auth,
          scope: 'openid accounts payments',
          registered_at: 'x',
          local: true,
        },
      );
      assert.ok(r.stdout.includes(`"client_id": "${clientId}"`));
    });

    test('token: a client_credentials access token bound to the transport certificate', async () => {
      const body = json(await cli('tpp', 'token', '--tpp', id, '--json'));
      assert.equal(body['token_type'], 'Bearer');
      assert.equal(body['scope'], 'accounts payments');
      oldToken = String(body['access_token']);
      const claims = decodeJwt(oldToken);
      assert.deepEqual([claims['client_id'], claims.sub], [clientId, clientId]);
      assert.equal(typeof (claims['cnf'] as Record<string, unknown>)['x5t#S256'], 'string');
      const readable = await cli('tpp', 'token', '--tpp', id);
      assert.equal(readable.code, 0, readable.stderr);
      assert.match(readable.stdout, /→ 200 OK\n[\s\S]*Access token claims:\n[\s\S]*"client_id": "/);
    });

    test('get: 200 with the registration', async () => {
      const body = json(await cli('tpp', 'get', '--tpp', id, '--json'));
      assert.deepEqual([body['client_id'], body['token_endpoint_auth_method'], body['software_id']], [clientId, auth, id]);
      if (auth === 'tls_client_auth') assert.match(String(body['tls_client_auth_subject_dn']), new RegExp(`^CN=${id},OU=`));
    });

    test('update: 200 with the narrowed scope, registration.json follows', async () => {
      const body = json(await cli('tpp', 'update', '--tpp', id, '--scope', 'openid accounts', '--json'));
      assert.deepEqual([body['client_id'], body['scope']], [clientId, 'openid accounts']);
      const saved = JSON.parse(readFileSync(join(folderOf(id), 'registration.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(saved['scope'], 'openid accounts');
    });

    test('delete: 204, registration.json removed', async () => {
      const r = await cli('tpp', 'delete', '--tpp', id);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /→ 204 No Content\nDeleted client /);
      assert.ok(!existsSync(join(folderOf(id), 'registration.json')));
    });

    test("get after delete: 401, the server's error printed, exit 1", async () => {
      // With the token issued before the deletion: the registration endpoint refuses it.
      const withOld = await cli('tpp', 'get', '--tpp', id, '--client-id', clientId, '--access-token', oldToken);
      assert.equal(withOld.code, 1);
      assert.match(withOld.stdout, /→ 401 Unauthorized\n\{\n {2}"error": "invalid_token"/);
      assert.equal(
        withOld.stderr,
        'opendcr: the server rejected the read request (HTTP 401): invalid_token: the access token is not valid for this registration\n',
      );
      // Asking for a new token: the deleted client cannot authenticate any more.
      const fresh = await cli('tpp', 'get', '--tpp', id, '--client-id', clientId, '--json');
      assert.equal(fresh.code, 1);
      assert.equal((JSON.parse(fresh.stdout) as Record<string, unknown>)['error'], 'invalid_client');
      assert.match(fresh.stderr, /^opendcr: the server rejected the client_credentials token request \(HTTP 401\): invalid_client: /);
      assert.doesNotMatch(withOld.stderr + fresh.stderr, STACK_LINE);
    });
  });
}

test('v3.1 with tls_client_auth sends tls_client_auth_dn', async () => {
  const id = await createTpp('Version 3.1', 'CBPII');
  const r = await cli('tpp', 'register', '--tpp', id, '--version', 'v3.1', '--auth', 'tls_client_auth');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"tls_client_auth_dn": "CN=/);
  assert.ok(r.stdout.includes(`POST https://localhost:${port}/open-banking/v3.1/register → 201 Created`));
  const saved = JSON.parse(readFileSync(join(folderOf(id), 'registration.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([saved['version'], saved['scope']], ['v3.1', 'openid fundsconfirmations']);
  // The registration's version and auth method are the defaults from then on.
  assert.equal(json(await cli('tpp', 'get', '--tpp', id, '--json'))['client_id'], saved['client_id']);
});

test("a rejected registration shows the server's error and description and exits 1", async () => {
  const id = await createTpp('No Payments', 'AISP');
  const r = await cli('tpp', 'register', '--tpp', id, '--scope', 'openid payments');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /→ 400 Bad Request/);
  assert.equal(
    r.stderr,
    'opendcr: the server rejected the registration (HTTP 400): invalid_client_metadata: scope payments needs the PISP role, which the software statement does not grant\n',
  );
  const asJson = await cli('tpp', 'register', '--tpp', id, '--scope', 'openid payments', '--json');
  assert.equal(asJson.code, 1);
  assert.deepEqual(JSON.parse(asJson.stdout), {
    error: 'invalid_client_metadata',
    error_description: 'scope payments needs the PISP role, which the software statement does not grant',
  });
});

// Revoked lists are served with no-cache and checked before the signature, so every worker
// refuses the key at once, whatever it had cached.
test('after revoke-key, a registration signed with the revoked key is refused: unapproved_software_statement', async () => {
  const id = await createTpp('Compromised', 'AISP');
  // Registered once (the server now knows the software's key set), then the key is compromised.
  assert.equal((await cli('tpp', 'register', '--tpp', id)).code, 0);
  assert.equal((await cli('sandbox', 'tpp', 'revoke-key', '--tpp', id)).code, 0);
  const r = await cli('tpp', 'register', '--tpp', id);
  assert.equal(r.code, 1, r.stdout);
  assert.match(
    r.stderr,
    /^opendcr: the server rejected the registration \(HTTP 400\): unapproved_software_statement: the key \S+ that signed the registration request has been revoked\n$/,
  );
});
