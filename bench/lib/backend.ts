/**
 * The API backend of the gateway benchmark: a tiny Node HTTP/1.1 server in its own process (so it
 * never shares an event loop with what calls it), keep-alive, answering every request with the
 * same 1 KiB JSON body. `startBackend` spawns this file; run directly, it serves on argv[2].
 */
import { request, createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Cleanup, RunningChild } from './setup.ts';
import { freePort, spawnReady } from './setup.ts';

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
  const running = await spawnReady(
    'backend',
    process.execPath,
    [fileURLToPath(import.meta.url), String(port)],
    async () => (await httpGet(port, '/ready')).status === 200 || 'not ready',
    cleanup,
  );
  return { ...running, port };
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
