/**
 * Who may read /metrics: on the main listener only [metrics] allowed_networks (and the token when
 * set); with [metrics] port, only the separate listener serves it. Single process here; the
 * cluster (primary) side is in test/e2e/observability-cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { freePort, startTestServer } from '../helpers/server.ts';

function plainGet(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const FORBIDDEN = {
  error: 'access_denied',
  error_description: 'metrics are served only to [metrics] allowed_networks, with the [metrics] token when one is set',
};

test('the main listener refuses peers outside allowed_networks', async (t) => {
  const ts = await startTestServer({ metrics: { allowed_networks: ['10.0.0.0/8'] } });
  t.after(() => ts.close());
  const res = await ts.fetch('/metrics');
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), FORBIDDEN);
});

test('with a token, a scrape must bring it', async (t) => {
  const token = 'scrape-token-0123456789abcdef';
  const ts = await startTestServer({ metrics: { token } });
  t.after(() => ts.close());
  assert.equal((await ts.fetch('/metrics')).status, 403);
  assert.equal((await ts.fetch('/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 403);
  const ok = await ts.fetch('/metrics', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /^# HELP /m);
});

test('with [metrics] port, the separate listener serves /metrics and the main listener does not', async (t) => {
  const port = await freePort();
  const token = 'scrape-token-0123456789abcdef';
  const ts = await startTestServer({ metrics: { port, token } });
  t.after(() => ts.close());
  assert.equal((await ts.fetch('/metrics', { headers: { authorization: `Bearer ${token}` } })).status, 404);
  await ts.fetch('/health/live');
  assert.equal((await plainGet(port, '/metrics')).status, 403);
  const ok = await plainGet(port, '/metrics', { authorization: `Bearer ${token}` });
  assert.equal(ok.status, 200);
  assert.match(ok.type, /^text\/plain/);
  assert.match(ok.body, /^opendcr_http_requests_total\{route="\/health\/live",method="GET",status_class="2xx"\} 1$/m);
  assert.equal((await plainGet(port, '/other')).status, 404);
});

test('[metrics] enabled = false: no /metrics at all', async (t) => {
  const ts = await startTestServer({ metrics: { enabled: false } });
  t.after(() => ts.close());
  assert.equal((await ts.fetch('/metrics')).status, 404);
});
