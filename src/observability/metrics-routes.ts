/**
 * Where /metrics is served: on the main listener (default) only to [metrics] allowed_networks, or
 * on a separate plain-HTTP listener ([metrics] port, an internal interface); on either, with the
 * [metrics] token as a bearer credential when one is set. The text is the whole server's.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { fail } from '../errors/app-error.ts';
import { safeEqual } from '../crypto/compare.ts';
import { createPeerMatcher } from '../http/trusted-peer.ts';
import { METRICS_CONTENT_TYPE } from './metrics.ts';

/** True when the request carries the configured token (or none is configured). */
function tokenAccepted(config: Config, authorization: string | undefined): boolean {
  const token = config.metrics.token;
  if (token === undefined) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return m !== null && safeEqual(m[1]!, token);
}

const FORBIDDEN = 'metrics are served only to [metrics] allowed_networks, with the [metrics] token when one is set';

/** GET /metrics on the main listener. */
export function metricsRoutes(deps: { config: Config; text: () => Promise<string> }) {
  const allowed = createPeerMatcher(deps.config.metrics.allowed_networks);
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.get('/metrics', async (req, reply) => {
      if (!allowed(req.raw.socket.remoteAddress) || !tokenAccepted(deps.config, req.headers.authorization)) throw fail('METRICS_FORBIDDEN', FORBIDDEN);
      const text = await deps.text();
      return reply.header('cache-control', 'no-store').type(METRICS_CONTENT_TYPE).send(text);
    });
  };
}

/** The separate metrics listener: GET /metrics, nothing else. Resolves once it listens. */
export async function startMetricsListener(deps: {
  config: Config;
  logger: Logger;
  text: () => Promise<string>;
}): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const { bind_address: host, port } = deps.config.metrics;
  const send = (res: import('node:http').ServerResponse, status: number, type: string, body: string) => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(body);
  };
  const error = (error: string, description: string) => JSON.stringify({ error, error_description: description });
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req: IncomingMessage, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') return send(res, 404, 'application/json', error('not_found', 'no such endpoint'));
    if (!tokenAccepted(deps.config, req.headers.authorization)) return send(res, 403, 'application/json', error('access_denied', FORBIDDEN));
    deps.text().then(
      (text) => send(res, 200, METRICS_CONTENT_TYPE, text),
      (err: unknown) => {
        deps.logger.warn({ err }, 'metrics could not be collected');
        send(res, 503, 'application/json', error('temporarily_unavailable', 'metrics could not be collected; try again'));
      },
    );
    return undefined;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  deps.logger.info({ address: `${host}:${bound}` }, 'metrics listener ready');
  return { server, port: bound, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
