/**
 * deploy/compose, checked without Docker: the compose file parses (the same under YAML 1.1 and
 * 1.2) and has the services the cluster needs; every file it mounts exists in the repository or
 * is made by make-certs.ts; every ${VAR} is documented, and the secrets have no default; the
 * instances' opendcr.toml passes the server's own configuration check with the environment and
 * the files compose gives them; only the load balancer's address may send the certificate header,
 * and nginx sends that header in the encoding the instances expect. `docker-compose config` runs
 * too where docker-compose is installed (it is not needed).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { CERT_FILES, INSTANCE_NAMES, makeCerts } from '../../deploy/compose/make-certs.ts';
import { parseYamlStrict } from './helm-render.ts';
import { REPO, checkDeployedConfig, repoPath } from './support.ts';

const DIR = repoPath('deploy', 'compose');
const RAW = readFileSync(join(DIR, 'compose.yaml'), 'utf8');
type Tree = Record<string, unknown>;
const compose = parseYamlStrict(RAW, 'compose.yaml') as Tree;
const services = compose['services'] as Record<string, Tree>;

// ----- ${VAR} interpolation, as compose does it, for the forms this file may use.

const REF = /\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
interface VarUse {
  name: string;
  op: '' | ':-' | '-' | ':?' | '?';
  arg: string;
}

function parseRef(body: string): VarUse {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?|\?)(.*))?$/.exec(body);
  assert.ok(m, `\${${body}}: a form this test understands`);
  return { name: m[1]!, op: (m[2] ?? '') as VarUse['op'], arg: m[3] ?? '' };
}

function uses(text: string): VarUse[] {
  const out: VarUse[] = [];
  for (const m of text.matchAll(REF)) {
    if (m[0] === '$$') continue;
    assert.equal(m[2], undefined, `$${m[2]}: write \${${m[2]}} (or $$ for a literal $)`);
    out.push(parseRef(m[1]!));
  }
  return out;
}

function interpolate(value: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof value === 'string') {
    return value.replace(REF, (whole, body: string | undefined) => {
      if (whole === '$$') return '$';
      const u = parseRef(body!);
      const v = env[u.name];
      if (u.op === ':-') return v ? v : u.arg;
      if (u.op === '-') return v ?? u.arg;
      if (u.op === ':?' && !v) throw new Error(`${u.name}: ${u.arg}`);
      if (u.op === '?' && v === undefined) throw new Error(`${u.name}: ${u.arg}`);
      return v ?? '';
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  return value;
}

/** Values for the required variables, shaped like real ones (hex, as the README advises). */
const TEST_ENV = {
  OPENDCR_ADMIN_PASSWORD: '3f1c9a7e5b2d4c6a8e0f1a2b3c4d5e6f',
  OPENDCR_METRICS_TOKEN: '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d',
  POSTGRES_PASSWORD: '0123456789abcdef0123456789abcdef',
  REDIS_PASSWORD: 'fedcba9876543210fedcba9876543210',
};

/** The services built from this repository's Dockerfile: the OpenDCR instances. */
function instances(): Array<[string, Tree]> {
  return Object.entries(services).filter(([, s]) => {
    const b = s['build'] as Tree | undefined;
    return b !== undefined && resolve(DIR, String(b['context'])) === REPO && (b['dockerfile'] ?? 'Dockerfile') === 'Dockerfile';
  });
}

/** Short-syntax volumes as { source, target, mode }. */
function volumesOf(s: Tree): Array<{ source: string; target: string; mode: string }> {
  return ((s['volumes'] ?? []) as unknown[]).map((v) => {
    assert.equal(typeof v, 'string', 'volumes use the short syntax');
    const [source, target, mode = 'rw'] = (v as string).split(':');
    return { source: source!, target: target!, mode };
  });
}

const networksOf = (s: Tree): Record<string, Tree | null> => {
  const n = s['networks'];
  return Array.isArray(n) ? Object.fromEntries(n.map((x: string) => [x, null])) : ((n ?? {}) as Record<string, Tree | null>);
};

const TOML = readFileSync(join(DIR, 'opendcr.toml'), 'utf8');
const NGINX = readFileSync(join(DIR, 'nginx', 'nginx.conf'), 'utf8');

