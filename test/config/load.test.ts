import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadConfig, ConfigError, inspectConfig, settingSource } from '../../src/config/load.ts';
import { configurationMarkdown } from '../../src/config/docs.ts';

function withFile(text: string, fn: (path: string, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-config-'));
  try {
    const path = join(dir, 'opendcr.toml');
    writeFileSync(path, text);
    fn(path, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('defaults: sandbox mode, https://localhost:8443, SQLite under ./data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-config-'));
  try {
    const c = loadConfig({ cwd: dir, env: {} });
    assert.equal(c.server.mode, 'sandbox');
    assert.equal(c.derived.baseUrl, 'https://localhost:8443');
    assert.equal(c.derived.issuer, 'https://localhost:8443');
    assert.equal(c.derived.databaseUrl, `sqlite:${join(dir, 'data', 'opendcr.db')}`);
    assert.equal(c.source, null);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.oauth.default_scopes));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('relative paths in a file resolve against the file, env overrides win', () => {
  withFile('[server]\nport = 9443\ndata_dir = "state"\n', (path, dir) => {
    const c = loadConfig({ path, env: { OPENDCR_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test', OPENDCR_ADMIN_PASSWORD: 's3cret' } });
    assert.equal(c.derived.dataDir, join(dir, 'state'));
    assert.equal(c.derived.baseUrl, 'https://localhost:9443');
    assert.equal(c.derived.databaseUrl, 'postgres://postgres@127.0.0.1:5432/test');
    assert.equal(c.super_admin.password, 's3cret');
  });
});

const bad: Array<[string, string, RegExp]> = [
  ['unknown key', '[server]\nprot = 1\n', /unknown key in \[server\] "prot"/],
  ['unknown section', '[nonsense]\na = 1\n', /unknown key "nonsense"/],
  ['wrong type', '[server]\nport = "8443"\n', /key "server\.port": .*number/i],
  ['bad TOML', '[server\nport = 1\n', /invalid TOML at line 1/],
  ['bad enum', '[oauth.token_generation]\nsigning_algorithm = "RS256"\n', /key "oauth\.token_generation\.signing_algorithm"/],
  ['production without certificates', '[server]\nmode = "production"\n', /key "keystore\.tls\.cert_file"/],
  [
    'trusted proxy that is not an address',
    '[apimgt.mutual_ssl]\ntrusted_proxies = ["lb.internal"]\n',
    /key "apimgt\.mutual_ssl\.trusted_proxies\.0": must be an IP address or CIDR range/,
  ],
];
for (const [name, text, pattern] of bad) {
  test(`bad config: ${name} → ConfigError naming file and key`, () => {
    withFile(text, (path) => {
      assert.throws(
        () => loadConfig({ path, env: {} }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          // Every problem is one line naming the file; one of them is this one.
          for (const problem of err.problems) {
            assert.ok(problem.startsWith(path), problem);
            assert.doesNotMatch(problem, /\n/);
          }
          assert.ok(
            err.problems.some((p) => pattern.test(p)),
            err.message,
          );
          assert.equal(err.message, err.problems.join('\n'));
          return true;
        },
      );
    });
  });
}

test('command-line options win over the environment and the file; every value knows where it came from', () => {
  withFile('[server]\nport = 9443\nhostname = "auth.example"\n', (path) => {
    const c = loadConfig({
      path,
      env: { OPENDCR_PORT: '7443', OPENDCR_DATA_DIR: '/srv/x' },
      overrides: [{ option: '--port', key: ['server', 'port'], value: 6443 }],
    });
    assert.equal(c.server.port, 6443);
    assert.equal(c.derived.baseUrl, 'https://auth.example:6443');
    assert.deepEqual(
      [settingSource(c, 'server.port'), settingSource(c, 'server.data_dir'), settingSource(c, 'server.hostname'), settingSource(c, 'database.url')],
      ['--port', 'OPENDCR_DATA_DIR', path, undefined],
    );
  });
});

test('a bad value from a variable or option names it; the rest of the file is still checked', () => {
  withFile('[server]\nmode = "production"\n', (path) => {
    const { config, problems } = inspectConfig({
      path,
      env: { OPENDCR_LOG_LEVEL: 'loud' },
      overrides: [{ option: '--port', key: ['server', 'port'], value: 70000 }],
    });
    assert.ok(config, 'a configuration with defaults in place of the bad values, for further checks');
    assert.deepEqual(
      problems.map((p) => p.replace(`${path}: `, '')),
      [
        'key "server.port": Too big: expected number to be <=65535 (set by --port)',
        'key "log.level": Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent" (set by OPENDCR_LOG_LEVEL)',
        'key "keystore.tls.cert_file": production mode requires cert_file and key_file',
      ],
    );
  });
});

test('missing explicit file is reported, not defaulted', () => {
  assert.throws(
    () => loadConfig({ path: '/nonexistent/opendcr.toml', env: {} }),
    /\/nonexistent\/opendcr\.toml: cannot read the configuration file \(no such file\)/,
  );
});

test('bad env override is reported by variable name', () => {
  assert.throws(() => loadConfig({ cwd: tmpdir(), env: { OPENDCR_PORT: 'eighty' } }), /environment OPENDCR_PORT: expected an integer/);
});

test('npm start with bad config exits 2 with one line and no stack trace', () => {
  withFile('[server]\nport = "x"\n', (path) => {
    const r = spawnSync(process.execPath, ['src/main.ts', '--config', path], { encoding: 'utf8', env: { ...process.env, OPENDCR_CONFIG: '' } });
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^opendcr: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: key "server\\.port"`));
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
  });
});

test('docs/configuration.md documents every key and is current', () => {
  const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(committed, configurationMarkdown(), 'run `npm run docs:config`');
  assert.doesNotMatch(committed, /\|\s*\|\n/, 'a key without a description');
});
