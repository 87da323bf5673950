/**
 * What an operator sees, against the server as `npm start` runs it (a primary and two worker
 * processes): /metrics aggregated across the workers, with exact deltas after known traffic; the
 * interaction id on every error of every route; access-log lines without secrets; traceparent in
 * the logs; liveness and readiness probes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { Agent, fetch as undiciFetch } from 'undici';
import { jsonBody, startDcrEnvironment, tlsOf, type DcrEnvironment } from '../helpers/dcr.ts';
import { GATEWAY, type ClusterTestServer } from '../helpers/server.ts';

let env: DcrEnvironment<ClusterTestServer>;
before(async () => {
  env = await startDcrEnvironment({ log: { level: 'info' } }, { workers: 2 });
});
after(() => env?.close());

/**
 * GET /metrics on a connection of its own (so successive scrapes may land on either worker),
 * parsed into "name{labels}" → value.
 */
async function scrape(): Promise<Map<string, number>> {
  const agent = new Agent({ connect: { ca: env.ts.caPem }, pipelining: 0 });
  try {
    const res = await undiciFetch(new URL('/metrics', env.url), { dispatcher: agent, headers: { connection: 'close' } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      out.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
    return out;
  } finally {
    await agent.close();
  }
}

const delta = (a: Map<string, number>, b: Map<string, number>, key: string) => (b.get(key) ?? 0) - (a.get(key) ?? 0);

/** A request on a new connection (`Connection: close`), so a run of them spreads over both workers. */
async function fresh(path: string, init: Parameters<typeof undiciFetch>[1] & { cert?: { certPem: string; keyPem: string } } = {}): Promise<Response> {
  const { cert, ...rest } = init;
  const agent = new Agent({ connect: { ca: env.ts.caPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) } });
  try {
    const res = await undiciFetch(new URL(path, env.url), {
      ...rest,
      dispatcher: agent,
      headers: { ...(rest.headers as Record<string, string> | undefined), connection: 'close' },
    });
    const body = await res.arrayBuffer();
    return new Response(res.status === 204 ? null : body, { status: res.status, headers: res.headers as unknown as Headers });
  } finally {
    await agent.close();
  }
}

describe('/metrics', () => {
  test('counts known traffic exactly, whichever worker answers the scrape', async () => {
    const tpp = env.aispPisp;
    const clientId = String((await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201))['client_id']);
    const before = await scrape();
    // Scrapes after only scrapes agree: the numbers do not depend on the worker.
    const again = await scrape();
    assert.equal(delta(before, again, 'opendcr_tokens_issued_total{grant_type="client_credentials",auth_method="private_key_jwt"}'), 0);

    for (let i = 0; i < 6; i++) assert.equal((await fresh('/health/live')).status, 200);
    for (let i = 0; i < 5; i++) {
      const res = await env.tokenResponse(tpp, clientId, 'private_key_jwt', { scope: 'accounts' });
      assert.equal(res.status, 200);
    }
    for (let i = 0; i < 3; i++) {
      const res = await env.register(tpp, await env.validRequestClaims(tpp), { sign: { kid: null } });
      assert.equal(res.status, 400);
    }
    assert.equal((await fresh('/no/such/route')).status, 404);

    const after = await scrape();
    assert.equal(delta(before, after, 'opendcr_http_requests_total{route="/health/live",method="GET",status_class="2xx"}'), 6);
    assert.equal(delta(before, after, 'opendcr_http_request_duration_seconds_count{route="/health/live",method="GET"}'), 6);
    assert.equal(delta(before, after, 'opendcr_tokens_issued_total{grant_type="client_credentials",auth_method="private_key_jwt"}'), 5);
    assert.equal(delta(before, after, 'opendcr_http_requests_total{route="/oauth2/token",method="POST",status_class="2xx"}'), 5);
    assert.equal(delta(before, after, 'opendcr_dcr_requests_total{operation="register",outcome="rejected",code="REQUEST_KID_MISSING"}'), 3);
    assert.equal(delta(before, after, 'opendcr_http_errors_total{route="/open-banking/:version/register",code="REQUEST_KID_MISSING"}'), 3);
    assert.equal(delta(before, after, 'opendcr_http_requests_total{route="(not found)",method="GET",status_class="4xx"}'), 1);
    // Two scrapes since `before` were counted too (a scrape counts when it has been answered).
    assert.equal(delta(before, after, 'opendcr_http_requests_total{route="/metrics",method="GET",status_class="2xx"}'), 2);
    assert.ok((after.get('opendcr_storage_operation_duration_seconds_count{operation="shared.remember"}') ?? 0) > 0);
    assert.ok((after.get(`opendcr_jwks_requests_total{host="${new URL(tpp.ssaClaims.software_jwks_endpoint).host}",result="hit"}`) ?? 0) > 0);
    assert.ok((after.get('process_resident_memory_bytes') ?? 0) > 0, 'process metrics');
    assert.ok(after.has('nodejs_eventloop_lag_seconds'), 'event-loop lag');
    // Labels never carry client ids or raw paths.
    assert.ok(![...after.keys()].some((k) => k.includes(clientId) || k.includes('/no/such/route')));
  });

  test('a token request reads its client from storage once and records its assertion in the shared state once', async () => {
    const tpp = env.cbpii;
    const clientId = String((await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201))['client_id']);
    const before = await scrape();
    for (let i = 0; i < 4; i++) assert.equal((await env.tokenResponse(tpp, clientId, 'private_key_jwt')).status, 200);
    const after = await scrape();
    // The request guard reads the client (to check its certificate) and hands the record to the provider.
    assert.equal(delta(before, after, 'opendcr_storage_operation_duration_seconds_count{operation="oidc.find"}'), 4);
    assert.equal(delta(before, after, 'opendcr_storage_operation_duration_seconds_count{operation="shared.remember"}'), 4);
  });

  test('a replayed client assertion is counted as a replay rejection', async () => {
    const tpp = env.cbpii;
    const clientId = String((await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201))['client_id']);
    const before = await scrape();
    const { SignJWT } = await import('jose');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'PS256', kid: tpp.signingKey.kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(`${env.url}/oauth2/token`)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(tpp.signingKey.key);
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }).toString();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push(
        (await fresh('/oauth2/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, cert: tlsOf(tpp.transport) }))
          .status,
      );
    }
    assert.deepEqual(statuses, [200, 401, 401]);
    const after = await scrape();
    assert.equal(delta(before, after, 'opendcr_replay_rejections_total{kind="client_assertion"}'), 2);
    assert.equal(delta(before, after, 'opendcr_http_errors_total{route="/oauth2/token",code="oauth:invalid_client"}'), 2);
  });

  test('only allowed networks may scrape the main listener', async () => {
    // The harness connects from 127.0.0.1, which the default allows; a configured token would be required on top.
    const res = await fresh('/metrics', { headers: { authorization: 'Bearer whatever' } });
    assert.equal(res.status, 200);
  });
});

