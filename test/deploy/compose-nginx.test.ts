/**
 * The compose file's nginx configuration, run for real where nginx is installed (Debian's nginx;
 * skipped elsewhere, and CI does not install it): `nginx -t` accepts it, and in front of two
 * local OpenDCR instances started with the compose's opendcr.toml it terminates TLS, forwards the
 * TPP's certificate so that the instances accept it, drops a certificate header a client sends
 * itself, and reaches the instances' health endpoints. What Docker would provide is replaced on
 * loopback: the service names become 127.0.0.1 ports, the load balancer's address 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeCerts } from '../../deploy/compose/make-certs.ts';
import { createCertificateAuthority, issueClientCertificate } from '../../src/crypto/pki.ts';
import { freePort, repoPath } from './support.ts';

function which(cmd: string): Promise<string | undefined> {
  return new Promise((done) => execFile('sh', ['-c', `command -v ${cmd}`], (err, out) => done(err ? undefined : out.trim())));
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '' }): Promise<{ code: number; out: string }> {
  return new Promise((done) =>
    execFile(file, args, { env, timeout: 60_000 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout + stderr }),
    ),
  );
}

interface Answer {
  status: number;
  body: string;
}
function send(
  port: number,
  ca: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; cert?: string; key?: string } = {},
): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? 'GET',
        servername: 'localhost',
        ca,
        agent: false,
        headers: opts.headers,
        ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', fail);
    req.end(opts.body);
  });
}

test('nginx with the compose configuration forwards TPP certificates to two instances that accept them', async (t) => {
  const nginx = await which('nginx');
  if (!nginx) {
    t.skip('nginx is not installed (apt-get install nginx); the compose tests check its configuration statically');
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'opendcr-nginx-'));
  const children: ChildProcess[] = [];
  try {
    const certs = join(root, 'certs');
    await makeCerts({ host: 'localhost', out: certs, validityDays: 2 });
    const ca = await createCertificateAuthority({ subject: 'CN=TPP Issuing CA', validityDays: 2 });
    const tpp = await issueClientCertificate(ca, { subject: 'C=GB, O=OpenBanking, OU=0015800001041RbAAI, CN=abc123', validityDays: 2 });
    const stranger = await issueClientCertificate(await createCertificateAuthority({ subject: 'CN=Unknown CA', validityDays: 2 }), {
      subject: 'CN=stranger',
      validityDays: 2,
    });
    mkdirSync(join(root, 'truststore'));
    writeFileSync(join(root, 'truststore', 'tpp-ca.pem'), ca.certPem);
    const internalCa = readFileSync(join(certs, 'internal-ca.pem'), 'utf8');

    // The instances: the compose's opendcr.toml, on loopback, with the load balancer at 127.0.0.1.
    const toml = readFileSync(repoPath('deploy', 'compose', 'opendcr.toml'), 'utf8');
    const local =
      toml
        .replace('"/etc/opendcr/tls/server.pem"', JSON.stringify(join(certs, 'opendcr.pem')))
        .replace('"/etc/opendcr/tls/server-key.pem"', JSON.stringify(join(certs, 'opendcr-key.pem')))
        .replace(/^bind_address = "0\.0\.0\.0"/m, 'bind_address = "127.0.0.1"')
        .replace(/^workers = \d+/m, 'workers = 1')
        .replace(/^trusted_proxies = \[.*\]$/m, 'trusted_proxies = ["127.0.0.1"]')
        .replace(/\n\[metrics\][\s\S]*$/, '\n') + // two instances on one host cannot share the metrics port
      `\n[truststore]\ndir = ${JSON.stringify(join(root, 'truststore'))}\n`;
    assert.notEqual(local, toml);
    assert.match(local, /client_certificate_header = "x-ssl-client-cert"/);
    writeFileSync(join(root, 'opendcr.toml'), local);
    const lbPort = await freePort();
    const ports = [await freePort(), await freePort()];
    let out = '';
    for (const [i, port] of ports.entries()) {
      mkdirSync(join(root, `data${i}`));
      const child = spawn(process.execPath, [repoPath('src', 'main.ts'), '--config', join(root, 'opendcr.toml')], {
        env: {
          PATH: process.env['PATH'] ?? '',
          OPENDCR_PORT: String(port),
          OPENDCR_DATA_DIR: join(root, `data${i}`),
          OPENDCR_DATABASE_URL: `sqlite:${join(root, 'shared.db')}`,
          OPENDCR_ADMIN_PASSWORD: 'a-long-test-password',
          OPENDCR_BASE_URL: `https://localhost:${lbPort}`,
          OPENDCR_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.stderr!.on('data', (c: Buffer) => {
        out += c.toString();
      });
      children.push(child);
    }

    // nginx: the compose's file with the container paths, service names and port made local.
    const conf = readFileSync(repoPath('deploy', 'compose', 'nginx', 'nginx.conf'), 'utf8')
      .replaceAll('/etc/nginx/tls/', `${certs}/`)
      .replace('opendcr-1:8443', `127.0.0.1:${ports[0]}`)
      .replace('opendcr-2:8443', `127.0.0.1:${ports[1]}`)
      .replace(/^user nginx;$/m, '')
      .replace('/var/run/nginx.pid', join(root, 'nginx.pid'))
      .replace('listen 443 ssl;', `listen 127.0.0.1:${lbPort} ssl;`)
      // Node gives children sockets, not pipes, for stdout/stderr, and /dev/stderr cannot be opened on a socket.
      .replace('error_log /dev/stderr', `error_log ${join(root, 'nginx-error.log')}`)
      .replace('access_log /dev/stdout', `access_log ${join(root, 'nginx-access.log')}`);
    for (const gone of ['/etc/nginx/tls/', 'opendcr-1:', 'opendcr-2:', 'listen 443', '/dev/std']) assert.ok(!conf.includes(gone), `${gone} replaced`);
    writeFileSync(join(root, 'nginx.conf'), conf);
    const args = ['-p', root, '-c', join(root, 'nginx.conf'), '-e', join(root, 'nginx-error.log')];
    const syntax = await run(nginx, ['-t', ...args]);
    assert.equal(syntax.code, 0, `nginx -t: ${syntax.out}`);

    // Wait (bounded) for both instances to answer on their own ports.
    for (const port of ports) {
      let status = 0;
      for (let i = 0; i < 200 && status !== 200; i++) {
        assert.ok(
          children.every((c) => c.exitCode === null),
          `an instance exited: ${out}`,
        );
        status = await send(port, internalCa, '/health/ready').then(
          (a) => a.status,
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200, `instance on ${port} ready: ${out}`);
    }
    const lb = spawn(nginx, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(lb);
    let lbOut = '';
    lb.stderr!.on('data', (c: Buffer) => {
      lbOut += c.toString();
    });
    let ready: Answer | undefined;
    for (let i = 0; i < 200 && ready?.status !== 200; i++) {
      assert.equal(lb.exitCode, null, `nginx exited: ${lbOut}`);
      ready = await send(lbPort, internalCa, '/health/ready').catch(() => undefined);
      if (ready?.status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(ready?.status, 200, 'readiness through the load balancer, over TLS checked against the internal CA');

    const register = (extra: { headers?: Record<string, string>; cert?: string; key?: string }) =>
      send(lbPort, internalCa, '/open-banking/v3.3/register', {
        method: 'POST',
        body: 'not a JWT',
        ...extra,
        headers: { 'content-type': 'text/plain', ...extra.headers },
      });
    // With the TPP's certificate, registration gets past the certificate to the next check (the media type).
    const withCert = await register({ cert: tpp.certPem, key: tpp.keyPem });
    assert.equal(withCert.status, 400, withCert.body);
    assert.match(withCert.body, /Content-Type must be application\/jose/);
    // Without one, it is refused for the certificate.
    const without = await register({});
    assert.equal(without.status, 401, without.body);
    assert.match(without.body, /client \(transport\) certificate/);
    // A client sending the header itself gets nothing from it: nginx replaces it.
    const forged = await register({ headers: { 'x-ssl-client-cert': encodeURIComponent(tpp.certPem) } });
    assert.equal(forged.status, 401, forged.body);
    // A certificate from a CA the instances do not trust is refused by them (nginx does not check).
    const untrusted = await register({ cert: stranger.certPem, key: stranger.keyPem });
    assert.equal(untrusted.status, 401, untrusted.body);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    rmSync(root, { recursive: true, force: true });
  }
});
