/**
 * The request front's own CPU per request, isolated from load-test noise: the front listener
 * (ids, interaction id header, trace context, metrics, access-log line written synchronously to a
 * file) around an empty handler, and the storage instrumentation around a no-op store call, each
 * run many times in this process. Compare with a token's server CPU from bench/front.ts or
 * `npm run bench` (row 1).
 *
 * Usage: node_modules/.bin/node bench/front-micro.ts [iterations=200000]
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger } from '../src/logger.ts';
import { createFront } from '../src/http/front.ts';
import { processMetrics } from '../src/observability/metrics.ts';
import { instrumentStorage } from '../src/observability/instrument-storage.ts';
import type { Storage } from '../src/storage/ports.ts';

const N = Number(process.argv[2] ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'opendcr-front-micro-'));
try {
  const logger = createLogger('info', pino.destination({ dest: join(dir, 'access.log'), sync: true }) as unknown as NodeJS.WritableStream);
  const metrics = processMetrics();
  const observe = (ctx: { route: string | undefined; method: string; code: string | undefined }, status: number, seconds: number) =>
    metrics.request(ctx.route ?? '(unmatched)', ctx.method, status, seconds, ctx.code);
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    res.emit('close');
  };
  const front = createFront(handler, { logger, observe });
  const headers = { 'x-fapi-interaction-id': '9d4b2f3a-1c1e-4b8e-9a55-0d1f1c2b3a4d', 'content-type': 'application/x-www-form-urlencoded' };
  const once = () => {
    const req = Object.assign(new EventEmitter(), { method: 'POST', url: '/oauth2/token', headers }) as unknown as IncomingMessage;
    const res = Object.assign(new EventEmitter(), { setHeader() {}, headersSent: true, statusCode: 200, writableFinished: true }) as unknown as ServerResponse;
    front(req, res);
  };
  const bare = () => {
    const req = Object.assign(new EventEmitter(), { method: 'POST', url: '/oauth2/token', headers }) as unknown as IncomingMessage;
    const res = Object.assign(new EventEmitter(), { setHeader() {}, headersSent: true, statusCode: 200, writableFinished: true }) as unknown as ServerResponse;
    handler(req, res);
  };
  const time = (fn: () => void) => {
    for (let i = 0; i < N / 10; i++) fn();
    const t = process.cpuUsage();
    for (let i = 0; i < N; i++) fn();
    const d = process.cpuUsage(t);
    return (d.user + d.system) / N;
  };
  const frontUs = time(once) - time(bare);

  const noop = async () => undefined;
  const store = { find: noop, upsert: noop, remember: async () => true, has: async () => false };
  const raw = { kind: 'sqlite', oidc: store, replay: store, keys: store, scopes: store, meta: store, registrations: store, audit: store } as unknown as Storage;
  const instrumented = instrumentStorage(raw, metrics);
  const calls = async (s: Storage) => {
    const t = process.cpuUsage();
    for (let i = 0; i < N; i++) await s.oidc.find('Client', 'x');
    const d = process.cpuUsage(t);
    return (d.user + d.system) / N;
  };
  await calls(instrumented);
  const storageUs = (await calls(instrumented)) - (await calls(raw));

  process.stdout.write(
    [
      `# Request front, isolated (${N} iterations, CPU time)`,
      '',
      '| part | CPU per request |',
      '| --- | ---: |',
      `| front: ids, interaction id, trace context, metrics, access-log line written to a file | ${frontUs.toFixed(1)} µs |`,
      `| storage instrumentation, per storage call (a token request makes 3) | ${storageUs.toFixed(1)} µs |`,
      `| total per token request | ${(frontUs + 3 * storageUs).toFixed(1)} µs |`,
      '',
    ].join('\n'),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
