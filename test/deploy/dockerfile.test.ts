/**
 * The Dockerfile and .dockerignore, checked without Docker: a line parser reads the instructions
 * (continuations, comments, exec-form JSON) and the test asserts what the image must be (Node 24,
 * production dependencies only, non-root, a health check on the health endpoints, the start
 * command of package.json). Then what the image holds is tried here: every runtime import
 * resolves to a production dependency, and the server starts in production mode from a tree with
 * only the production dependencies, answering the image's health check.
 */
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { createCertificateAuthority, issueServerCertificate } from '../../src/crypto/pki.ts';
import { REPO, freePort, repoPath } from './support.ts';

interface Instruction {
  readonly line: number;
  readonly op: string;
  readonly args: string;
}

/** Instructions of a Dockerfile: comments and blank lines dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let l = lines[i]!;
    if (/^\s*(#|$)/.test(l)) continue;
    while (/\\\s*$/.test(l)) {
      l = l.replace(/\\\s*$/, ' ');
      i++;
      // Comment lines inside a continuation are dropped, as Docker does.
      while (i < lines.length && /^\s*#/.test(lines[i]!)) i++;
      if (i >= lines.length) throw new Error(`line ${start}: continuation at the end of the file`);
      l += lines[i]!;
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`line ${start}: cannot read "${l}"`);
    out.push({ line: start, op: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  return out;
}

/** Exec form (JSON array) of CMD / ENTRYPOINT / HEALTHCHECK CMD; the shell form is refused. */
function execForm(args: string, what: string): string[] {
  assert.match(args, /^\[/, `${what} uses the exec form (signals reach node directly, no shell)`);
  const v = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(v) && v.every((s) => typeof s === 'string'), `${what} is a JSON array of strings`);
  return v as string[];
}

/** Options (`--from=deps`) and operands of COPY. */
function copyArgs(args: string): { from?: string; chown?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const opts: Record<string, string> = {};
  while (words[0]?.startsWith('--')) {
    const [k, v] = words.shift()!.slice(2).split('=');
    opts[k!] = v ?? '';
  }
  assert.ok(!args.includes('['), 'COPY in its plain form');
  const dest = words.pop()!;
  return { ...(opts['from'] ? { from: opts['from'] } : {}), ...(opts['chown'] ? { chown: opts['chown'] } : {}), sources: words, dest };
}

/** A .dockerignore matcher for the patterns it uses: paths and `*` / `?` globs, no `!`, no `**`. */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const regexes = patterns.map((p) => {
    if (p.startsWith('!') || p.includes('**') || p.includes('[')) throw new Error(`.dockerignore pattern "${p}" is beyond this test's matcher`);
    const clean = p.replace(/^\/+/, '').replace(/\/+$/, '');
    const body = clean
      .split('')
      .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|\\]/g, '\\$&')))
      .join('');
    // A pattern matches the path itself and everything under it.
    return new RegExp(`^${body}(/.*)?$`);
  });
  return (path: string) => regexes.some((r) => r.test(path));
}

const dockerText = readFileSync(repoPath('Dockerfile'), 'utf8');
const instructions = parseDockerfile(dockerText);
const pkg = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Stages: the instructions after each FROM. */
function stages(): Array<{ image: string; name: string | undefined; body: Instruction[] }> {
  const out: Array<{ image: string; name: string | undefined; body: Instruction[] }> = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m, `FROM ${ins.args}`);
      out.push({ image: m[1]!, name: m[2], body: [] });
    } else {
      assert.ok(out.length > 0 || ins.op === 'ARG', `line ${ins.line}: ${ins.op} before FROM`);
      out.at(-1)?.body.push(ins);
    }
  }
  return out;
}

test('the parser joins continuations, drops comments and reads exec forms', () => {
  const parsed = parseDockerfile('# c\nFROM a AS b\nRUN x \\\n  # inside\n  y\n\nCMD ["n", "m"]\n');
  assert.deepEqual(
    parsed.map((i) => [i.op, i.args]),
    [
      ['FROM', 'a AS b'],
      ['RUN', 'x    y'],
      ['CMD', '["n", "m"]'],
    ],
  );
  assert.deepEqual(execForm('["n", "m"]', 'CMD'), ['n', 'm']);
  assert.throws(() => execForm('node src/main.ts', 'CMD'));
  const ignored = dockerignore('node_modules\n*.pem\n.env.*\n');
  assert.ok(ignored('node_modules') && ignored('node_modules/x/y.js') && ignored('a.pem') && ignored('.env.local'));
  assert.ok(!ignored('src/x.ts') && !ignored('certs/a.pem') && !ignored('.env'));
});