test('the compose file has PostgreSQL, Redis, two OpenDCR instances and an nginx load balancer; only the load balancer publishes a port', () => {
  assert.match(String(services['postgres']?.['image']), /^postgres:\d+/);
  assert.match(String(services['redis']?.['image']), /^redis:\d+/);
  assert.match(String(services['lb']?.['image']), /^nginx:\d+\.\d+/);
  const inst = instances();
  assert.equal(inst.length, 2, `two services built from the repository's Dockerfile: ${inst.map(([n]) => n).join(', ')}`);
  for (const [name, s] of Object.entries(services)) {
    if (name === 'lb') assert.ok(Array.isArray(s['ports']) && s['ports'].length === 1, 'the load balancer publishes one port');
    else assert.equal(s['ports'], undefined, `${name} publishes no port`);
  }
  const published = String((services['lb']!['ports'] as string[])[0]);
  assert.match(published, /:443$/, "the host port maps to nginx's 443");
  assert.match(NGINX, /listen 443 ssl;/);
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: the title names the ${VAR} syntax of compose files
test('every ${VAR} is documented in the README and .env.example, and no secret has a default', () => {
  const all = uses(RAW);
  const names = [...new Set(all.map((u) => u.name))].sort();
  const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
  const documented = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]!).sort();
  assert.deepEqual(documented, names, "the README's variable table lists exactly the variables compose.yaml uses");
  const example = readFileSync(join(DIR, '.env.example'), 'utf8');
  const keys = [...example.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!] as const);
  assert.deepEqual(keys.map(([k]) => k).sort(), names, '.env.example has exactly these variables');
  for (const u of all.filter((x) => /PASSWORD|TOKEN|SECRET/.test(x.name))) {
    assert.equal(u.op, ':?', `\${${u.name}}: required (an error when unset or empty), never a default`);
  }
  for (const [k, v] of keys) if (/PASSWORD|TOKEN|SECRET/.test(k)) assert.equal(v, '', `.env.example leaves ${k} empty, so an unedited copy does not start`);
  // No literal secrets either: every secret-named environment value is one required variable.
  const secretEnv = [...Object.values(services).map((s) => s['environment'] as Record<string, string> | undefined)]
    .flatMap((e) => Object.entries(e ?? {}))
    .filter(([k]) => /PASSWORD|TOKEN|SECRET/.test(k));
  assert.ok(secretEnv.length >= 4);
  for (const [k, v] of secretEnv) assert.match(v, /^\$\{[A-Z0-9_]+:\?[^}]*\}$/, `${k} is a required variable, not a value`);
  // Unset, the required variables stop compose.
  assert.throws(() => interpolate(services['opendcr-1']!['environment'], {}), /OPENDCR_ADMIN_PASSWORD|POSTGRES_PASSWORD|REDIS_PASSWORD|OPENDCR_METRICS_TOKEN/);
});

