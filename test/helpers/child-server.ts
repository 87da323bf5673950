/**
 * Runs `node src/main.ts` as a real child process (what `npm start` does) and waits for /ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ChildServer {
  child: ChildProcess;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function httpsGet(port: number, path: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername: 'localhost', ...(ca ? { ca } : { rejectUnauthorized: false }), agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Starts the server in `cwd` with `args`; resolves once GET /ready answers 200 (bounded wait).
 * `script` runs another entry point instead of src/main.ts (e.g. the CLI with `start` in `args`).
 */
export async function startChildServer(opts: { cwd: string; port: number; args?: string[]; env?: NodeJS.ProcessEnv; script?: string }): Promise<ChildServer> {
  const child = spawn(process.execPath, [opts.script ?? new URL('../../src/main.ts', import.meta.url).pathname, ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: { ...process.env, OPENDCR_CONFIG: '', OPENDCR_PORT: String(opts.port), OPENDCR_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${out}`);
    try {
      if ((await httpsGet(opts.port, '/ready')).status === 200) {
        return {
          child,
          output: () => out,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
        };
      }
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`server did not become ready: ${out}`);
}