describe('the interaction id', () => {
  test('is on every error response of every route, echoed when the client sent a valid one', async () => {
    const tpp = env.aispPisp;
    const cert = tlsOf(tpp.transport);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const basic = `Basic ${Buffer.from(`${GATEWAY.client_id}:wrong-secret-0123456789`).toString('base64')}`;
    const cases: Array<[string, { method?: string; headers?: Record<string, string>; body?: string; cert?: typeof cert }, number]> = [
      ['/oauth2/token', { method: 'POST', headers: form, body: 'grant_type=client_credentials&client_id=nobody', cert }, 401],
      ['/oauth2/token', { method: 'GET' }, 404],
      ['/oauth2/introspect', { method: 'POST', headers: { ...form, authorization: basic }, body: 'token=x' }, 401],
      ['/oauth2/revoke', { method: 'POST', headers: form, body: 'token=x' }, 400],
      ['/oauth2/par', { method: 'POST', headers: form, body: 'client_id=nobody', cert }, 401],
      ['/oauth2/userinfo', {}, 401],
      ['/oauth2/authorize?client_id=nobody', {}, 400],
      ['/open-banking/v3.3/register', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x', cert }, 400],
      ['/open-banking/v3.3/register/some-client', { method: 'GET', cert }, 401],
      ['/open-banking/v9/register', { method: 'POST', cert }, 404],
      ['/open-banking/v3.3/register', { method: 'GET', cert }, 405],
      [`/open-banking/v3.3/register/${'x'.repeat(200)}`, { cert }, 414],
      ['/open-banking/v3.3/register/%zz', { cert }, 400],
      ['/api/identity/oauth2/v1.0/scopes', {}, 401],
      ['/api-docs/open-banking/v9/dcr-openapi.json', {}, 404],
      ['/no/such/route', {}, 404],
    ];
    for (const [path, init, status] of cases) {
      for (const given of [undefined, randomUUID()]) {
        const res = await env.ts.fetch(path, { ...init, headers: { ...init.headers, ...(given ? { 'x-fapi-interaction-id': given } : {}) } });
        await res.arrayBuffer();
        assert.equal(res.status, status, `${path}`);
        const id = res.headers.get('x-fapi-interaction-id');
        if (given) assert.equal(id, given, `${path}: echoed`);
        else assert.match(id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, `${path}: generated`);
      }
    }
    // An invalid one is replaced, not echoed.
    const res = await env.ts.fetch('/no/such/route', { headers: { 'x-fapi-interaction-id': 'not valid!' } });
    assert.notEqual(res.headers.get('x-fapi-interaction-id'), 'not valid!');
  });

  test('is on the answer to a request the HTTP parser refuses', async () => {
    const { port } = new URL(env.url);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), servername: 'localhost', ca: env.ts.caPem }, () => socket.write('GARBAGE\r\n\r\n'));
      let out = '';
      socket.on('data', (d: Buffer) => {
        out += d.toString();
      });
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.match(raw, /\r\nx-fapi-interaction-id: [0-9a-f-]{36}\r\n/);
  });
});

