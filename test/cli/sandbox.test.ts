/**
 * `opendcr sandbox …` (src/cli/commands/sandbox.ts) and the TPP commands' local failures, run as
 * child processes against a temporary data_dir; no server is needed for any of these.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compactVerify, createLocalJWKSet, decodeJwt } from 'jose';
import { freePort } from '../helpers/server.ts';
import { CLI, inProcess, json, runNode, STACK_LINE, tempConfig } from './run-cli.ts';

/** `opendcr --config FILE …` in this process (the CLI's own parsing, output and exit codes). */
const runCli = (config: string, ...args: string[]) => inProcess(['--config', config, ...args]);

const HELP = [
  [],
  ['sandbox'],
  ['sandbox', 'init'],
  ['sandbox', 'tpp'],
  ['sandbox', 'tpp', 'create'],
  ['sandbox', 'tpp', 'list'],
  ['sandbox', 'tpp', 'revoke-key'],
  ['sandbox', 'tpp', 'reissue'],
  ['sandbox', 'tpp', 'delete'],
  ['start'],
  ['config', 'check'],
  ['tpp'],
  ['tpp', 'register'],
  ['tpp', 'token'],
  ['tpp', 'get'],
  ['tpp', 'update'],
  ['tpp', 'delete'],
  ['demo'],
];

test('--help works for every sandbox, tpp and demo command without a configuration file', async () => {
  const runs = await Promise.all(HELP.map((args) => runNode(CLI, [...args, '--help'])));
  runs.forEach((r, i) => {
    const args = HELP[i]!.join(' ');
    assert.equal(r.code, 0, `${args} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: opendcr ${args}`.trimEnd()), args);
  });
  const tpp = await runNode(CLI, ['tpp', 'register', '--help']);
  for (const option of ['--tpp', '--server', '--ca', '--version', '--auth', '--scope', '--json']) assert.ok(tpp.stdout.includes(option), option);
});

