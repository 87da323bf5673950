/**
 * The API backend of the gateway benchmark: a tiny Node HTTP/1.1 server in its own process (so it
 * never shares an event loop with what calls it), keep-alive, answering every request with the
 * same 1 KiB JSON body. `startBackend` spawns this file; run directly, it serves on argv[2].
 */
import { spawn } from 'node:child_process';
import { request, createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cleanup, RunningChild } from './setup.ts';
import { freePort, stopChild } from './setup.ts';

export const BODY_BYTES = 1024;

/** A JSON object of exactly BODY_BYTES bytes (an OB-shaped consent, padded). */
export function backendBody(): Buffer {
  const base = {
    Data: { ConsentId: 'bench-consent-1', Status: 'Authorised', Permissions: ['ReadAccountsBasic', 'ReadAccountsDetail', 'ReadBalances'] },
    Risk: {},
    Links: { Self: 'https://bank.example/consents/bench-consent-1' },
    Meta: { TotalPages: 1 },
    Pad: '',
  };
  const pad = BODY_BYTES - Buffer.byteLength(JSON.stringify(base));
  const body = Buffer.from(JSON.stringify({ ...base, Pad: 'x'.repeat(pad) }));
  if (body.length !== BODY_BYTES) throw new Error(`backend body is ${body.length} bytes`);
  return body;
}

/** One plain GET to 127.0.0.1:`port`; status and body length. */
export function httpGet(port: number, path: string, timeoutMs = 2000): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => {
        bytes += d.length;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Spawns the backend on a free port and waits until it answers. */
export async function startBackend(cleanup: Cleanup): Promise<RunningChild & { port: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.child(child);
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-5000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`backend exited: ${out}`);
    if (performance.now() - t0 > 15_000) throw new Error(`backend not ready after 15 s: ${out}`);
    try {
      if ((await httpGet(port, '/ready')).status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(10);
  }
  return { child, pid: child.pid!, port, readyMs: performance.now() - t0, output: () => out, stop: () => stopChild(child, 5000) };
}

if (import.meta.main) {
  const body = backendBody();
  const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };
  const server = createServer((req, res) => {
    req.resume(); // drop any request body
    res.writeHead(200, headers);
    res.end(body);
  });
  // Idle connections stay open for the whole run (the callers keep pools of them).
  server.keepAliveTimeout = 600_000;
  server.headersTimeout = 601_000;
  server.requestTimeout = 0;
  server.listen(Number(process.argv[2]), '127.0.0.1');
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