describe('logs', () => {
  test('one access line per token request, with route, status, client and ids, and no assertion, token or secret', async () => {
    const tpp = env.aispPisp;
    const clientId = String((await jsonBody(await env.register(tpp, await env.validRequestClaims(tpp)), 201))['client_id']);
    const interactionId = randomUUID();
    const traceId = randomUUID().replaceAll('-', '');
    const res = await env.ts.fetch('/oauth2/token', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-fapi-interaction-id': interactionId,
        traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await signedAssertion(clientId),
      }).toString(),
      cert: tlsOf(tpp.transport),
    });
    const token = String((await jsonBody(res, 200))['access_token']);
    // Introspection with the gateway's secret: its line must not carry the secret either.
    const introspected = await env.introspect(token);
    assert.equal(introspected['active'], true, 'JWT access tokens introspect through the verifier');
    const lines = await logLinesUntil((l) => l['interaction_id'] === interactionId && l['msg'] === 'request');
    const line = lines.find((l) => l['interaction_id'] === interactionId && l['msg'] === 'request')!;
    assert.deepEqual(
      Object.keys(line).sort(),
      [
        'client_id',
        'component',
        'duration_ms',
        'interaction_id',
        'level',
        'method',
        'msg',
        'pid',
        'request_id',
        'route',
        'service',
        'span_id',
        'status',
        'time',
        'trace_id',
      ].sort(),
    );
    assert.equal(line['route'], '/oauth2/token');
    assert.equal(line['status'], 200);
    assert.equal(line['client_id'], clientId);
    assert.equal(line['trace_id'], traceId);
    const output = env.ts.output();
    for (const secret of [token, lastAssertion!, GATEWAY.client_secret, Buffer.from(`${GATEWAY.client_id}:${GATEWAY.client_secret}`).toString('base64')]) {
      assert.equal(output.includes(secret), false, 'no token, assertion or secret in the logs');
    }
  });

  test('a DCR rejection is logged at info with its code and the request ids', async () => {
    const tpp = env.cbpii;
    const interactionId = randomUUID();
    const res = await env.ts.fetch('/open-banking/v3.3/register', {
      method: 'POST',
      headers: { 'content-type': 'application/jose', 'x-fapi-interaction-id': interactionId },
      body: Buffer.from(await tpp.signRequest(await env.validRequestClaims(tpp), { kid: null })),
      cert: tlsOf(tpp.transport),
    });
    assert.equal(res.status, 400);
    const lines = await logLinesUntil((l) => l['interaction_id'] === interactionId && l['msg'] === 'registration request rejected');
    const line = lines.find((l) => l['interaction_id'] === interactionId && l['msg'] === 'registration request rejected')!;
    assert.equal(line['level'], 'info');
    assert.equal(line['code'], 'REQUEST_KID_MISSING');
    assert.equal(line['operation'], 'register');
    assert.equal(line['software_id'], tpp.softwareId);
  });
});