describe('sandbox mode', () => {
  let port: number;
  let cfg: ReturnType<typeof tempConfig>;
  let tppId: string;

  before(async () => {
    port = await freePort();
    cfg = tempConfig('opendcr-cli-sandbox-', port);
  });
  after(() => rmSync(cfg.dir, { recursive: true, force: true }));

  test('tpp create before init says to run sandbox init (exit 1)', async () => {
    const r = await runCli(cfg.file, 'sandbox', 'tpp', 'create', '--name', 'Early', '--roles', 'AISP', '--redirect-uri', 'https://tpp.example.com/cb');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^opendcr: there is no sandbox directory in .+: run `opendcr sandbox init` first\n$/);
  });

  test('init writes the directory, trusts its root and issuing CA and prints the config lines', async () => {
    const r = await runCli(cfg.file, 'sandbox', 'init');
    assert.equal(r.code, 0, r.stderr);
    const sandbox = join(cfg.dataDir, 'sandbox');
    assert.equal(statSync(join(sandbox, 'directory.json')).mode & 0o777, 0o600);
    assert.ok(existsSync(join(sandbox, 'directory-root-ca.pem')) && existsSync(join(sandbox, 'directory-issuing-ca.pem')));
    assert.ok(r.stdout.includes(`jwks_url_sandbox = "https://localhost:${port}/sandbox/directory/jwks"`), r.stdout);
    assert.ok(r.stdout.includes('regulatory_issuers = ["OpenBanking Ltd", "OpenDCR Sandbox Directory"]'), r.stdout);
    assert.ok(r.stdout.includes(`allowed_outbound_hosts = ["localhost:${port}"]`), r.stdout);
    const trusted = trustedFingerprints(cfg.dataDir);
    for (const file of ['directory-root-ca.pem', 'directory-issuing-ca.pem']) {
      assert.ok(trusted.includes(new X509Certificate(readFileSync(join(sandbox, file))).fingerprint256), file);
    }
  });

  test('init refuses to replace a directory without --force (exit 1)', async () => {
    const r = await runCli(cfg.file, 'sandbox', 'init');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a sandbox directory already exists in .+; use --force to replace it/);
  });

  test('tpp create enrols a TPP whose files, certificate, SSA and key set URLs are right', async () => {
    const out = json(
      await runCli(
        cfg.file,
        'sandbox',
        'tpp',
        'create',
        '--name',
        'Acme Ltd',
        '--roles',
        'aisp,PISP',
        '--redirect-uri',
        'https://tpp.example.com/cb',
        '--redirect-uri',
        'https://tpp.example.com/cb2',
        '--json',
      ),
    );
    tppId = String(out['software_id']);
    assert.match(tppId, /^[0-9A-Za-z]{22}$/);
    assert.deepEqual(out['roles'], ['AISP', 'PISP']);
    const folder = join(cfg.dataDir, 'sandbox', 'tpps', tppId);
    assert.equal(out['folder'], folder);
    assert.deepEqual(readdirSync(folder).sort(), [
      'signing-key.pem',
      'software.jwks.json',
      'ssa.jwt',
      'tpp.json',
      'transport-chain.pem',
      'transport-key.pem',
      'transport.pem',
    ]);
    assert.equal(statSync(join(folder, 'transport-key.pem')).mode & 0o777, 0o600);

    const sandbox = join(cfg.dataDir, 'sandbox');
    const cert = new X509Certificate(readFileSync(join(folder, 'transport.pem')));
    assert.ok(cert.checkIssued(new X509Certificate(readFileSync(join(sandbox, 'directory-issuing-ca.pem')))));
    assert.match(cert.subject, new RegExp(`OU=${out['org_id']}\\nCN=${tppId}$`));

    // The SSA verifies with the directory key and points its key sets at this server's /sandbox.
    const directory = JSON.parse(readFileSync(join(sandbox, 'directory.json'), 'utf8')) as { signingCertificate: { certPem: string } };
    const ssa = readFileSync(join(folder, 'ssa.jwt'), 'utf8').trim();
    const key = new X509Certificate(directory.signingCertificate.certPem).publicKey;
    await compactVerify(ssa, key);
    const claims = decodeJwt(ssa);
    assert.equal(claims['software_id'], tppId);
    assert.deepEqual(claims['software_redirect_uris'], ['https://tpp.example.com/cb', 'https://tpp.example.com/cb2']);
    assert.equal(claims['software_jwks_endpoint'], `https://localhost:${port}/sandbox/${out['org_id']}/${tppId}.jwks`);
    assert.equal(claims['software_jwks_revoked_endpoint'], `https://localhost:${port}/sandbox/${out['org_id']}/revoked/${tppId}.jwks`);
    assert.equal(out['software_jwks_endpoint'], claims['software_jwks_endpoint']);
    // The software JWKS holds the signing key (use sig) and the transport certificate (use tls).
    const jwks = JSON.parse(readFileSync(join(folder, 'software.jwks.json'), 'utf8')) as { keys: Array<{ use: string; kid: string }> };
    assert.deepEqual(
      jwks.keys.map((k) => k.use),
      ['sig', 'tls'],
    );
    assert.equal(jwks.keys[0]!.kid, out['signing_kid']);
    assert.ok(createLocalJWKSet(jwks));
  });

  test('tpp create refuses a duplicate name (1) and bad roles or URLs (2)', async () => {
    const dup = await runCli(cfg.file, 'sandbox', 'tpp', 'create', '--name', 'Acme Ltd', '--roles', 'AISP', '--redirect-uri', 'https://tpp.example.com/cb');
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /a TPP named "Acme Ltd" already exists \(software_id [0-9A-Za-z]{22}\)/);
    const roles = await runCli(cfg.file, 'sandbox', 'tpp', 'create', '--name', 'X', '--roles', 'AISP,BANK', '--redirect-uri', 'https://tpp.example.com/cb');
    assert.equal(roles.code, 2);
    assert.match(roles.stderr, /^opendcr: roles must list AISP, PISP, CBPII separated by commas; unknown: BANK\n$/);
    const uri = await runCli(cfg.file, 'sandbox', 'tpp', 'create', '--name', 'X', '--roles', 'AISP', '--redirect-uri', 'not a url');
    assert.equal(uri.code, 2);
    assert.match(uri.stderr, /redirect URI "not a url" is not a URL/);
    const missing = await runCli(cfg.file, 'sandbox', 'tpp', 'create', '--name', 'X', '--roles', 'AISP');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /required option '--redirect-uri <url>' not specified/);
  });

  test('tpp list shows the enrolled TPPs', async () => {
    const list = json<Array<Record<string, unknown>>>(await runCli(cfg.file, 'sandbox', 'tpp', 'list', '--json'));
    assert.deepEqual(
      list.map((t) => [t['name'], t['software_id']]),
      [['Acme Ltd', tppId]],
    );
    const text = await runCli(cfg.file, 'sandbox', 'tpp', 'list');
    assert.match(text.stdout, new RegExp(`^${tppId}  0015800001\\w{8}  AISP,PISP\\s+Acme Ltd\\n$`));
  });

  test('tpp revoke-key moves the signing key to the revoked key set; a second time exits 1', async () => {
    const folder = join(cfg.dataDir, 'sandbox', 'tpps', tppId);
    const kid = (JSON.parse(readFileSync(join(folder, 'software.jwks.json'), 'utf8')) as { keys: Array<{ kid: string }> }).keys[0]!.kid;
    const out = json(await runCli(cfg.file, 'sandbox', 'tpp', 'revoke-key', '--tpp', 'Acme Ltd', '--json'));
    assert.deepEqual([out['software_id'], out['kid'], out['revoked']], [tppId, kid, true]);
    const tpp = JSON.parse(readFileSync(join(folder, 'tpp.json'), 'utf8')) as {
      softwareJwks: { keys: Array<{ kid: string }> };
      revokedJwks: { keys: Array<{ kid: string }> };
    };
    assert.deepEqual(
      tpp.revokedJwks.keys.map((k) => k.kid),
      [kid],
    );
    assert.ok(!tpp.softwareJwks.keys.some((k) => k.kid === kid));
    const again = await runCli(cfg.file, 'sandbox', 'tpp', 'revoke-key', '--tpp', tppId);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `opendcr: the key ${kid} of ${tppId} is already revoked\n`);
  });

  test('unknown TPP, missing CA file and unreachable server: one clear line, exit 1, no stack trace', async () => {
    const unknown = await runCli(cfg.file, 'tpp', 'register', '--tpp', 'Nobody');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`^opendcr: no sandbox TPP with software_id or name "Nobody"; known: ${tppId} \\(Acme Ltd\\)\\n$`));

    const ca = await runCli(cfg.file, 'tpp', 'token', '--tpp', tppId, '--client-id', 'c', '--ca', join(cfg.dir, 'missing.pem'));
    assert.equal(ca.code, 1);
    assert.equal(ca.stderr, `opendcr: --ca ${join(cfg.dir, 'missing.pem')}: no such file\n`);

    const notRegistered = await runCli(cfg.file, 'tpp', 'get', '--tpp', tppId);
    assert.equal(notRegistered.code, 1);
    assert.match(notRegistered.stderr, /is not registered \(no .+registration\.json\): run `opendcr tpp register --tpp \w+` first, or pass --client-id/);

    const closed = await freePort();
    // register first checks the TPP's own key sets, which this data folder's server (not running) publishes.
    const reg = await runCli(cfg.file, 'tpp', 'register', '--tpp', tppId, '--server', `https://localhost:${closed}`);
    assert.equal(reg.code, 1);
    assert.match(
      reg.stderr,
      new RegExp(
        `^opendcr: the key set URLs of ${tppId} \\(Acme Ltd\\) do not answer: https://localhost:${port}/sandbox/\\w+/${tppId}\\.jwks: .*ECONNREFUSED.*\\n$`,
      ),
    );
    for (const args of [
      ['tpp', 'token', '--tpp', tppId, '--client-id', 'c'],
      ['tpp', 'delete', '--tpp', tppId, '--client-id', 'c'],
    ]) {
      const r = await runCli(cfg.file, ...args, '--server', `https://localhost:${closed}`);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(
        r.stderr,
        new RegExp(`^opendcr: cannot reach https://localhost:${closed} \\(given with --server\\): .*ECONNREFUSED.*; start the server .*--server URL.*\\n$`),
        args.join(' '),
      );
      assert.doesNotMatch(r.stderr + r.stdout, STACK_LINE);
    }
    const usage = await runCli(cfg.file, 'tpp', 'register', '--tpp', tppId, '--version', 'v4');
    assert.equal(usage.code, 2);
  });

  test('init --force replaces the directory, removes its TPPs and stops trusting its old CAs', async () => {
    const sandbox = join(cfg.dataDir, 'sandbox');
    const oldRoot = new X509Certificate(readFileSync(join(sandbox, 'directory-root-ca.pem'))).fingerprint256;
    const r = await runCli(cfg.file, 'sandbox', 'init', '--force', '--name', 'Second Directory', '--json');
    const out = json(r);
    assert.equal(out['issuer'], 'Second Directory');
    assert.equal(out['removed_tpps'], 1);
    assert.deepEqual(readdirSync(join(sandbox, 'tpps')), []);
    const trusted = trustedFingerprints(cfg.dataDir);
    assert.ok(!trusted.includes(oldRoot));
    assert.ok(trusted.includes(new X509Certificate(readFileSync(join(sandbox, 'directory-root-ca.pem'))).fingerprint256));
  });
});