test('the image is Node 24, installs production dependencies only, runs as a non-root user', () => {
  const all = stages();
  assert.ok(all.length >= 1);
  for (const s of all) assert.match(s.image, /^node:24(?:[.-][\w.-]*)?(?:@sha256:[0-9a-f]{64})?$/, `FROM ${s.image} is an official Node 24 image`);
  const final = all.at(-1)!;

  // npm ci --omit=dev, and never an install that would bring devDependencies.
  const runs = all.flatMap((s) => s.body.filter((i) => i.op === 'RUN').map((i) => i.args));
  const installs = runs.filter((r) => /\bnpm\s+(ci|install|i)\b/.test(r));
  assert.ok(installs.length > 0, 'dependencies are installed with npm');
  for (const r of installs) {
    assert.match(r, /\bnpm ci\b/, `"${r}": npm ci installs exactly the lock file`);
    assert.match(r, /--omit=dev\b/, `"${r}": production dependencies only`);
  }
  // The final stage gets node_modules from a stage that ran npm ci --omit=dev (or ran it itself).
  const modulesFrom = final.body
    .filter((i) => i.op === 'COPY')
    .map((i) => copyArgs(i.args))
    .find((c) => c.sources.some((s) => /node_modules\/?$/.test(s)));
  if (modulesFrom) {
    const stage = all.find((s) => s.name === modulesFrom.from);
    assert.ok(stage, `node_modules comes --from=${modulesFrom.from}, a stage of this file`);
    assert.ok(
      stage.body.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)),
      'that stage installs production dependencies only',
    );
  } else {
    assert.ok(
      final.body.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)),
      'the final stage installs production dependencies only',
    );
  }

  // A non-root user, by number (Kubernetes' runAsNonRoot cannot check a name), before CMD.
  const users = final.body.filter((i) => i.op === 'USER');
  assert.ok(users.length > 0, 'the final stage sets USER');
  const user = users.at(-1)!.args;
  assert.match(user, /^\d+(:\d+)?$/, 'USER is numeric');
  assert.notEqual(user.split(':')[0], '0', 'USER is not root');
  const cmdAt = final.body.findIndex((i) => i.op === 'CMD');
  assert.ok(final.body.indexOf(users.at(-1)!) < cmdAt, 'USER comes before CMD');
  assert.ok(!final.body.some((i) => i.op === 'ENTRYPOINT'), 'no ENTRYPOINT: CMD is the whole command');
});

test("CMD starts the server as npm start does, with the image's node and /etc/opendcr/opendcr.toml", () => {
  const final = stages().at(-1)!;
  const cmds = final.body.filter((i) => i.op === 'CMD');
  assert.equal(cmds.length, 1);
  const cmd = execForm(cmds[0]!.args, 'CMD');
  const start = pkg.scripts['start']!.split(/\s+/);
  assert.equal(start[0], 'node', 'npm start runs node');
  assert.deepEqual(cmd, [...start, '--config', '/etc/opendcr/opendcr.toml'], `CMD is "${pkg.scripts['start']} --config /etc/opendcr/opendcr.toml"`);
  assert.ok(!cmd[0]!.includes('node_modules'), "the image's node, not the node devDependency");
  assert.equal(final.body.find((i) => i.op === 'STOPSIGNAL')?.args ?? 'SIGTERM', 'SIGTERM', 'stops with SIGTERM, which the server handles gracefully');
});