describe('health', () => {
  test('/health/live and /health/ready answer as probes expect; the old paths stay', async () => {
    assert.deepEqual(await jsonBody(await env.ts.fetch('/health/live'), 200), { status: 'ok' });
    assert.deepEqual(await jsonBody(await env.ts.fetch('/health/ready'), 200), { status: 'ready', storage: 'sqlite', shared_state: 'embedded' });
    assert.deepEqual(await jsonBody(await env.ts.fetch('/health'), 200), { status: 'ok' });
    assert.deepEqual(await jsonBody(await env.ts.fetch('/ready'), 200), { status: 'ready', storage: 'sqlite', shared_state: 'embedded' });
  });
});

let lastAssertion: string | undefined;
async function signedAssertion(clientId: string): Promise<string> {
  const { SignJWT } = await import('jose');
  lastAssertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'PS256', kid: env.aispPisp.signingKey.kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(`${env.url}/oauth2/token`)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(env.aispPisp.signingKey.key);
  return lastAssertion;
}

/** The JSON log lines the server has printed, once one matches (bounded wait: lines are written synchronously, but by another process). */
async function logLinesUntil(match: (line: Record<string, unknown>) => boolean): Promise<Array<Record<string, unknown>>> {
  for (let i = 0; i < 100; i++) {
    const lines = env.ts
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    if (lines.some(match)) return lines;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail('the expected log line was not written');
}

describe('with a separate metrics listener ([metrics] port)', () => {
  let separate: DcrEnvironment<ClusterTestServer>;
  let port: number;
  before(async () => {
    const { freePort } = await import('../helpers/server.ts');
    port = await freePort();
    separate = await startDcrEnvironment({ metrics: { port } }, { workers: 2 });
  });
  after(() => separate?.close());

  test("the primary serves the whole cluster's metrics there, and the main listener has no /metrics", async () => {
    const scrapeSeparate = async () => {
      const res = await undiciFetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      const m = /^opendcr_http_requests_total\{route="\/health\/live",method="GET",status_class="2xx"\} (\d+)$/m.exec(text);
      return m ? Number(m[1]) : 0;
    };
    const before = await scrapeSeparate();
    // New connections: both workers serve some of them.
    for (let i = 0; i < 8; i++) {
      const agent = new Agent({ connect: { ca: separate.ts.caPem } });
      const res = await undiciFetch(new URL('/health/live', separate.url), { dispatcher: agent });
      await res.arrayBuffer();
      await agent.close();
      assert.equal(res.status, 200);
    }
    assert.equal((await scrapeSeparate()) - before, 8);
    assert.equal((await separate.ts.fetch('/metrics')).status, 404);
  });
});
