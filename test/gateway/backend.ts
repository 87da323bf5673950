/**
 * A real backend for gateway tests: a plain HTTP server (on 127.0.0.1 unless told) that answers each call with
 * what it received (method, path, headers, body), or as a test tells it to (status, delay, size,
 * closing the connection). Every call is recorded, so a test can prove a refused call never
 * reached it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedCall {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestBackend {
  readonly url: string;
  readonly calls: ReceivedCall[];
  /** Set how the next calls are answered (default: 200 JSON echo). */
  behave(b: Partial<Behaviour>): void;
  close(): Promise<void>;
}

interface Behaviour {
  status: number;
  delayMs: number;
  bodyBytes: number | null;
  hangUp: boolean;
  chunked: boolean;
  headers: Record<string, string>;
}

const DEFAULT: Behaviour = { status: 200, delayMs: 0, bodyBytes: null, hangUp: false, chunked: false, headers: {} };

export async function startTestBackend(address = '127.0.0.1'): Promise<TestBackend> {
  const calls: ReceivedCall[] = [];
  let behaviour = { ...DEFAULT };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const call = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      calls.push(call);
      const b = behaviour;
      if (b.hangUp) {
        req.socket.destroy();
        return;
      }
      setTimeout(() => {
        const body =
          b.bodyBytes === null ? JSON.stringify({ Data: { received: { method: call.method, url: call.url, body: call.body } } }) : 'x'.repeat(b.bodyBytes);
        const headers = { 'content-type': 'application/json', 'x-backend': 'yes', connection: 'keep-alive', 'keep-alive': 'timeout=5', ...b.headers };
        if (b.chunked) {
          res.writeHead(b.status, headers);
          res.write(body.slice(0, 1024));
          res.end(body.slice(1024));
        } else {
          res.writeHead(b.status, { ...headers, 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }
      }, b.delayMs);
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${address}:${port}`,
    calls,
    behave(b) {
      behaviour = { ...DEFAULT, ...b };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