test('HEALTHCHECK runs the health check script against a health endpoint', () => {
  const final = stages().at(-1)!;
  const hc = final.body.filter((i) => i.op === 'HEALTHCHECK');
  assert.equal(hc.length, 1);
  const m = /^((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)$/.exec(hc[0]!.args);
  assert.ok(m, 'HEALTHCHECK [options] CMD […]');
  const cmd = execForm(m[2]!, 'HEALTHCHECK CMD');
  assert.equal(cmd[0], 'node');
  assert.equal(cmd[1], 'deploy/docker/healthcheck.mjs');
  assert.match(cmd[2]!, /^https:\/\/127\.0\.0\.1:8443\/health\/(live|ready)$/);
  const copied = final.body.filter((i) => i.op === 'COPY').flatMap((i) => copyArgs(i.args).sources);
  assert.ok(
    copied.some((s) => s === 'deploy/docker/healthcheck.mjs' || s === 'deploy/docker' || s === 'deploy/docker/'),
    'the script is copied into the image',
  );
  assert.match(m[1]!, /--timeout=\d+s/);
  assert.equal(final.body.find((i) => i.op === 'WORKDIR')?.args, '/app', 'the relative script path is relative to WORKDIR /app');
});

test('every COPY source exists and survives .dockerignore; the ignore file keeps out what must not go in', () => {
  const ignored = dockerignore(readFileSync(repoPath('.dockerignore'), 'utf8'));
  for (const p of ['node_modules', 'data', '.git', 'test', 'bench', '.env', 'deploy/compose/certs/lb-key.pem', 'opendcr.toml', 'server-key.pem']) {
    assert.ok(ignored(p), `.dockerignore excludes ${p}`);
  }
  for (const s of stages()) {
    for (const c of s.body.filter((i) => i.op === 'COPY').map((i) => copyArgs(i.args))) {
      if (c.from) continue;
      for (const src of c.sources) {
        assert.ok(existsSync(repoPath(src)), `COPY ${src}: exists`);
        assert.ok(!ignored(src.replace(/\/$/, '')), `COPY ${src}: not excluded by .dockerignore`);
        assert.ok(!/\.pem$|\.key$|opendcr\.toml$|\.env/.test(src), `COPY ${src}: no key, certificate, configuration or .env is built in`);
      }
    }
  }
  // Nothing secret in the image's environment or build arguments.
  for (const i of instructions.filter((x) => x.op === 'ENV' || x.op === 'ARG')) {
    assert.doesNotMatch(i.args, /PASSWORD|SECRET|TOKEN|DATABASE_URL|REDIS_URL/i, `line ${i.line}: ${i.op} ${i.args}`);
  }
  // The data folder the shipped configurations name is made and given to the runtime user.
  const final = stages().at(-1)!;
  const user = final.body.filter((i) => i.op === 'USER').at(-1)!.args;
  assert.ok(
    final.body.some((i) => i.op === 'RUN' && i.args.includes('/var/lib/opendcr') && i.args.includes(`chown ${user}`)),
    '/var/lib/opendcr belongs to the runtime user',
  );
});

// ----- What the image runs: production dependencies only.

const BUILTINS = new Set(builtinModules);
const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);

/** Import specifiers that load at run time (`import type` and `export type` are erased). */
function runtimeImports(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s+(type\s+)?[^'";]*?\s+from\s+['"]([^'"]+)['"]/g)) if (!m[1]) out.push(m[2]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

test('everything the image runs imports only production dependencies and files the image holds', () => {
  const shipped = ['src/', 'bin/', 'deploy/docker/'];
  const entries = ['src/main.ts', 'src/cli/index.ts', 'bin/opendcr.js', 'deploy/docker/healthcheck.mjs'];
  const seen = new Set<string>();
  const packages = new Map<string, string>();
  const queue = entries.map((e) => repoPath(e));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(REPO, file);
    assert.ok(
      shipped.some((d) => rel.startsWith(d)),
      `${rel} is in the image (imported, so it must be)`,
    );
    for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = resolve(dirname(file), spec);
        assert.ok(existsSync(target) && statSync(target).isFile(), `${rel} imports ${spec}, which exists`);
        if (/\.(ts|js|mjs)$/.test(target)) queue.push(target);
        else
          assert.ok(
            shipped.some((d) => relative(REPO, target).startsWith(d)),
            `${rel} imports ${spec} from outside the image`,
          );
      } else if (spec.startsWith('node:') || BUILTINS.has(spec)) {
      } else {
        packages.set(packageOf(spec), rel);
      }
    }
  }
  assert.ok(seen.size > 50, `the walk found the source tree (${seen.size} files)`);
  for (const [name, from] of packages) {
    assert.ok(
      name in pkg.dependencies,
      `${from} imports ${name}, which must be a dependency${name in pkg.devDependencies ? ' (it is only a devDependency: npm ci --omit=dev leaves it out)' : ''}`,
    );
  }
  for (const expected of ['fastify', 'oidc-provider', 'pg', 'smol-toml']) assert.ok(packages.has(expected), `the walk reached ${expected}`);
});

