/**
 * nginx as a plain mutual-TLS reverse proxy, the reference of the gateway benchmark: Debian's
 * `nginx` package (installed with apt-get when it is not on PATH), run as a child process with its
 * own configuration, pid and logs in a temp folder (access log off). It listens with TLS on a free
 * port with our server's certificate and key, requires a client certificate chained to the given
 * CAs, and passes every request to the backend over an upstream keep-alive pool. Nothing else.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cleanup, RunningChild, TlsIdentity } from './setup.ts';
import { freePort, httpsCall, spawnReady } from './setup.ts';

function onPath(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v "$0"', cmd], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Runs a command with its output on our stderr; rejects on a non-zero exit. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 2, 2], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}`))));
  });
}

/** The nginx binary, installing Debian's package first when there is none; and its version line. */
export async function ensureNginx(log: (line: string) => void): Promise<{ bin: string; version: string }> {
  let bin = onPath('nginx') ?? onPath('/usr/sbin/nginx');
  if (!bin) {
    log('nginx is not installed: apt-get update && apt-get install -y nginx');
    await run('apt-get', ['update']);
    await run('apt-get', ['install', '-y', 'nginx']);
    bin = onPath('nginx') ?? onPath('/usr/sbin/nginx');
    if (!bin) throw new Error('apt-get installed nginx, but there is no nginx binary');
  }
  // `nginx -v` prints its version to stderr.
  const version = execFileSync('sh', ['-c', '"$0" -v 2>&1', bin], { encoding: 'utf8' }).trim();
  return { bin, version };
}

export interface NginxOptions {
  bin: string;
  /** Temp folder for the configuration, pid, logs and nginx's temp paths. */
  dir: string;
  backendPort: number;
  /** PEM files: the server certificate chain and key (ours), the CAs client certificates must chain to. */
  certFile: string;
  keyFile: string;
  clientCaFile: string;
  workers: number;
  /** For the readiness probe: the server CA and a client identity. */
  ca: string;
  tls: TlsIdentity;
}

/** nginx.conf: TLS with a required client certificate, proxy_pass with an upstream keep-alive pool. */
export function nginxConfig(o: NginxOptions, port: number): string {
  const p = (f: string) => JSON.stringify(join(o.dir, f));
  return `daemon off;
master_process on;
worker_processes ${o.workers};
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${p('tmp/body')};
  proxy_temp_path ${p('tmp/proxy')};
  fastcgi_temp_path ${p('tmp/fastcgi')};
  uwsgi_temp_path ${p('tmp/uwsgi')};
  scgi_temp_path ${p('tmp/scgi')};
  keepalive_timeout 600s;
  keepalive_requests 100000000;
  upstream backend {
    server 127.0.0.1:${o.backendPort};
    keepalive 64;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
  }
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${JSON.stringify(o.certFile)};
    ssl_certificate_key ${JSON.stringify(o.keyFile)};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_client_certificate ${JSON.stringify(o.clientCaFile)};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** Starts nginx on a free port and waits until a mutual-TLS GET comes back 200 from the backend. */
export async function startNginx(o: NginxOptions, cleanup: Cleanup): Promise<RunningChild & { port: number }> {
  const port = await freePort();
  mkdirSync(join(o.dir, 'tmp'), { recursive: true });
  const conf = join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(o, port));
  // -e: the error log from the first line on (not the package's /var/log/nginx); -p: the prefix.
  // SIGTERM is nginx's fast shutdown: the master stops its workers and exits.
  const running = await spawnReady(
    'nginx',
    o.bin,
    ['-e', join(o.dir, 'error.log'), '-p', o.dir, '-c', conf],
    async () => {
      const r = await httpsCall({ port, path: '/ready', ca: o.ca, tls: o.tls, timeoutMs: 1000 });
      return r.status === 200 || `HTTP ${r.status}`;
    },
    cleanup,
  );
  return { ...running, port };
}
