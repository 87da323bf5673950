#!/usr/bin/env node
/**
 * Container health check: GET one of OpenDCR's health endpoints on this host; exit 0 when it
 * answers 200, 1 otherwise (not listening, refused, 503 while storage is unreachable or the
 * server is shutting down, no answer within 4 s). Used by the Dockerfile's HEALTHCHECK and the
 * compose file; Kubernetes probes the same endpoints itself.
 *
 *   node deploy/docker/healthcheck.mjs [URL]    default https://127.0.0.1:8443/health/live
 *
 * The server certificate is not verified: it is issued for the public host name, not for
 * 127.0.0.1, and this only asks the local process whether it answers. Nothing is sent but the
 * request line.
 */
import { request } from 'node:https';

const url = new URL(process.argv[2] ?? 'https://127.0.0.1:8443/health/live');
if (url.protocol !== 'https:') {
  process.stderr.write(`healthcheck: ${url.href}: OpenDCR listens on HTTPS only\n`);
  process.exit(2);
}
const req = request(url, { method: 'GET', rejectUnauthorized: false, agent: false, timeout: 4000 }, (res) => {
  res.resume();
  if (res.statusCode === 200) process.exit(0);
  process.stderr.write(`healthcheck: ${url.href} answered ${res.statusCode}\n`);
  process.exit(1);
});
req.on('timeout', () => req.destroy(new Error('no answer within 4 s')));
req.on('error', (err) => {
  process.stderr.write(`healthcheck: ${url.href}: ${err.message}\n`);
  process.exit(1);
});
req.end();