test('every file the services mount exists in the repository or is made by make-certs.ts; named volumes are declared', () => {
  const declared = Object.keys((compose['volumes'] ?? {}) as Tree);
  const made = new Set(CERT_FILES.map((f) => `certs/${f}`));
  for (const [name, s] of Object.entries(services)) {
    for (const v of volumesOf(s)) {
      if (v.source.startsWith('.') || v.source.startsWith('/')) {
        assert.ok(!v.source.startsWith('/'), `${name}: ${v.source} is relative to the compose folder`);
        const rel = v.source.replace(/^\.\//, '');
        if (rel.startsWith('certs/')) assert.ok(made.has(rel), `${name}: ${rel} is one of make-certs.ts's files`);
        else assert.ok(existsSync(join(DIR, rel)), `${name}: ${rel} exists`);
        assert.equal(v.mode, 'ro', `${name}: ${v.source} is mounted read-only`);
      } else {
        assert.ok(declared.includes(v.source), `${name}: volume ${v.source} is declared`);
      }
    }
  }
  const gitignore = readFileSync(join(DIR, '.gitignore'), 'utf8');
  assert.match(gitignore, /^certs\/$/m, 'certs/ is never committed');
  assert.match(gitignore, /^\.env$/m, '.env is never committed');
});

test("the instances' opendcr.toml passes the server's configuration check with what compose gives them", async () => {
  const out = mkdtempSync(join(tmpdir(), 'opendcr-certs-'));
  try {
    const written = await makeCerts({ host: 'localhost', out, validityDays: 2 });
    assert.deepEqual(
      written.map((p) => p.slice(out.length + 1)),
      [...CERT_FILES],
    );
    for (const [name, raw] of instances()) {
      const s = interpolate(raw, TEST_ENV) as Tree;
      const env = s['environment'] as Record<string, string>;
      const files = new Map<string, string>();
      let configMounted = false;
      for (const v of volumesOf(s)) {
        if (v.target === '/etc/opendcr/opendcr.toml') {
          assert.equal(v.source, './opendcr.toml');
          configMounted = true;
          continue;
        }
        const rel = v.source.replace(/^\.\//, '');
        files.set(v.target, readFileSync(rel.startsWith('certs/') ? join(out, rel.slice('certs/'.length)) : join(DIR, rel), 'utf8'));
      }
      assert.ok(configMounted, `${name}: the configuration is mounted where the image's CMD reads it`);
      const checked = await checkDeployedConfig({ toml: TOML, files, dirs: ['/var/lib/opendcr'], env, prefixes: ['/etc/opendcr/', '/var/lib/opendcr'] });
      try {
        assert.deepEqual(checked.problems, [], `${name}: no problem`);
        assert.deepEqual(checked.warnings, [], `${name}: no warning`);
        const c = checked.config!;
        assert.equal(c.server.mode, 'production');
        assert.equal(c.server.bind_address, '0.0.0.0', "listens on the container's interfaces");
        assert.ok(
          c.keystore.tls.cert_file!.startsWith(checked.root) && c.keystore.tls.key_file!.startsWith(checked.root),
          'the certificate and key are the mounted files',
        );
        assert.match(c.derived.databaseUrl, /^postgres:\/\/opendcr:[0-9a-f]+@postgres:5432\/opendcr$/, 'PostgreSQL of the compose file');
        assert.equal((c as unknown as { redis: { url?: string } }).redis.url, `redis://:${TEST_ENV.REDIS_PASSWORD}@redis:6379/0`, 'Redis of the compose file');
        assert.equal(c.derived.baseUrl, 'https://localhost:8443', "the load balancer's public URL");
        assert.equal(c.super_admin.password, TEST_ENV.OPENDCR_ADMIN_PASSWORD);
        assert.ok(c.metrics.port !== undefined && c.metrics.token === TEST_ENV.OPENDCR_METRICS_TOKEN, 'metrics on their own port, with a token');
        // The instance certificate is what nginx checks: proxy_ssl_name is one of its names.
        const sslName = /proxy_ssl_name\s+(\S+);/.exec(NGINX)?.[1];
        assert.ok(sslName && (INSTANCE_NAMES as readonly string[]).includes(sslName), `proxy_ssl_name ${sslName} is in the instances' certificate`);
      } finally {
        rmSync(checked.root, { recursive: true, force: true });
      }
      // Without OPENDCR_ADMIN_PASSWORD the same instance refuses to start: nothing ships a usable default.
      const { OPENDCR_ADMIN_PASSWORD: _, ...withoutPassword } = env;
      const bare = await checkDeployedConfig({
        toml: TOML,
        files,
        dirs: ['/var/lib/opendcr'],
        env: withoutPassword,
        prefixes: ['/etc/opendcr/', '/var/lib/opendcr'],
      });
      rmSync(bare.root, { recursive: true, force: true });
      assert.ok(
        bare.problems.some((p) => /super_admin\.password.*default password is not allowed/.test(p)),
        bare.problems.join('\n'),
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("the certificate header is believed from the load balancer's address only, and nginx sends it as the instances read it", async () => {
  const checked = await checkDeployedConfig({ toml: TOML, files: new Map(), dirs: [], env: TEST_ENV, prefixes: [] });
  rmSync(checked.root, { recursive: true, force: true });
  const ssl = checked.config!.apimgt.mutual_ssl;
  assert.ok(ssl.client_certificate_header, 'the instances read a certificate header');
  assert.ok(ssl.trusted_proxies.length > 0);

  // nginx sets exactly that header from $ssl_client_escaped_cert (URL-encoded PEM) and asks for certificates.
  const set = /proxy_set_header\s+(\S+)\s+\$ssl_client_escaped_cert;/i.exec(NGINX);
  assert.ok(set, 'nginx forwards $ssl_client_escaped_cert');
  assert.equal(set[1]!.toLowerCase(), ssl.client_certificate_header);
  assert.equal(ssl.client_certificate_encode, true, '$ssl_client_escaped_cert is URL-encoded PEM');
  assert.match(NGINX, /ssl_verify_client\s+optional_no_ca;/, 'nginx asks for a client certificate and leaves the checking to OpenDCR');
  assert.match(NGINX, /proxy_pass\s+https:\/\/opendcr;/, 'to the instances over HTTPS (they listen on nothing else)');
  assert.match(NGINX, /proxy_ssl_verify\s+on;/);
  const upstream = /upstream opendcr \{([\s\S]*?)\}/.exec(NGINX)?.[1] ?? '';
  const servers = [...upstream.matchAll(/server\s+([\w.-]+):(\d+)/g)].map((m) => [m[1]!, Number(m[2])] as const);
  assert.deepEqual(
    servers.map(([h]) => h).sort(),
    instances()
      .map(([n]) => n)
      .sort(),
    'nginx balances over both instances',
  );
  for (const [, port] of servers) assert.equal(port, checked.config!.server.port, 'on the port they listen on');

  // The load balancer's fixed address is trusted; it is on a network both instances share, inside its subnet.
  const lbNets = networksOf(services['lb']!);
  const addressed = Object.entries(lbNets).filter(([, v]) => v && typeof v['ipv4_address'] === 'string');
  assert.equal(addressed.length, 1, 'the load balancer has one fixed address');
  const [net, cfg] = addressed[0]!;
  const lbAddress = String(cfg!['ipv4_address']);
  const trusted = new BlockList();
  for (const p of ssl.trusted_proxies) {
    const [addr, bits] = p.split('/');
    if (bits) trusted.addSubnet(addr!, Number(bits), isIP(addr!) === 6 ? 'ipv6' : 'ipv4');
    else trusted.addAddress(addr!, isIP(addr!) === 6 ? 'ipv6' : 'ipv4');
  }
  assert.ok(trusted.check(lbAddress, 'ipv4'), `${lbAddress} is in trusted_proxies`);
  const subnet = ((((compose['networks'] as Tree)[net] as Tree)['ipam'] as Tree)['config'] as Tree[])[0]!['subnet'] as string;
  const inSubnet = new BlockList();
  inSubnet.addSubnet(subnet.split('/')[0]!, Number(subnet.split('/')[1]), 'ipv4');
  assert.ok(inSubnet.check(lbAddress, 'ipv4'), `${lbAddress} is inside ${subnet}`);
  for (const [name, s] of instances()) assert.ok(net in networksOf(s), `${name} is on ${net}`);
  // Nothing else may stand on that network (it could send the header), nor be trusted.
  for (const [name, s] of Object.entries(services)) {
    if (name !== 'lb' && !instances().some(([n]) => n === name)) assert.ok(!(net in networksOf(s)), `${name} is not on ${net}`);
  }
  assert.equal(
    trusted.check('172.28.0.11', 'ipv4') || trusted.check(subnet.split('/')[0]!.replace(/0$/, '20'), 'ipv4'),
    false,
    "only the load balancer's address, not the subnet",
  );
  // The databases sit on an internal network.
  const data = networksOf(services['postgres']!);
  for (const n of Object.keys(data)) assert.equal(((compose['networks'] as Tree)[n] as Tree)['internal'], true, `${n} is internal`);
});

test("health checks: the instances' on /health/ready through the image's script; the load balancer waits for them", async () => {
  const checked = await checkDeployedConfig({ toml: TOML, files: new Map(), dirs: [], env: TEST_ENV, prefixes: [] });
  rmSync(checked.root, { recursive: true, force: true });
  const port = checked.config!.server.port;
  for (const [name, s] of instances()) {
    const hc = s['healthcheck'] as Tree;
    assert.deepEqual(
      hc['test'],
      ['CMD', 'node', 'deploy/docker/healthcheck.mjs', `https://127.0.0.1:${port}/health/ready`],
      `${name}: readiness on the configured port`,
    );
    const deps = s['depends_on'] as Record<string, Tree>;
    for (const d of ['postgres', 'redis']) assert.equal(deps[d]?.['condition'], 'service_healthy', `${name} waits for ${d}`);
  }
  for (const d of ['postgres', 'redis']) assert.ok(services[d]!['healthcheck'], `${d} has a health check`);
  const lbDeps = services['lb']!['depends_on'] as Record<string, Tree>;
  for (const [name] of instances()) assert.equal(lbDeps[name]?.['condition'], 'service_healthy', `the load balancer waits for ${name}`);
  assert.ok(existsSync(repoPath('deploy', 'docker', 'healthcheck.mjs')));
});

function which(cmd: string): Promise<boolean> {
  return new Promise((done) => execFile('sh', ['-c', `command -v ${cmd}`], (err) => done(!err)));
}

test('docker-compose config accepts the file (where docker-compose is installed)', async (t) => {
  if (!(await which('docker-compose'))) {
    t.skip('docker-compose is not installed (apt-get install docker-compose); the checks above do not need it');
    return;
  }
  const runCompose = (env: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(
        'docker-compose',
        ['-f', 'compose.yaml', 'config'],
        { cwd: DIR, env: { PATH: process.env['PATH'] ?? '', HOME: tmpdir(), ...env }, timeout: 60_000 },
        (err, stdout, stderr) => {
          done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
        },
      );
    });
  const ok = await runCompose(TEST_ENV);
  assert.equal(ok.code, 0, ok.stderr);
  const resolved = parseYamlStrict(ok.stdout, 'docker-compose config') as Tree;
  const env1 = (resolved['services'] as Record<string, Tree>)['opendcr-1']!['environment'] as Record<string, string>;
  assert.deepEqual(env1, interpolate(services['opendcr-1']!['environment'], TEST_ENV), 'docker-compose interpolates as this test does');
  const { OPENDCR_ADMIN_PASSWORD: _, ...rest } = TEST_ENV;
  const missing = await runCompose(rest);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /set OPENDCR_ADMIN_PASSWORD in \.env/);
});