test('production mode: every command that issues a sandbox identity refuses (exit 1)', async () => {
  const port = await freePort();
  const cfg = tempConfig(
    'opendcr-cli-prod-',
    port,
    'mode = "production"\n[keystore.tls]\ncert_file = "server.pem"\nkey_file = "server-key.pem"\n[super_admin]\npassword = "a-production-password"\n',
  );
  try {
    const cases = [
      ['sandbox', 'init'],
      ['sandbox', 'tpp', 'create', '--name', 'P', '--roles', 'AISP', '--redirect-uri', 'https://tpp.example.com/cb'],
      ['sandbox', 'tpp', 'revoke-key', '--tpp', 'P'],
      ['sandbox', 'tpp', 'reissue', '--tpp', 'P'],
      ['sandbox', 'tpp', 'delete', '--tpp', 'P'],
      ['tpp', 'register', '--tpp', 'P'],
      ['tpp', 'update', '--tpp', 'P'],
    ];
    for (const args of cases) {
      const r = await runCli(cfg.file, ...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(
        r.stderr,
        /^opendcr: `opendcr [a-z -]+`.* is disabled in production mode \(\[server\] mode = "production" in .+opendcr\.toml\)/,
        args.join(' '),
      );
    }
    assert.ok(!existsSync(join(cfg.dataDir, 'sandbox')), 'nothing was written');
  } finally {
    rmSync(cfg.dir, { recursive: true, force: true });
  }
});

function trustedFingerprints(dataDir: string): string[] {
  const dir = join(dataDir, 'truststore');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pem'))
    .map((f) => new X509Certificate(readFileSync(join(dir, f))).fingerprint256);
}
