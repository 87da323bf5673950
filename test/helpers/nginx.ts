/**
 * Debian's nginx as a test peer: an ordinary reverse-proxy tier in front of per-API services, the
 * way banks put one behind a gateway. Run as a child process with its own configuration, pid,
 * logs and temp paths in a temp folder. `nginxBinary()` is undefined where nginx is not installed
 * (.ci/run installs it): callers skip then, or fail under CI=true.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function nginxBinary(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

export interface RunningNginx {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

/** Starts nginx listening on 127.0.0.1:`port` with `server` as the body of its one server block. */
export async function startNginx(bin: string, port: number, server: string): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'opendcr-nginx-'));
  mkdirSync(join(dir, 'tmp'));
  const p = (f: string) => JSON.stringify(join(dir, f));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
pid ${p('nginx.pid')};
error_log ${p('error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${p('tmp/body')};
  proxy_temp_path ${p('tmp/proxy')};
  fastcgi_temp_path ${p('tmp/fastcgi')};
  uwsgi_temp_path ${p('tmp/uwsgi')};
  scgi_temp_path ${p('tmp/scgi')};
  server {
    listen 127.0.0.1:${port};
${server}
  }
}
`,
  );
  const child: ChildProcess = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${err}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) {
      return {
        port,
        url: `http://127.0.0.1:${port}`,
        async close() {
          child.kill('SIGTERM');
          await exited;
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    await sleep(25);
  }
  child.kill('SIGKILL');
  throw new Error(`nginx did not listen on ${port}: ${err}`);
}