function run(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, args, { cwd: opts.cwd, env: opts.env, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

test("from a tree with only the production dependencies, the server starts in production mode and passes the image's health check", async () => {
  const lock = JSON.parse(readFileSync(repoPath('package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const root = mkdtempSync(join(tmpdir(), 'opendcr-image-'));
  const app = join(root, 'app');
  let child: ReturnType<typeof spawn> | undefined;
  try {
    // /app as the Dockerfile lays it out; node_modules holds the lock file's non-dev packages only.
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    mkdirSync(join(app, 'deploy'), { recursive: true });
    symlinkSync(repoPath('src'), join(app, 'src'));
    symlinkSync(repoPath('bin'), join(app, 'bin'));
    symlinkSync(repoPath('deploy', 'docker'), join(app, 'deploy', 'docker'));
    copyFileSync(repoPath('package.json'), join(app, 'package.json'));
    let count = 0;
    for (const [path, entry] of Object.entries(lock.packages)) {
      const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(path);
      if (!m || entry.dev) continue;
      if (!existsSync(repoPath(path))) continue; // an optional package for another platform
      mkdirSync(dirname(join(app, path)), { recursive: true });
      symlinkSync(repoPath(path), join(app, path));
      count++;
    }
    assert.ok(count > 10, `${count} production packages`);
    assert.ok(!existsSync(join(app, 'node_modules', 'typescript')) && !existsSync(join(app, 'node_modules', 'autocannon')), 'no devDependency in the tree');

    const ca = await createCertificateAuthority({ subject: 'CN=Test CA', validityDays: 2 });
    const server = await issueServerCertificate(ca, { dnsNames: ['auth.bank.example'], ipAddresses: [], validityDays: 2 });
    writeFileSync(join(root, 'server.pem'), server.chainPem);
    writeFileSync(join(root, 'server-key.pem'), server.keyPem);
    const port = await freePort();
    writeFileSync(
      join(root, 'opendcr.toml'),
      [
        '[server]',
        'mode = "production"',
        'hostname = "auth.bank.example"',
        'bind_address = "127.0.0.1"',
        `port = ${port}`,
        'workers = 1',
        `data_dir = "${join(root, 'data')}"`,
        '[keystore.tls]',
        `cert_file = "${join(root, 'server.pem')}"`,
        `key_file = "${join(root, 'server-key.pem')}"`,
        '',
      ].join('\n'),
    );
    // Symlinks resolve to the repository's real node_modules unless node keeps the link paths.
    const node = ['--preserve-symlinks', '--preserve-symlinks-main'];
    const env = { PATH: process.env['PATH'] ?? '', OPENDCR_ADMIN_PASSWORD: 'not-the-default-password', OPENDCR_LOG_LEVEL: 'warn' };
    const check = await run([...node, 'src/cli/index.ts', '--config', join(root, 'opendcr.toml'), 'config', 'check'], { cwd: app, env });
    assert.equal(check.code, 0, check.stderr);

    const healthcheck = (path: string) => run(['deploy/docker/healthcheck.mjs', `https://127.0.0.1:${port}${path}`], { cwd: app, env });
    assert.equal((await healthcheck('/health/live')).code, 1, 'the health check fails while nothing listens');

    // The image's CMD, with the test's configuration.
    const [, ...flags] = pkg.scripts['start']!.split(/\s+/);
    child = spawn(process.execPath, [...node, ...flags, '--config', join(root, 'opendcr.toml')], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((done) => child!.once('exit', (code) => done(code)));
    let live = -1;
    for (let i = 0; i < 200 && live !== 0; i++) {
      assert.equal(child.exitCode, null, `the server exited: ${out}`);
      live = (await healthcheck('/health/live')).code;
    }
    assert.equal(live, 0, `the health check passes once the server listens: ${out}`);
    assert.equal((await healthcheck('/health/ready')).code, 0, 'ready too');
    assert.equal((await healthcheck('/no-such-endpoint')).code, 1, 'anything but 200 fails the check');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `SIGTERM stops it cleanly: ${out}`);
    assert.equal((await healthcheck('/health/live')).code, 1, 'and the check fails again');
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
});
