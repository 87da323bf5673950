/**
 * A bare Node.js mutual-TLS reverse proxy for the gateway benchmark: what Node itself costs on the
 * gateway's path, with none of our checks. node:cluster with the same number of workers as ours
 * and nginx, each an `https` server requiring a client certificate of the directory's CAs (the
 * handshake nginx and ours do), passing every request to the backend through one undici Pool per
 * worker (keep-alive, as our proxy does) and streaming its answer back. No token, no plan, no log
 * line, no metrics. `startNodeProxy` spawns this file; run directly, it takes its settings as JSON in argv[2].
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { Pool } from 'undici';
import type { Cleanup, RunningChild } from './setup.ts';
import { freePort, httpsCall, spawnReady } from './setup.ts';

interface Settings {
  readonly port: number;
  readonly backendPort: number;
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile: string;
  readonly workers: number;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded, as any proxy does. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

export async function startNodeProxy(
  opts: Omit<Settings, 'port'> & { ca: string; tls: { cert: string; key: string }; probePath: string },
  cleanup: Cleanup,
): Promise<RunningChild & { port: number }> {
  const port = await freePort();
  const settings: Settings = {
    port,
    backendPort: opts.backendPort,
    certFile: opts.certFile,
    keyFile: opts.keyFile,
    clientCaFile: opts.clientCaFile,
    workers: opts.workers,
  };
  const running = await spawnReady(
    'node proxy',
    process.execPath,
    [fileURLToPath(import.meta.url), JSON.stringify(settings)],
    async () => {
      const r = await httpsCall({ port, path: opts.probePath, ca: opts.ca, tls: opts.tls });
      return r.status === 200 || `HTTP ${r.status}`;
    },
    cleanup,
  );
  return { ...running, port };
}

if (import.meta.main) {
  const s = JSON.parse(process.argv[2]!) as Settings;
  if (cluster.isPrimary) {
    for (let i = 0; i < s.workers; i++) cluster.fork();
    cluster.on('exit', () => process.exit(1));
    process.on('SIGTERM', () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill();
      process.exit(0);
    });
  } else {
    const pool = new Pool(`http://127.0.0.1:${s.backendPort}`, { connections: 64, pipelining: 1, keepAliveTimeout: 600_000 });
    const server = createServer(
      { cert: readFileSync(s.certFile), key: readFileSync(s.keyFile), ca: readFileSync(s.clientCaFile), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
        void pool
          .request({ path: req.url ?? '/', method: (req.method ?? 'GET') as 'GET', headers, body: req.method === 'GET' || req.method === 'HEAD' ? null : req })
          .then(async (answer) => {
            const out: Record<string, string | string[]> = {};
            for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
            res.writeHead(answer.statusCode, out);
            await pipeline(answer.body, res);
          })
          .catch(() => {
            if (!res.headersSent) res.writeHead(502);
            res.end();
          });
      },
    );
    server.keepAliveTimeout = 600_000;
    server.listen(s.port, '127.0.0.1');
  }
}
